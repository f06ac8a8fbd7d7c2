//! Running the probe directly, outside any enforced task.

use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::{probe_bin, ProbeResult};

/// Longer than any probe timeout a test uses: past it the probe is hung.
const HARD_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `enforcer-probe ARGS...` in this process's namespaces and cgroup and
/// returns its result.
///
/// # Panics
/// When the probe cannot start, outlives a 30 s hard timeout (it is killed),
/// or prints no result line: all of these are bugs, not test outcomes.
pub fn run_probe(args: &[&str]) -> ProbeResult {
    probe_result(Command::new(probe_bin()).args(args), args)
}

/// [`run_probe`] in network namespace `netns` (`ip netns exec`), in no task's cgroup: what
/// a process of the node there gets.
pub fn run_probe_in_netns(netns: &str, args: &[&str]) -> ProbeResult {
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", netns])
        .arg(probe_bin())
        .args(args);
    probe_result(&mut command, args)
}

fn probe_result(command: &mut Command, args: &[&str]) -> ProbeResult {
    let output = output_within(command, HARD_TIMEOUT);
    ProbeResult::from_stdout(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "probe {args:?} ({}): {e:#}; stderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })
}

/// Runs a command to completion, killing it once `limit` has passed.
///
/// # Panics
/// When it can't be started, or has to be killed.
pub(crate) fn output_within(command: &mut Command, limit: Duration) -> Output {
    try_output_within(command, limit).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Runs a command to completion, killing it once `limit` has passed (an error then).
pub(crate) fn try_output_within(command: &mut Command, limit: Duration) -> Result<Output> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawn {command:?}"))?;
    let pid = child.id();
    // Waiting in a thread keeps the pipes drained while we watch the clock.
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    match finished.recv_timeout(limit) {
        Ok(result) => result.with_context(|| format!("wait for {command:?}")),
        Err(_) => {
            // SAFETY: kill(2) on the pid of our own unreaped child; the waiting
            // thread reaps it right after.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            let _ = finished.recv();
            bail!("{command:?} still running after {limit:?}: killed")
        }
    }
}
