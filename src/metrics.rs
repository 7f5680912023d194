//! Counters and histograms for `/metrics`: plain atomics with fixed label sets (the
//! label values are the `as_str()` of the engine's enums), so recording on the hit path
//! is one relaxed atomic add and no map lookup or allocation.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::engine::{BypassReason, FillOutcome, InvalidationScope};

/// Upper bounds of the latency histogram buckets, in microseconds.
const LATENCY_BUCKETS_US: [u64; 14] = [
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 250_000, 1_000_000,
];

/// A fixed-bucket histogram of durations.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        if let Some(i) = LATENCY_BUCKETS_US.iter().position(|b| us <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
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
        for (i, upper) in LATENCY_BUCKETS_US.iter().enumerate() {
            let n = self.buckets[i].load(Ordering::Relaxed);
            if n > 0 && (below + n) as f64 >= rank {
                let within = (rank - below as f64) / n as f64;
                let us = lower as f64 + within * (*upper - lower) as f64;
                return Duration::from_micros(us as u64);
            }
            below += n;
            lower = *upper;
        }
        Duration::from_micros(lower)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, le) in LATENCY_BUCKETS_US.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let le = *le as f64 / 1e6;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// Figures of one cache (one origin).
#[derive(Debug, Default)]
pub struct CacheMetrics {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub bypasses: [AtomicU64; BypassReason::ALL.len()],
    pub fills: [AtomicU64; FillOutcome::ALL.len()],
    pub invalidations_table: AtomicU64,
    pub invalidations_database: AtomicU64,
    pub catalog_queries: AtomicU64,
    pub refreshes: AtomicU64,
    pub client_connections: AtomicI64,
    pub client_connections_total: AtomicU64,
    pub origin_connections: AtomicI64,
    pub origin_connect_errors: AtomicU64,
    pub hit_latency: Histogram,
}

