//! `tcp`: an HTTP/1.0 GET over a fresh TCP connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::deadline::Deadline;
use super::outcome::{During, Failure, Outcome};

const REQUEST: &[u8] = b"GET / HTTP/1.0\r\nHost: probe\r\n\r\n";

/// Replies are a line of text; anything longer is not from a lab server.
const MAX_REPLY: usize = 64 * 1024;

/// Connects to `dest` from a socket of its family, giving up after `timeout`.
pub fn connect(dest: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(dest), Type::STREAM, Some(Protocol::TCP))?;
    socket.connect_timeout(&dest.into(), timeout)?;
    Ok(socket.into())
}

/// What to wait for between connecting and sending the request.
pub enum Hold {
    No,
    /// A line on stdin (after saying "connected" on stderr).
    StdinLine,
    For(Duration),
}

/// GETs `/` from `dest`; the reply is the response body. The timeout counts again from the
/// end of the hold.
pub fn http_get(dest: SocketAddr, timeout_ms: u64, hold: Hold) -> Outcome {
    let mut deadline = Deadline::after_ms(timeout_ms);
    let mut stream = connect(dest, deadline.remaining()?).during("connect")?;
    match hold {
        Hold::No => {}
        Hold::StdinLine => {
            eprintln!("connected");
            std::io::stdin()
                .read_line(&mut String::new())
                .during("read stdin")?;
        }
        Hold::For(pause) => std::thread::sleep(pause),
    }
    if !matches!(hold, Hold::No) {
        deadline = Deadline::after_ms(timeout_ms);
    }
    stream
        .set_write_timeout(Some(deadline.remaining()?))
        .during("setsockopt")?;
    stream.write_all(REQUEST).during("send")?;
    let response = read_to_eof(&mut stream, &deadline)?;
    let text = String::from_utf8_lossy(&response);
    match text.split_once("\r\n\r\n") {
        Some((_head, body)) => Ok(Some(body.to_owned())),
        None => Err(Failure::other(format!("not an HTTP response: {text:?}"))),
    }
}

fn read_to_eof(stream: &mut TcpStream, deadline: &Deadline) -> Result<Vec<u8>, Failure> {
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    while response.len() < MAX_REPLY {
        stream
            .set_read_timeout(Some(deadline.remaining()?))
            .during("setsockopt")?;
        match stream.read(&mut chunk).during("recv")? {
            0 => break,
            n => response.extend_from_slice(&chunk[..n]),
        }
    }
    Ok(response)
}
