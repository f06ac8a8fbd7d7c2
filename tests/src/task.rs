//! Running commands as enforced tasks through the real `enforcer run` binary.

use std::{net::IpAddr, process::Command, time::Duration};

use serde::Deserialize;

use crate::{enforcer_bin, probe_bin, run::output_within, Lab, ProbeResult};

/// Longer than any task a test runs: past it `enforcer run` is hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// One denial event as `enforcer --log-format json run` logs it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LoggedDenial {
    pub task: String,
    pub hook: String,
    pub reason: String,
    pub protocol: String,
    pub destination: String,
    pub pid: Option<u32>,
    pub comm: Option<String>,
    /// Name and query type of a refusal by the task's resolver.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub qtype: Option<String>,
}

/// What a finished `enforcer run` showed.
#[derive(Debug)]
pub struct TaskOutcome {
    /// The enforcer's exit code (the task's, or 125 when enforcement failed).
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub denials: Vec<LoggedDenial>,
}

impl TaskOutcome {
    /// The probe's result line (the task must have been a probe).
    pub fn probe(&self) -> ProbeResult {
        ProbeResult::from_stdout(self.stdout.as_bytes()).unwrap_or_else(|e| {
            panic!(
                "{e:#}\nexit: {:?}\nstderr:\n{}",
                self.exit_code, self.stderr
            )
        })
    }

    /// A counter of the run summary (`task finished`), as `enforcer --log-format json`
    /// logs it.
    pub fn counter(&self, name: &str) -> Option<u64> {
        self.stderr
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find(|line| line["message"] == "task finished")
            .and_then(|summary| summary[name].as_u64())
    }

    /// Whether a denial with this destination and reason was logged.
    pub fn denied(&self, destination: &str, reason: &str) -> bool {
        self.denials
            .iter()
            .any(|d| d.destination == destination && d.reason == reason)
    }

    /// Panics with the whole story unless a matching denial was logged.
    pub fn assert_denied(&self, destination: &str, reason: &str) {
        assert!(
            self.denied(destination, reason),
            "no denial of {destination} for {reason}; denials: {:#?}\nstderr:\n{}",
            self.denials,
            self.stderr
        );
    }
}

/// Runs `enforcer --log-format json run FLAGS -- TASK...`.
pub fn enforcer_run(flags: &[&str], task: &[&str]) -> TaskOutcome {
    let output = output_within(
        Command::new(enforcer_bin())
            .args(["--log-format", "json", "run"])
            .args(flags)
            .arg("--")
            .args(task),
        RUN_TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let denials = stderr
        .lines()
        .filter(|line| line.contains("\"enforcer::denial\""))
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    TaskOutcome {
        exit_code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr,
        denials,
    }
}

/// Runs the probe with `probe_args` as an enforced task.
pub fn probe_task(flags: &[&str], probe_args: &[&str]) -> TaskOutcome {
    let probe = probe_bin();
    let mut task = vec![probe.to_str().expect("utf-8 path")];
    task.extend_from_slice(probe_args);
    enforcer_run(flags, &task)
}

/// `--network http` for lab hosts 0 and 1 as IP literals (open from the start, with no
/// lookup), followed by `extra` flags.
pub fn http_flags(lab: &Lab, extra: &[&str]) -> Vec<String> {
    let mut flags = vec!["--network".to_string(), "http".into()];
    for host in 0..2 {
        for addr in [IpAddr::V4(lab.host(host)), IpAddr::V6(lab.host6(host))] {
            flags.extend(["--domain".to_string(), addr.to_string()]);
        }
    }
    flags.extend(extra.iter().map(|s| s.to_string()));
    flags
}

/// `--network http` for `domains` (names, wildcards, IPs) resolved through the lab's DNS,
/// with lab hosts 0 and 1 allowed as internal addresses (host 2 stays one a name must not
/// open), followed by `extra` flags.
pub fn http_name_flags(lab: &Lab, domains: &[&str], extra: &[&str]) -> Vec<String> {
    let mut flags = vec!["--network".to_string(), "http".into()];
    for domain in domains {
        flags.extend(["--domain".to_string(), domain.to_string()]);
    }
    flags.extend(["--upstream".to_string(), lab.dns().to_string()]);
    for net in lab.internal_allowance() {
        flags.extend(["--allow-internal".to_string(), net]);
    }
    flags.extend(extra.iter().map(|s| s.to_string()));
    flags
}
