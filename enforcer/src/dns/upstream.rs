//! Asks the node's resolvers on a task's behalf.
//!
//! Each question is a query of our own, not the task's: a random ID from a CSPRNG and a fresh
//! socket on a random ephemeral port, so an off-path attacker must guess both to slip in a
//! forged answer, and nothing of the task's message but its name and type leaves the node.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::ProtoError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

use super::screen::EDNS_PAYLOAD;

/// The largest reply taken, the most a TCP length prefix can announce.
const MAX_REPLY_LEN: usize = 65535;

/// The node's resolvers, asked in order.
#[derive(Debug, Clone)]
pub struct Upstream {
    servers: Vec<SocketAddr>,
    /// How long one [`Upstream::ask`] may take in all.
    timeout: Duration,
}

/// Why no upstream answered.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no upstream DNS server is configured")]
    NoServers,
    #[error("cannot encode the DNS query: {0}")]
    Encode(#[from] ProtoError),
    #[error("upstream DNS server {server} did not answer in time")]
    Timeout { server: SocketAddr },
    #[error("upstream DNS server {server}: {source}")]
    Io {
        server: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("upstream DNS server {server} sent a TCP reply that does not answer our query")]
    Mismatch { server: SocketAddr },
}

impl Upstream {
    pub fn new(servers: Vec<SocketAddr>, timeout: Duration) -> Upstream {
        Upstream { servers, timeout }
    }

    /// The first answer to `name`/`qtype` from the servers, tried in order within the timeout;
    /// else the last server's error. Over UDP, then over TCP when the UDP reply is truncated.
    pub async fn ask(&self, name: &Name, qtype: RecordType) -> Result<Message, UpstreamError> {
        let query = Outgoing::new(name, qtype)?;
        let deadline = Instant::now() + self.timeout;
        let mut last_error = UpstreamError::NoServers;
        for (tried, &server) in self.servers.iter().enumerate() {
            let share = share_of(deadline, self.servers.len() - tried);
            match tokio::time::timeout(share, exchange(server, &query)).await {
                Ok(Ok(reply)) => return Ok(reply),
                Ok(Err(error)) => last_error = error,
                Err(_) => last_error = UpstreamError::Timeout { server },
            }
        }
        Err(last_error)
    }
}

/// An equal part of the time left to `deadline` for each of the `servers_left`, so a server
/// that fails fast leaves its time to the next ones.
fn share_of(deadline: Instant, servers_left: usize) -> Duration {
    let left = deadline.saturating_duration_since(Instant::now());
    left / u32::try_from(servers_left).unwrap_or(u32::MAX)
}

/// Our query, and its encodings for UDP and TCP.
struct Outgoing {
    message: Message,
    datagram: Vec<u8>,
    /// The datagram behind its 2-byte length, as TCP carries it.
    framed: Vec<u8>,
}

impl Outgoing {
    /// A recursive query for `name`/`qtype` with a fresh random ID, advertising our EDNS
    /// payload.
    fn new(name: &Name, qtype: RecordType) -> Result<Outgoing, ProtoError> {
        // rand's thread RNG is a CSPRNG seeded from the OS: IDs cannot be predicted.
        let mut message = Message::new(rand::random(), MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(name.clone(), qtype));
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        message.set_edns(edns);
        let datagram = message.to_vec()?;
        let len = u16::try_from(datagram.len()).map_err(|_| "query too long for TCP")?;
        let framed = [&len.to_be_bytes()[..], &datagram].concat();
        Ok(Outgoing {
            message,
            datagram,
            framed,
        })
    }

    /// `bytes` decoded, if they are a response to this query: its ID and its question (the
    /// name in any case).
    fn reply_in(&self, bytes: &[u8]) -> Option<Message> {
        let reply = Message::from_vec(bytes).ok()?;
        let answers_it = reply.metadata.message_type == MessageType::Response
            && reply.metadata.id == self.message.metadata.id
            && same_questions(&reply.queries, &self.message.queries);
        answers_it.then_some(reply)
    }
}

/// `server`'s reply to `query`: over UDP, again over TCP if truncated.
async fn exchange(server: SocketAddr, query: &Outgoing) -> Result<Message, UpstreamError> {
    let reply = exchange_udp(server, query).await?;
    if !reply.metadata.truncation {
        return Ok(reply);
    }
    exchange_tcp(server, query).await
}

/// The first datagram from `server` that answers `query`, from a fresh socket; anything else
/// that arrives is ignored.
async fn exchange_udp(server: SocketAddr, query: &Outgoing) -> Result<Message, UpstreamError> {
    let failed = |source| UpstreamError::Io { server, source };
    let socket = UdpSocket::bind(any_port_for(server))
        .await
        .map_err(failed)?;
    // Connected, the kernel drops datagrams from any other address and reports ICMP errors.
    socket.connect(server).await.map_err(failed)?;
    socket.send(&query.datagram).await.map_err(failed)?;
    let mut buffer = vec![0; MAX_REPLY_LEN];
    loop {
        let len = socket.recv(&mut buffer).await.map_err(failed)?;
        if let Some(reply) = query.reply_in(&buffer[..len]) {
            return Ok(reply);
        }
    }
}

/// `server`'s reply to `query` over TCP, each message behind its 2-byte length.
async fn exchange_tcp(server: SocketAddr, query: &Outgoing) -> Result<Message, UpstreamError> {
    let failed = |source| UpstreamError::Io { server, source };
    let mut stream = TcpStream::connect(server).await.map_err(failed)?;
    stream.write_all(&query.framed).await.map_err(failed)?;
    let mut len = [0; 2];
    stream.read_exact(&mut len).await.map_err(failed)?;
    let mut reply = vec![0; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply).await.map_err(failed)?;
    query
        .reply_in(&reply)
        .ok_or(UpstreamError::Mismatch { server })
}

/// The wildcard address with a kernel-chosen (random) port, of `server`'s family.
fn any_port_for(server: SocketAddr) -> SocketAddr {
    match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

fn same_questions(a: &[Query], b: &[Query]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            a.name().eq_ignore_root(b.name())
                && a.query_type() == b.query_type()
                && a.query_class() == b.query_class()
        })
}

#[cfg(test)]
mod tests;
