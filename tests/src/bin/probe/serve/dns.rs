//! The DNS server, over UDP and TCP, answering from the [`Zone`].

use std::net::{IpAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use enforcer_tests::{DnsTransport, Received};
use hickory_proto::op::Message;

use super::log::EventLog;
use super::zone::{name_key, Zone};
use crate::probe::dns_frame::{read_frame, write_frame};

/// How long an idle DNS-over-TCP connection is kept.
const TCP_IDLE: Duration = Duration::from_secs(5);

/// Answers queries on a UDP socket, forever. A response over the client's
/// limit (512 bytes, or its EDNS payload size) goes without its records and
/// with TC set, so the client retries over TCP.
pub fn serve_udp(socket: UdpSocket, zone: &Zone, log: &EventLog) {
    let mut buf = [0u8; 4096];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(received) => received,
            Err(e) => {
                eprintln!("enforcer-probe: dns recv: {e}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let Some((request, response)) = respond(&buf[..n], peer.ip(), DnsTransport::Udp, zone, log)
        else {
            continue;
        };
        let mut bytes = encode(&response);
        if bytes
            .as_ref()
            .is_some_and(|b| b.len() > usize::from(request.max_payload()))
        {
            bytes = encode(&truncated(response));
        }
        if let Some(bytes) = bytes {
            let _ = socket.send_to(&bytes, peer);
        }
    }
}

/// Accepts DNS-over-TCP connections forever, one thread each.
pub fn serve_tcp(listener: TcpListener, zone: Arc<Zone>, log: EventLog) {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                let (zone, log) = (zone.clone(), log.clone());
                std::thread::spawn(move || serve_connection(stream, peer.ip(), &zone, &log));
            }
            Err(e) => {
                eprintln!("enforcer-probe: dns accept: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Answers framed queries until the client hangs up or idles out.
fn serve_connection(mut stream: TcpStream, peer: IpAddr, zone: &Zone, log: &EventLog) {
    let _ = stream.set_read_timeout(Some(TCP_IDLE));
    let _ = stream.set_write_timeout(Some(TCP_IDLE));
    while let Ok(query) = read_frame(&mut stream) {
        let Some(response) = respond(&query, peer, DnsTransport::Tcp, zone, log)
            .and_then(|(_, response)| encode(&response))
        else {
            return;
        };
        if write_frame(&mut stream, &response).is_err() {
            return;
        }
    }
}

/// Decodes and logs a query, and answers it; `None` for undecodable input.
fn respond(
    query: &[u8],
    peer: IpAddr,
    transport: DnsTransport,
    zone: &Zone,
    log: &EventLog,
) -> Option<(Message, Message)> {
    let request = Message::from_vec(query)
        .map_err(|e| eprintln!("enforcer-probe: bad DNS query from {peer}: {e}"))
        .ok()?;
    if let Some(question) = request.queries.first() {
        log.record(&Received::Dns {
            name: name_key(question.name()),
            qtype: question.query_type().to_string(),
            peer,
            transport,
        });
    }
    let response = zone.answer(&request);
    Some((request, response))
}

fn encode(response: &Message) -> Option<Vec<u8>> {
    response
        .to_vec()
        .map_err(|e| eprintln!("enforcer-probe: encode DNS response: {e}"))
        .ok()
}

/// `response` cut to its header and question (and OPT record), flagged TC.
fn truncated(mut response: Message) -> Message {
    response.metadata.truncation = true;
    response.answers.clear();
    response.authorities.clear();
    response.additionals.clear();
    response
}