impl CacheMetrics {
    pub fn bypass(&self, reason: BypassReason) {
        self.bypasses[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn fill(&self, outcome: FillOutcome) {
        self.fills[outcome.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn invalidation(&self, scope: InvalidationScope) {
        match scope {
            InvalidationScope::Table => &self.invalidations_table,
            InvalidationScope::Database => &self.invalidations_database,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Global gauges of the store, read when rendering.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreFigures {
    pub entries: u64,
    pub bytes: u64,
    pub max_bytes: u64,
}

fn help(out: &mut String, name: &str, kind: &str, text: &str) {
    let _ = writeln!(out, "# HELP {name} {text}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Renders the Prometheus text exposition of every cache's figures.
pub fn render(caches: &[(&str, &CacheMetrics)], store: StoreFigures) -> String {
    let mut out = String::with_capacity(8 * 1024);
    type Series = (
        &'static str,
        &'static str,
        &'static str,
        fn(&CacheMetrics) -> i64,
    );
    let simple: [Series; 8] = [
        (
            "wirecache_refreshes_total",
            "counter",
            "Entries refreshed ahead of expiry.",
            |m| m.refreshes.load(Ordering::Relaxed) as i64,
        ),
        (
            "wirecache_hits_total",
            "counter",
            "Queries answered from the cache.",
            |m| m.hits.load(Ordering::Relaxed) as i64,
        ),
        (
            "wirecache_misses_total",
            "counter",
            "Cacheable queries sent to the origin.",
            |m| m.misses.load(Ordering::Relaxed) as i64,
        ),
        (
            "wirecache_catalog_queries_total",
            "counter",
            "Catalog look-ups sent to the origin.",
            |m| m.catalog_queries.load(Ordering::Relaxed) as i64,
        ),
        (
            "wirecache_client_connections",
            "gauge",
            "Open client connections.",
            |m| m.client_connections.load(Ordering::Relaxed),
        ),
        (
            "wirecache_client_connections_total",
            "counter",
            "Client connections accepted.",
            |m| m.client_connections_total.load(Ordering::Relaxed) as i64,
        ),
        (
            "wirecache_origin_connections",
            "gauge",
            "Open origin connections.",
            |m| m.origin_connections.load(Ordering::Relaxed),
        ),
        (
            "wirecache_origin_connect_errors_total",
            "counter",
            "Failed origin connection attempts.",
            |m| m.origin_connect_errors.load(Ordering::Relaxed) as i64,
        ),
    ];
    for (name, kind, text, get) in simple {
        help(&mut out, name, kind, text);
        for (id, m) in caches {
            let _ = writeln!(out, "{name}{{cache=\"{id}\"}} {}", get(m));
        }
    }
    let name = "wirecache_invalidations_total";
    help(&mut out, name, "counter", "Invalidations by scope.");
    for (id, m) in caches {
        for (scope, c) in [
            (InvalidationScope::Table, &m.invalidations_table),
            (InvalidationScope::Database, &m.invalidations_database),
        ] {
            let v = c.load(Ordering::Relaxed);
            let s = scope.as_str();
            let _ = writeln!(out, "{name}{{cache=\"{id}\",scope=\"{s}\"}} {v}");
        }
    }
    help(
        &mut out,
        "wirecache_bypasses_total",
        "counter",
        "Queries sent to the origin uncached, by reason.",
    );
    for (id, m) in caches {
        for r in BypassReason::ALL {
            let v = m.bypasses[r.index()].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "wirecache_bypasses_total{{cache=\"{id}\",reason=\"{}\"}} {v}",
                r.as_str()
            );
        }
    }
    help(
        &mut out,
        "wirecache_fills_total",
        "counter",
        "Attempts to store a result, by outcome.",
    );
    for (id, m) in caches {
        for o in FillOutcome::ALL {
            let v = m.fills[o.index()].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "wirecache_fills_total{{cache=\"{id}\",outcome=\"{}\"}} {v}",
                o.as_str()
            );
        }
    }
    help(
        &mut out,
        "wirecache_hit_latency_seconds",
        "histogram",
        "Time from a request's arrival to its cached answer being queued.",
    );
    for (id, m) in caches {
        m.hit_latency.render(
            &mut out,
            "wirecache_hit_latency_seconds",
            &format!("cache=\"{id}\""),
        );
    }
    help(
        &mut out,
        "wirecache_cache_entries",
        "gauge",
        "Entries in the result store.",
    );
    let _ = writeln!(out, "wirecache_cache_entries {}", store.entries);
    help(
        &mut out,
        "wirecache_cache_bytes",
        "gauge",
        "Bytes held by the result store (keys and results).",
    );
    let _ = writeln!(out, "wirecache_cache_bytes {}", store.bytes);
    help(
        &mut out,
        "wirecache_cache_max_bytes",
        "gauge",
        "Configured max_memory.",
    );
    let _ = writeln!(out, "wirecache_cache_max_bytes {}", store.max_bytes);
    out
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

    /// A state with every kind of series non-zero in two caches.
    fn known_state() -> (CacheMetrics, CacheMetrics, StoreFigures) {
        let a = CacheMetrics::default();
        let b = CacheMetrics::default();
        for (i, m) in [&a, &b].into_iter().enumerate() {
            let k = i as u64 + 1;
            m.hits.fetch_add(11 * k, Ordering::Relaxed);
            m.misses.fetch_add(7 * k, Ordering::Relaxed);
            m.invalidations_table.fetch_add(3 * k, Ordering::Relaxed);
            m.invalidations_database.fetch_add(k, Ordering::Relaxed);
            m.catalog_queries.fetch_add(5 * k, Ordering::Relaxed);
            m.refreshes.fetch_add(2 * k, Ordering::Relaxed);
            m.client_connections
                .fetch_add(4 - 6 * i as i64, Ordering::Relaxed);
            m.client_connections_total
                .fetch_add(40 * k, Ordering::Relaxed);
            m.origin_connections
                .fetch_add(2 * k as i64, Ordering::Relaxed);
            m.origin_connect_errors.fetch_add(k, Ordering::Relaxed);
            for (j, c) in m.bypasses.iter().enumerate() {
                c.fetch_add((j as u64 + 1) * k, Ordering::Relaxed);
            }
            for (j, c) in m.fills.iter().enumerate() {
                c.fetch_add((j as u64 * 3 + 1) * k, Ordering::Relaxed);
            }
            for us in [1, 5, 7, 60, 333, 2_400, 9_999, 123_456, 2_000_000] {
                m.hit_latency.record(Duration::from_micros(us * k));
            }
        }
        let store = StoreFigures {
            entries: 1234,
            bytes: 987_654,
            max_bytes: 1 << 30,
        };
        (a, b, store)
    }

    /// The exposition of [`known_state`], byte for byte as the renderer wrote it before
    /// it became table-driven.
    const KNOWN_STATE: &str = include_str!("metrics/known_state.prom");

    #[test]
    fn renders_known_state_byte_identical() {
        let (a, b, store) = known_state();
        let text = render(&[("demo", &a), ("other-db", &b)], store);
        if std::env::var_os("WIRECACHE_WRITE_FIXTURE").is_some() {
            std::fs::write("src/metrics/known_state.prom", &text).unwrap();
        }
        assert_eq!(text, KNOWN_STATE);
    }

    #[test]
    fn renders_counters_and_histogram() {
        let m = CacheMetrics::default();
        m.hits.fetch_add(3, Ordering::Relaxed);
        m.bypass(BypassReason::InTransaction);
        m.hit_latency.record(Duration::from_micros(7));
        let text = render(&[("demo", &m)], StoreFigures::default());
        assert!(text.contains("wirecache_hits_total{cache=\"demo\"} 3"));
        assert!(
            text.contains("wirecache_bypasses_total{cache=\"demo\",reason=\"in_transaction\"} 1")
        );
        assert!(
            text.contains("wirecache_hit_latency_seconds_bucket{cache=\"demo\",le=\"0.00001\"} 1")
        );
        assert!(text.contains("wirecache_hit_latency_seconds_count{cache=\"demo\"} 1"));
    }
}
