//! `dns`: one query, over UDP or TCP, built and parsed with hickory-proto.

use std::net::{IpAddr, SocketAddr, UdpSocket};

use clap::Args;
use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use socket2::{Domain, Protocol, Socket, Type};

use super::addr::destination;
use super::deadline::Deadline;
use super::dns_frame::{read_frame, write_frame};
use super::outcome::{During, Failure, Outcome};
use super::tcp;

/// Largest DNS message, over either transport.
const MAX_MESSAGE: usize = 65535;

/// What to ask, how, and how to show the response.
#[derive(Args)]
pub struct DnsArgs {
    /// Address of the DNS server.
    server: IpAddr,
    /// Name to look up.
    name: String,
    /// Over TCP instead of UDP.
    #[arg(long)]
    tcp: bool,
    /// Query type: A, AAAA, or any other type name.
    #[arg(long, default_value = "A", value_parser = parse_qtype)]
    qtype: RecordType,
    /// Server port.
    #[arg(long, default_value_t = 53)]
    port: u16,
    /// Use an AF_INET6 socket; an IPv4 SERVER becomes `::ffff:a.b.c.d`.
    #[arg(long)]
    v6_socket: bool,
    /// Over UDP, sendto and recvfrom without connect(), taking replies only
    /// from the server's address (as musl's resolver does).
    #[arg(long, conflicts_with = "tcp")]
    unconnected: bool,
    /// Add an EDNS OPT record advertising this UDP payload size (at least 512).
    #[arg(long, value_name = "SIZE")]
    edns: Option<u16>,
    /// Ask again over TCP when the UDP response is truncated (TC), as stub
    /// resolvers do.
    #[arg(long, conflicts_with = "tcp")]
    follow_tc: bool,
    /// Append ` from <ip>:<port>`: where the (last) response came from.
    #[arg(long)]
    show_source: bool,
    /// Show each answer as `<data>/<ttl>`.
    #[arg(long)]
    show_ttl: bool,
    /// Show every record of every section instead (see the reply format).
    #[arg(long)]
    records: bool,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
}

/// Asks the server and describes its response: see the `dns` subcommand's
/// help for the reply format.
pub fn query(args: &DnsArgs) -> Outcome {
    let deadline = Deadline::after_ms(args.timeout_ms);
    let server = destination(args.server, args.port, args.v6_socket);
    let name = Name::from_ascii(&args.name)
        .map_err(|e| Failure::other(format!("{:?}: {e}", args.name)))?;
    let mut request = Message::query();
    request.metadata.recursion_desired = true;
    request.add_query(Query::query(name, args.qtype));
    if let Some(size) = args.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(size);
        request.set_edns(edns);
    }
    let bytes = request
        .to_vec()
        .map_err(|e| Failure::other(format!("encode query: {e}")))?;
    let id = request.metadata.id;
    let (mut response, mut source) = if args.tcp {
        exchange_tcp(server, &bytes, &deadline)?
    } else {
        exchange_udp(server, &bytes, id, !args.unconnected, &deadline)?
    };
    if response.metadata.truncation && args.follow_tc {
        (response, source) = exchange_tcp(server, &bytes, &deadline)?;
    }
    if response.metadata.id != id {
        return Err(Failure::other("response id does not match the query"));
    }
    let source = args.show_source.then_some(source);
    Ok(Some(if args.records {
        describe_records(&response, source)
    } else {
        describe(&response, source, args.show_ttl)
    }))
}

/// The A or AAAA addresses `server` answers for `name`, asked as a stub resolver would:
/// over connected UDP, again over TCP when truncated.
pub fn lookup(
    server: SocketAddr,
    name: &str,
    qtype: RecordType,
    deadline: &Deadline,
) -> Result<Vec<IpAddr>, Failure> {
    let name = Name::from_ascii(name).map_err(|e| Failure::other(format!("{name:?}: {e}")))?;
    let mut request = Message::query();
    request.metadata.recursion_desired = true;
    request.add_query(Query::query(name, qtype));
    let bytes = request
        .to_vec()
        .map_err(|e| Failure::other(format!("encode query: {e}")))?;
    let (mut response, _) = exchange_udp(server, &bytes, request.metadata.id, true, deadline)?;
    if response.metadata.truncation {
        (response, _) = exchange_tcp(server, &bytes, deadline)?;
    }
    Ok(response
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
            _ => None,
        })
        .collect())
}

