//! A lock-free latency histogram with power-of-two buckets, for the resolver's timings.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

/// Bucket `i` counts durations up to 2^i microseconds; the last one everything longer.
const BUCKETS: usize = 24;

/// Counts of durations by bucket.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    counts: [AtomicU64; BUCKETS],
}

impl LatencyHistogram {
    pub fn record(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let bucket = (u64::BITS - (micros - 1).leading_zeros()) as usize;
        self.counts[bucket.min(BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
    }

    /// How many durations were recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The upper bound of the bucket holding the `q` quantile (0 < q <= 1); `None` when
    /// nothing was recorded.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, count) in self.counts.iter().enumerate() {
            seen += count.load(Ordering::Relaxed);
            if seen >= rank {
                return Some(Duration::from_micros(1 << i));
            }
        }
        Some(Duration::from_micros(1 << (BUCKETS - 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_bucket_upper_bounds() {
        let h = LatencyHistogram::default();
        assert_eq!(h.quantile(0.5), None);
        for _ in 0..98 {
            h.record(Duration::from_micros(3));
        }
        h.record(Duration::from_micros(900));
        h.record(Duration::from_secs(100));
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile(0.5), Some(Duration::from_micros(4)));
        assert_eq!(h.quantile(0.99), Some(Duration::from_micros(1024)));
        assert_eq!(h.quantile(1.0), Some(Duration::from_micros(1 << 23)));
        h.record(Duration::ZERO);
        assert_eq!(h.quantile(0.001), Some(Duration::from_micros(1)));
    }
}
