//! The DNS server, over UDP and TCP, answering from the [`Zone`].

use std::net::{IpAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use enforcer_tests::Received;
use hickory_proto::op::Message;

use super::log::EventLog;
use super::zone::{name_key, Zone};
use crate::probe::dns_frame::{read_frame, write_frame};

/// How long an idle DNS-over-TCP connection is kept.
const TCP_IDLE: Duration = Duration::from_secs(5);

/// Answers queries on a UDP socket, forever.
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
        if let Some(response) = respond(&buf[..n], peer.ip(), zone, log) {
            let _ = socket.send_to(&response, peer);
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
        let Some(response) = respond(&query, peer, zone, log) else {
            return;
        };
        if write_frame(&mut stream, &response).is_err() {
            return;
        }
    }
}

/// Logs a query and encodes its response; `None` for undecodable input.
fn respond(query: &[u8], peer: IpAddr, zone: &Zone, log: &EventLog) -> Option<Vec<u8>> {
    let request = Message::from_vec(query)
        .map_err(|e| eprintln!("enforcer-probe: bad DNS query from {peer}: {e}"))
        .ok()?;
    if let Some(question) = request.queries.first() {
        log.record(&Received::Dns {
            name: name_key(question.name()),
            qtype: question.query_type().to_string(),
            peer,
        });
    }
    zone.answer(&request)
        .to_vec()
        .map_err(|e| eprintln!("enforcer-probe: encode DNS response: {e}"))
        .ok()
}
