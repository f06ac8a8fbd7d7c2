//! `dns-client`: sequential A queries from one connected UDP socket (as glibc's resolver
//! sends them), each timed from send to answer; prints one JSON [`DnsSample`] line. Also
//! the lookup the first-connect client makes.

use std::{
    io,
    net::{Ipv4Addr, SocketAddr, UdpSocket},
    time::{Duration, Instant},
};

use anyhow::Context;
use hickory_proto::{
    op::{Message, MessageType, OpCode, Query},
    rr::{rdata::A, Name, RData, RecordType},
};
use serde::{Deserialize, Serialize};

use super::zone;
use crate::bench::summary::quantile_us;

/// What the queries ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Names {
    /// [`zone::NAME`] every time: after the first, the resolver re-grants a held address.
    One,
    /// A numbered name never asked before each time: every answer opens a new address.
    New,
}

impl Names {
    pub const ALL: [Names; 2] = [Names::One, Names::New];

    /// The name on the client's command line.
    pub fn arg(self) -> &'static str {
        match self {
            Names::One => "one",
            Names::New => "new",
        }
    }
}

/// Latencies of `answered` queries in microseconds; `failed` got no address in time.
#[derive(Debug, Serialize, Deserialize)]
pub struct DnsSample {
    pub answered: u64,
    pub failed: u64,
    pub per_second: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

/// How long a query waits for its answer before it counts as failed.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

/// `queries` queries for `names`, numbered names from `first`.
pub fn run(
    names: Names,
    server: SocketAddr,
    queries: u32,
    first: u32,
    cpu: usize,
) -> anyhow::Result<()> {
    crate::bench::cpu::pin(cpu).with_context(|| format!("pinning the client to CPU {cpu}"))?;
    let socket = connected(server).with_context(|| format!("a UDP socket to {server}"))?;
    let mut latencies = Vec::new();
    let mut failed = 0;
    let start = Instant::now();
    for i in 0..queries {
        let name = match names {
            Names::One => zone::NAME.to_string(),
            Names::New => zone::numbered(first + i),
        };
        let id = i as u16;
        let query = query(&name, id)?;
        let asked = Instant::now();
        match exchange(&socket, &query, id).with_context(|| format!("asking for {name}"))? {
            Some(_) => latencies.push(asked.elapsed()),
            None => failed += 1,
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    anyhow::ensure!(!latencies.is_empty(), "no query was answered");
    latencies.sort();
    let sample = DnsSample {
        answered: latencies.len() as u64,
        failed,
        per_second: latencies.len() as f64 / seconds,
        p50_us: quantile_us(&latencies, 0.5),
        p99_us: quantile_us(&latencies, 0.99),
    };
    println!("{}", serde_json::to_string(&sample)?);
    Ok(())
}

/// A UDP socket connected to `server`.
pub fn connected(server: SocketAddr) -> io::Result<UdpSocket> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    socket.connect(server)?;
    socket.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    Ok(socket)
}

/// A recursive A query for `name` with ID `id`.
pub fn query(name: &str, id: u16) -> anyhow::Result<Vec<u8>> {
    let mut request = Message::new(id, MessageType::Query, OpCode::Query);
    request.metadata.recursion_desired = true;
    let name = Name::from_ascii(name).with_context(|| format!("DNS name {name:?}"))?;
    request.add_query(Query::query(name, RecordType::A));
    Ok(request.to_vec()?)
}

/// Sends `query` (ID `id`) on `socket` and returns the first address of its answer; `None`
/// when the answer has none or none came in time.
pub fn exchange(socket: &UdpSocket, query: &[u8], id: u16) -> io::Result<Option<Ipv4Addr>> {
    socket.send(query)?;
    let mut buf = [0u8; 4096];
    loop {
        let len = match socket.recv(&mut buf) {
            Ok(len) => len,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        // Skips a late answer to an earlier query that timed out.
        match Message::from_vec(&buf[..len]) {
            Ok(answer) if answer.metadata.id == id => return Ok(first_address(&answer)),
            _ => continue,
        }
    }
}

fn first_address(answer: &Message) -> Option<Ipv4Addr> {
    answer.answers.iter().find_map(|record| match record.data {
        RData::A(A(addr)) => Some(addr),
        _ => None,
    })
}
