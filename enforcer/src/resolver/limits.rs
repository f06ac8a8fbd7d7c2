//! How much of the resolver one task may use.

use std::time::{Duration, Instant};

/// Queries a task may send per second, on average.
pub const QUERIES_PER_SECOND: u32 = 200;
/// Queries a task may send at once after a quiet spell.
pub const QUERY_BURST: u32 = 400;
/// Queries of a task being answered at once (waiting on the upstream); more are dropped.
pub const MAX_IN_FLIGHT: usize = 128;
/// DNS-over-TCP connections of a task open at once; more wait to be accepted.
pub const MAX_TCP_CONNECTIONS: usize = 16;
/// A DNS-over-TCP connection with nothing to ask for this long is closed.
pub const TCP_IDLE: Duration = Duration::from_secs(10);
/// Largest query accepted (UDP datagram or TCP message); a real query is a few hundred bytes.
pub const MAX_QUERY_BYTES: usize = 4096;

/// A token bucket: `rate` tokens a second, at most `burst` saved up.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: u32, burst: u32, now: Instant) -> TokenBucket {
        TokenBucket {
            rate: rate.into(),
            burst: burst.into(),
            tokens: burst.into(),
            last: now,
        }
    }

    /// Takes a token if there is one.
    pub fn admit(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 20, start);
        assert_eq!((0..50).filter(|_| bucket.admit(start)).count(), 20);
        let later = start + Duration::from_millis(500);
        assert_eq!((0..50).filter(|_| bucket.admit(later)).count(), 5);
        let much_later = later + Duration::from_secs(3600);
        assert_eq!((0..50).filter(|_| bucket.admit(much_later)).count(), 20);
    }
}
