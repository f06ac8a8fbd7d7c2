//! One time budget for every blocking call of an attempt.

use std::time::{Duration, Instant};

use super::outcome::Failure;

/// When the attempt's time is up.
pub struct Deadline(Instant);

impl Deadline {
    /// `timeout_ms` from now.
    pub fn after_ms(timeout_ms: u64) -> Deadline {
        Deadline(Instant::now() + Duration::from_millis(timeout_ms))
    }

    /// Time left for the next call; a timeout failure when none is left
    /// (socket timeouts cannot be zero, which would mean "wait forever").
    pub fn remaining(&self) -> Result<Duration, Failure> {
        let left = self.0.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(Failure::timeout())
        } else {
            Ok(left)
        }
    }
}
