//! `agent-hammer`: connect() to one address in a loop at a given rate, from a task in
//! None mode, so that every attempt is refused at once (EPERM, nothing sent) and makes
//! one denial event. Prints one JSON [`HammerSample`] line.

use std::{
    io,
    net::SocketAddr,
    thread,
    time::{Duration, Instant},
};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use socket2::{Domain, Socket, Type};

/// What one hammer did in `seconds`.
#[derive(Debug, Serialize, Deserialize)]
pub struct HammerSample {
    pub attempts: u64,
    /// Attempts refused with EPERM: one denial event each.
    pub refused: u64,
    pub seconds: f64,
}

/// `rate` attempts a second (0: as fast as it can) for `duration_ms`.
pub fn run(target: SocketAddr, rate: u32, duration_ms: u64) -> anyhow::Result<()> {
    // One socket for every attempt: a refused connect leaves it unconnected, and without a
    // socket() and close() each, one CPU offers about three times the events.
    let socket = Socket::new(Domain::for_address(target), Type::STREAM, None)
        .context("creating the hammer's socket")?;
    let target = target.into();
    let duration = Duration::from_millis(duration_ms);
    let mut sample = HammerSample {
        attempts: 0,
        refused: 0,
        seconds: 0.0,
    };
    let start = Instant::now();
    loop {
        let elapsed = start.elapsed();
        if elapsed >= duration {
            break;
        }
        if rate > 0 {
            // Paced: wait for the next attempt's time.
            let due = Duration::from_secs_f64(sample.attempts as f64 / f64::from(rate));
            if due > elapsed {
                thread::sleep(due - elapsed);
                continue;
            }
        }
        sample.attempts += 1;
        match socket.connect(&target) {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => sample.refused += 1,
            Err(e) => return Err(e).context("a connect refused other than by the enforcer"),
            Ok(()) => anyhow::bail!("a task in None mode connected"),
        }
    }
    sample.seconds = start.elapsed().as_secs_f64();
    println!("{}", serde_json::to_string(&sample)?);
    Ok(())
}