pub fn parse_qtype(s: &str) -> Result<RecordType, String> {
    s.to_ascii_uppercase().parse().map_err(|e| format!("{e}"))
}

/// `[TC:][<RCODE>:]<answer>,<answer>...[ from <source>]`.
fn describe(response: &Message, source: Option<SocketAddr>, show_ttl: bool) -> String {
    let answers: Vec<String> = response
        .answers
        .iter()
        .map(|r| {
            if show_ttl {
                format!("{}/{}", r.data, r.ttl)
            } else {
                r.data.to_string()
            }
        })
        .collect();
    let mut reply = String::new();
    if response.metadata.truncation {
        reply.push_str("TC:");
    }
    if response.metadata.response_code != ResponseCode::NoError {
        reply.push_str(&format!("{:?}:", response.metadata.response_code));
    }
    reply.push_str(&answers.join(","));
    if let Some(source) = source {
        reply.push_str(&format!(" from {source}"));
    }
    reply
}

/// A line `<RCODE>[ TC][ from <source>]`, then one line per record:
/// `<section> <owner> <ttl> <TYPE> <data>`.
fn describe_records(response: &Message, source: Option<SocketAddr>) -> String {
    let mut lines = vec![format!("{:?}", response.metadata.response_code)];
    if response.metadata.truncation {
        lines[0].push_str(" TC");
    }
    if let Some(source) = source {
        lines[0].push_str(&format!(" from {source}"));
    }
    let sections: [(&str, &[Record]); 3] = [
        ("answer", &response.answers),
        ("authority", &response.authorities),
        ("additional", &response.additionals),
    ];
    for (section, records) in sections {
        for r in records {
            lines.push(format!(
                "{section} {} {} {} {}",
                r.name,
                r.ttl,
                r.record_type(),
                r.data
            ));
        }
    }
    lines.join("\n")
}

/// A UDP socket of `server`'s family.
pub fn udp_socket_for(server: SocketAddr) -> Result<UdpSocket, Failure> {
    let socket = Socket::new(
        Domain::for_address(server),
        Type::DGRAM,
        Some(Protocol::UDP),
    )
    .during("socket")?;
    Ok(socket.into())
}

/// Sends from a connected socket (as glibc's resolver does) or with sendto,
/// and waits for the response with our id from the server, skipping strays.
fn exchange_udp(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    connect: bool,
    deadline: &Deadline,
) -> Result<(Message, SocketAddr), Failure> {
    let socket = udp_socket_for(server)?;
    if connect {
        socket.connect(server).during("connect")?;
        socket.send(query).during("send")?;
    } else {
        socket.send_to(query, server).during("sendto")?;
    }
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        socket
            .set_read_timeout(Some(deadline.remaining()?))
            .during("setsockopt")?;
        let (n, from) = socket.recv_from(&mut buf).during("recv")?;
        if from != server {
            continue;
        }
        match Message::from_vec(&buf[..n]) {
            Ok(message) if message.metadata.id == id => return Ok((message, from)),
            _ => continue,
        }
    }
}

fn exchange_tcp(
    server: SocketAddr,
    query: &[u8],
    deadline: &Deadline,
) -> Result<(Message, SocketAddr), Failure> {
    let mut stream = tcp::connect(server, deadline.remaining()?).during("connect")?;
    let source = stream.peer_addr().during("getpeername")?;
    stream
        .set_write_timeout(Some(deadline.remaining()?))
        .during("setsockopt")?;
    write_frame(&mut stream, query).during("send")?;
    stream
        .set_read_timeout(Some(deadline.remaining()?))
        .during("setsockopt")?;
    let response = read_frame(&mut stream).during("recv")?;
    let message = Message::from_vec(&response)
        .map_err(|e| Failure::other(format!("decode response: {e}")))?;
    Ok((message, source))
}
