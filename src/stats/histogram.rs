//! A fixed-bucket histogram of durations.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram buckets, in microseconds.
pub const LATENCY_BUCKETS_US: [u64; 14] = [
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 250_000, 1_000_000,
];

/// A fixed-bucket histogram of durations (buckets of [`LATENCY_BUCKETS_US`]).
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = LATENCY_BUCKETS_US.iter().position(|b| us <= *b);
        if let Some(bucket) = i.and_then(|i| self.buckets.get(i)) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Sum of the recorded durations, in microseconds.
    pub fn sum_us(&self) -> u64 {
        self.sum_us.load(Ordering::Relaxed)
    }

    /// Each bucket's upper bound (µs) and the durations recorded in it (not cumulative).
    /// Durations past the last bound are in [`Self::count`] only.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        LATENCY_BUCKETS_US
            .iter()
            .zip(&self.buckets)
            .map(|(le, n)| (*le, n.load(Ordering::Relaxed)))
    }

    /// Mean of the recorded durations.
    pub fn mean(&self) -> Duration {
        let n = self.count();
        let sum = self.sum_us.load(Ordering::Relaxed);
        Duration::from_micros(sum.checked_div(n).unwrap_or(0))
    }

    /// An estimate of quantile `q` (0..=1): interpolated inside its bucket.
    pub fn quantile(&self, q: f64) -> Duration {
        let total = self.count();
        if total == 0 {
            return Duration::ZERO;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).ceil().max(1.0);
        let mut below = 0u64;
        let mut lower = 0u64;
        for (upper, n) in self.buckets() {
            if n > 0 && (below + n) as f64 >= rank {
                let within = (rank - below as f64) / n as f64;
                let us = lower as f64 + within * (upper - lower) as f64;
                return Duration::from_micros(us as u64);
            }
            below += n;
            lower = upper;
        }
        Duration::from_micros(lower)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_within_buckets() {
        let h = Histogram::default();
        assert_eq!(h.quantile(0.5), Duration::ZERO);
        for _ in 0..100 {
            h.record(Duration::from_micros(60)); // bucket 50..100
        }
        let p50 = h.quantile(0.5);
        assert!(
            p50 > Duration::from_micros(50) && p50 <= Duration::from_micros(100),
            "{p50:?}"
        );
        h.record(Duration::from_millis(800));
        assert!(h.quantile(1.0) > Duration::from_millis(250));
        assert_eq!(h.mean(), Duration::from_micros((6000 + 800_000) / 101));
    }

    #[test]
    fn durations_past_the_last_bound_are_only_counted() {
        let h = Histogram::default();
        h.record(Duration::from_secs(5));
        assert_eq!(h.buckets().map(|(_, n)| n).sum::<u64>(), 0);
        assert_eq!(h.count(), 1);
        assert_eq!(h.sum_us(), 5_000_000);
    }
}
