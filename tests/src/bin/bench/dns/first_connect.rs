//! `dns-connect`: that a task can connect to an address the moment its resolver has
//! answered with it. Looks up new numbered names, each on a fresh socket as a stub
//! resolver does, and connects at once to each answer; prints one JSON [`FirstConnects`]
//! line.

use std::{
    net::{SocketAddr, TcpStream},
    time::Duration,
};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{client, zone};

/// How `attempts` lookups, each followed by a connect, went.
#[derive(Debug, Serialize, Deserialize)]
pub struct FirstConnects {
    pub attempts: u32,
    pub lookups_failed: u32,
    pub connects_failed: u32,
    /// What the first failure was.
    pub first_failure: Option<String>,
}

/// Shorter than the first SYN retransmit (1 s): a first SYN dropped counts as a failure,
/// not as a slow success.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// `count` numbered names from `first`, each then connected to on `port`.
pub fn run(
    server: SocketAddr,
    port: u16,
    count: u32,
    first: u32,
    cpu: usize,
) -> anyhow::Result<()> {
    crate::bench::cpu::pin(cpu).with_context(|| format!("pinning the client to CPU {cpu}"))?;
    let mut result = FirstConnects {
        attempts: count,
        lookups_failed: 0,
        connects_failed: 0,
        first_failure: None,
    };
    for i in 0..count {
        let name = zone::numbered(first + i);
        let id = i as u16;
        let socket = client::connected(server).with_context(|| format!("a socket to {server}"))?;
        let answer = client::exchange(&socket, &client::query(&name, id)?, id)
            .with_context(|| format!("asking for {name}"))?;
        let Some(addr) = answer else {
            result.lookups_failed += 1;
            let failure = format!("{name}: no address in time");
            result.first_failure.get_or_insert(failure);
            continue;
        };
        let target = SocketAddr::from((addr, port));
        match TcpStream::connect_timeout(&target, CONNECT_TIMEOUT) {
            // Reset (SO_LINGER 0), as the connect metric does: no TIME_WAIT left behind.
            Ok(stream) => socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO))?,
            Err(e) => {
                result.connects_failed += 1;
                let failure = format!("{name}: connect to {target}: {e}");
                result.first_failure.get_or_insert(failure);
            }
        }
    }
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}
