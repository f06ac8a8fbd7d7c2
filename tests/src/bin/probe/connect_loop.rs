//! `connect-loop`: TCP connects back to back, to watch a policy change while
//! a task runs (no gap, no stale allow).

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Result;
use enforcer_tests::Attempt;

use super::outcome::Failure;
use super::tcp;
use crate::ConnectLoopArgs;

/// Connects to each target in turn until the duration is over, printing and
/// flushing one [`Attempt`] line per connect.
pub fn run(args: &ConnectLoopArgs) -> Result<()> {
    let start = Instant::now();
    let duration = Duration::from_millis(args.duration_ms);
    let timeout = Duration::from_millis(args.timeout_ms);
    let mut stdout = std::io::stdout().lock();
    for target in args.targets.iter().cycle() {
        let started = start.elapsed();
        if started >= duration {
            break;
        }
        let result = tcp::connect(*target, timeout);
        let attempt = Attempt {
            target: target.to_string(),
            ok: result.is_ok(),
            errno: result.err().and_then(|e| Failure::from(e).errno()),
            t_ms: u64::try_from(started.as_millis()).unwrap_or(u64::MAX),
        };
        writeln!(stdout, "{}", serde_json::to_string(&attempt)?)?;
        stdout.flush()?;
        std::thread::sleep(Duration::from_millis(args.interval_ms));
    }
    Ok(())
}
