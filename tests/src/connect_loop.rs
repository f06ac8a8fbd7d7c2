//! The probe's `connect-loop` under a policy that changes while it runs.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

use crate::Attempt;

/// Runs `command` (the probe, started wherever the caller confined it) as a 3 s
/// `connect-loop` over `targets`, one attempt every 2 ms, calling `after_attempt` with the
/// count of attempts so far after each; returns every attempt.
///
/// # Panics
/// When the probe can't start, prints something else, or fails.
pub fn connect_loop(
    mut command: Command,
    targets: &[String],
    mut after_attempt: impl FnMut(usize),
) -> Vec<Attempt> {
    command.arg("connect-loop");
    for target in targets {
        command.args(["--target", target]);
    }
    let mut client = command
        .args([
            "--duration-ms",
            "3000",
            "--interval-ms",
            "2",
            "--timeout-ms",
            "1000",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the probe's connect-loop");
    let lines = BufReader::new(client.stdout.take().expect("piped")).lines();
    let mut attempts = Vec::new();
    for line in lines {
        let line = line.expect("reading the probe");
        attempts.push(serde_json::from_str(&line).expect("an attempt line"));
        after_attempt(attempts.len());
    }
    assert!(client.wait().expect("waiting for the probe").success());
    attempts
}
