//! The HTTP server: answers every connection with the address it arrived on.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use enforcer_tests::Received;

use super::log::EventLog;

/// How long a client may take to send its request head: long enough for tests that hold a
/// connection open across an address's expiry.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A request head larger than this is not from the probe.
const MAX_HEAD: usize = 8 * 1024;

/// Accepts forever; each connection is logged, then answered in its own thread.
pub fn serve(listener: TcpListener, log: EventLog) {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                let Ok(local) = stream.local_addr() else {
                    continue;
                };
                log.record(&Received::Tcp {
                    local: local.ip(),
                    port: local.port(),
                    peer: peer.ip(),
                });
                std::thread::spawn(move || answer(stream));
            }
            Err(e) => {
                eprintln!("enforcer-probe: accept: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Reads the request head and sends `hello from <local ip:port>`. Errors end
/// the connection quietly: clients such as `connect-loop` hang up at once.
fn answer(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
    let _ = stream.set_write_timeout(Some(REQUEST_TIMEOUT));
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let body = format!("hello from {local}\n");
    let response = format!(
        "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}
