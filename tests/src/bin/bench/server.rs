//! The lab's server. The first byte of a connection says what the client measures:
//! [`BULK`] (sink: read until EOF), [`PING_PONG`] (echo [`MESSAGE_LEN`]-byte messages);
//! a plain connect sends nothing and is just closed. Also the lab's DNS server, on
//! [`DNS_SERVER`]'s port. Prints `listening` once both are bound.

use std::{
    io::{self, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    thread,
    time::Duration,
};

use anyhow::Context;
use socket2::{Domain, Socket, Type};

use super::lab::DNS_SERVER;

pub const BULK: u8 = b'B';
pub const PING_PONG: u8 = b'P';
/// Size of one ping-pong request and of its response.
pub const MESSAGE_LEN: usize = 64;
/// Printed on stdout once the listener is bound.
pub const READY_LINE: &str = "listening";

pub fn serve(addr: SocketAddr, cpu: usize) -> anyhow::Result<()> {
    super::cpu::pin(cpu).with_context(|| format!("pinning the server to CPU {cpu}"))?;
    let listener = listen(addr).with_context(|| format!("listening on {addr}"))?;
    let dns = SocketAddr::new(addr.ip(), DNS_SERVER.port());
    super::dns::server::spawn(dns).with_context(|| format!("serving DNS on {dns}"))?;
    println!("{READY_LINE}");
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => accept(stream),
            Err(e) => eprintln!("enforcer-bench serve: accept: {e}"),
        }
    }
    Ok(())
}

/// A deep accept queue: the connect client opens connections faster than one thread
/// accepts them whenever the server is briefly descheduled, and with std's default
/// backlog (128) the overflow drops SYNs, stalling that connect for a 1 s retransmit.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

/// Reads the kind byte in the accept loop: a thread per plain connect would cost more
/// than the connect itself. The client is sequential and resets plain connects at once,
/// so this read never waits long; the timeout only guards against a stray client.
fn accept(mut stream: TcpStream) {
    let mut kind = [0u8];
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let Ok(1) = stream.read(&mut kind) else {
        return;
    };
    let _ = stream.set_read_timeout(None);
    let _ = stream.set_nodelay(true);
    match kind[0] {
        BULK => {
            thread::spawn(move || sink(stream));
        }
        PING_PONG => {
            thread::spawn(move || echo(stream));
        }
        _ => {}
    }
}

/// Closing only after EOF tells the client that every byte it sent has arrived.
fn sink(mut stream: TcpStream) {
    let mut buf = vec![0u8; 256 * 1024];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}

fn echo(mut stream: TcpStream) {
    let mut message = [0u8; MESSAGE_LEN];
    let mut round_trip = || -> io::Result<()> {
        stream.read_exact(&mut message)?;
        stream.write_all(&message)
    };
    while round_trip().is_ok() {}
}
