//! What the probe prints on stdout: the contract between the probe and tests.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// The one JSON line a probe client subcommand prints.
///
/// `errno` is the real OS errno of the failing call, so a test can tell an
/// immediate refusal (`EPERM`, 1) from a timeout (`error == "timeout"`, errno
/// `ETIMEDOUT`, 110).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// The attempt did what it tried (connected and got a reply, created the socket...).
    pub ok: bool,
    /// OS errno of the failure, if the failure came from a system call.
    pub errno: Option<i32>,
    /// Human-readable failure; `"timeout"` for timeouts.
    pub error: Option<String>,
    /// Wall time of the attempt.
    pub elapsed_ms: u64,
    /// What the peer answered; the format is per subcommand (see `enforcer-probe --help`).
    pub reply: Option<String>,
}

impl ProbeResult {
    /// Parses the probe's stdout: its last non-empty line is the result, so
    /// anything a wrapper (such as `enforcer run`) printed before is ignored.
    pub fn from_stdout(stdout: &[u8]) -> Result<ProbeResult> {
        let text = String::from_utf8_lossy(stdout);
        let Some(line) = text.lines().rev().find(|l| !l.trim().is_empty()) else {
            bail!("the probe printed nothing");
        };
        serde_json::from_str(line).with_context(|| format!("not a probe result: {line:?}"))
    }

    /// True when the attempt was refused at once with `EPERM`, as the
    /// enforcer's socket hooks do.
    pub fn is_eperm(&self) -> bool {
        !self.ok && self.errno == Some(libc::EPERM)
    }

    /// True when the attempt gave up waiting, as it does when packets are
    /// silently dropped.
    pub fn is_timeout(&self) -> bool {
        !self.ok && self.error.as_deref() == Some("timeout")
    }
}

/// One line of `enforcer-probe connect-loop`: a single TCP connect attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// `ip:port`, or `[ip]:port` for IPv6.
    pub target: String,
    /// The connection was established.
    pub ok: bool,
    /// OS errno of a failed attempt (`ETIMEDOUT` for a timeout).
    pub errno: Option<i32>,
    /// When the attempt started, in milliseconds since the loop started.
    pub t_ms: u64,
}

impl Attempt {
    /// Parses the whole stdout of `connect-loop`, one attempt per line.
    pub fn parse_all(stdout: &[u8]) -> Result<Vec<Attempt>> {
        String::from_utf8_lossy(stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).with_context(|| format!("not an attempt: {l:?}")))
            .collect()
    }
}
