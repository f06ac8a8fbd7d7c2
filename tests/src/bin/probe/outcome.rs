//! How a client attempt ends, and its JSON report.

use std::io;
use std::time::Duration;

use enforcer_tests::ProbeResult;

/// Why an attempt failed: the OS errno when a system call said no.
#[derive(Debug)]
pub struct Failure {
    errno: Option<i32>,
    error: String,
}

/// The result of a client attempt: the reply text, if the attempt has one.
pub type Outcome = Result<Option<String>, Failure>;

impl Failure {
    /// The attempt ran out of time. Reported as ETIMEDOUT, whichever call
    /// was waiting, so tests see one shape for every timeout.
    pub fn timeout() -> Failure {
        Failure {
            errno: Some(libc::ETIMEDOUT),
            error: "timeout".to_owned(),
        }
    }

    /// A failure that is not a system call's (a malformed reply, say).
    pub fn other(error: impl Into<String>) -> Failure {
        Failure {
            errno: None,
            error: error.into(),
        }
    }

    /// Names the call that failed, leaving "timeout" alone so it stays
    /// recognisable.
    pub fn during(mut self, call: &str) -> Failure {
        if !self.is_timeout() {
            self.error = format!("{call}: {}", self.error);
        }
        self
    }

    /// The OS errno, if any.
    pub fn errno(&self) -> Option<i32> {
        self.errno
    }

    fn is_timeout(&self) -> bool {
        self.errno == Some(libc::ETIMEDOUT)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        // A socket timeout surfaces as EAGAIN, connect_timeout's as an errno-less
        // TimedOut, a kernel one as ETIMEDOUT: all mean "timeout".
        match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Failure::timeout(),
            _ => Failure {
                errno: e.raw_os_error(),
                error: e.to_string(),
            },
        }
    }
}

/// Extension to attach the failing call's name to an I/O result.
pub trait During<T> {
    /// Converts the error to a [`Failure`] naming `call`.
    fn during(self, call: &str) -> Result<T, Failure>;
}

impl<T> During<T> for io::Result<T> {
    fn during(self, call: &str) -> Result<T, Failure> {
        self.map_err(|e| Failure::from(e).during(call))
    }
}

/// The JSON line for an attempt that took `elapsed`.
pub fn report(outcome: Outcome, elapsed: Duration) -> ProbeResult {
    let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    match outcome {
        Ok(reply) => ProbeResult {
            ok: true,
            errno: None,
            error: None,
            elapsed_ms,
            reply,
        },
        Err(failure) => ProbeResult {
            ok: false,
            errno: failure.errno,
            error: Some(failure.error),
            elapsed_ms,
            reply: None,
        },
    }
}
