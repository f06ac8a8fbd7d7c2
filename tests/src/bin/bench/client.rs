//! One measurement, run as a separate process inside a condition's cgroup so that the
//! kernel programs attached there see its sockets. Prints one JSON [`Sample`] line.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::server::{BULK, MESSAGE_LEN, PING_PONG};

/// What a client measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Kind {
    /// Send for the whole duration to a sink: bytes/s.
    Bulk,
    /// connect() and close() in a loop: connects/s.
    Connect,
    /// 64-byte request/response on one connection: round trips/s.
    Pingpong,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Bulk, Kind::Connect, Kind::Pingpong];

    /// The name on the client's command line.
    pub fn arg(self) -> &'static str {
        match self {
            Kind::Bulk => "bulk",
            Kind::Connect => "connect",
            Kind::Pingpong => "pingpong",
        }
    }
}

/// A client's result: `count` bytes, connects or round trips in `seconds`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Sample {
    pub count: u64,
    pub seconds: f64,
    pub per_second: f64,
}

/// Bounds every blocking call, so a client never outlives a vanished server for long.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

pub fn run(kind: Kind, server: SocketAddr, duration_ms: u64, cpu: usize) -> anyhow::Result<()> {
    super::cpu::pin(cpu).with_context(|| format!("pinning the client to CPU {cpu}"))?;
    let duration = Duration::from_millis(duration_ms);
    let (count, seconds) = match kind {
        Kind::Bulk => bulk(server, duration),
        Kind::Connect => connects(server, duration),
        Kind::Pingpong => ping_pong(server, duration),
    }
    .with_context(|| format!("{} client to {server}", kind.arg()))?;
    let sample = Sample {
        count,
        seconds,
        per_second: count as f64 / seconds,
    };
    println!("{}", serde_json::to_string(&sample)?);
    Ok(())
}

fn open(server: SocketAddr, kind: u8) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&server, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.set_nodelay(true)?;
    stream.write_all(&[kind])?;
    Ok(stream)
}

/// Bytes delivered: the clock stops when the server, having read everything, closes.
fn bulk(server: SocketAddr, duration: Duration) -> std::io::Result<(u64, f64)> {
    let mut stream = open(server, BULK)?;
    let chunk = vec![0u8; 128 * 1024];
    let mut sent = 0u64;
    let start = Instant::now();
    while start.elapsed() < duration {
        stream.write_all(&chunk)?;
        sent += chunk.len() as u64;
    }
    stream.shutdown(std::net::Shutdown::Write)?;
    while stream.read(&mut [0u8; 64])? > 0 {}
    Ok((sent, start.elapsed().as_secs_f64()))
}

/// Closes with a reset (SO_LINGER 0): an orderly close would leave a TIME_WAIT socket per
/// connect and run out of ephemeral ports within a few measurements.
fn connects(server: SocketAddr, duration: Duration) -> std::io::Result<(u64, f64)> {
    let mut count = 0u64;
    let start = Instant::now();
    while start.elapsed() < duration {
        let stream = TcpStream::connect(server)?;
        socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
        count += 1;
    }
    Ok((count, start.elapsed().as_secs_f64()))
}

fn ping_pong(server: SocketAddr, duration: Duration) -> std::io::Result<(u64, f64)> {
    let mut stream = open(server, PING_PONG)?;
    let mut message = [0u8; MESSAGE_LEN];
    let mut count = 0u64;
    let start = Instant::now();
    while start.elapsed() < duration {
        stream.write_all(&message)?;
        stream.read_exact(&mut message)?;
        count += 1;
    }
    Ok((count, start.elapsed().as_secs_f64()))
}
