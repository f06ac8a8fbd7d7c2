//! The UDP echo server.

use std::net::UdpSocket;
use std::time::Duration;

use enforcer_tests::Received;

use super::log::EventLog;

/// Logs and echoes every datagram, forever.
pub fn serve(socket: UdpSocket, log: EventLog) {
    let Ok(local) = socket.local_addr() else {
        return;
    };
    let mut buf = [0u8; 65536];
    loop {
        match socket.recv_from(&mut buf) {
            Ok((n, peer)) => {
                log.record(&Received::Udp {
                    local: local.ip(),
                    port: local.port(),
                    peer: peer.ip(),
                });
                let _ = socket.send_to(&buf[..n], peer);
            }
            Err(e) => {
                eprintln!("enforcer-probe: udp recv: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}
