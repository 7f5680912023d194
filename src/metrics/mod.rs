//! The Prometheus text exposition for `/metrics`: a table of every metric (name, type,
//! help and how to read its samples) over the figures of [`crate::stats`]. It only
//! reads; recording is the engine's, into the stats.

mod cluster;

pub use cluster::render_cluster;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::pool::metrics::{ConnState, PinReason};
use crate::stats::{
    BypassReason, CacheMetrics, FillOutcome, Histogram, InvalidationScope, OriginFault, Refusal,
};

/// Global gauges of the store, read when rendering.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreFigures {
    pub entries: u64,
    pub bytes: u64,
    pub max_bytes: u64,
}

/// One metric of the exposition.
struct Metric {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: Samples,
}

/// How a metric's samples are read.
enum Samples {
    /// One sample per cache: `name{cache="…"} v`.
    PerCache(fn(&CacheMetrics) -> i64),
    /// One sample per cache and label value: `name{cache="…",label="…"} v`, the
    /// values being a reason enum's variants (`ALL[i]` read at counter `i`).
    PerLabel {
        label: &'static str,
        count: usize,
        value: fn(usize) -> &'static str,
        read: fn(&CacheMetrics, usize) -> u64,
    },
    /// A histogram per cache.
    Histogram(fn(&CacheMetrics) -> &Histogram),
    /// One sample of the store, unlabelled.
    Store(fn(&StoreFigures) -> u64),
}

fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// The `i`th counter of a per-label array (0 past its end).
fn load_at(counters: &[AtomicU64], i: usize) -> u64 {
    counters.get(i).map_or(0, load)
}

/// The label of the `i`th value of a reason enum ("" past its end).
fn label_at<T: Copy>(all: &[T], i: usize, as_str: fn(T) -> &'static str) -> &'static str {
    all.get(i).copied().map_or("", as_str)
}

/// Every metric, in the order of the exposition.
const METRICS: [Metric; 31] = [
    Metric {
        name: "wirecache_refreshes_total",
        kind: "counter",
        help: "Entries refreshed ahead of expiry.",
        samples: Samples::PerCache(|m| load(&m.refreshes) as i64),
    },
    Metric {
        name: "wirecache_hits_total",
        kind: "counter",
        help: "Queries answered from the cache.",
        samples: Samples::PerCache(|m| load(&m.hits) as i64),
    },
    Metric {
        name: "wirecache_hits_in_transaction_total",
        kind: "counter",
        help: "Queries answered from the cache inside a transaction (also in hits).",
        samples: Samples::PerCache(|m| load(&m.hits_in_transaction) as i64),
    },
    Metric {
        name: "wirecache_misses_total",
        kind: "counter",
        help: "Cacheable queries sent to the origin.",
        samples: Samples::PerCache(|m| load(&m.misses) as i64),
    },
    Metric {
        name: "wirecache_catalog_queries_total",
        kind: "counter",
        help: "Catalog look-ups sent to the origin.",
        samples: Samples::PerCache(|m| load(&m.catalog_queries) as i64),
    },
    Metric {
        name: "wirecache_client_connections",
        kind: "gauge",
        help: "Open client connections.",
        samples: Samples::PerCache(|m| m.client_connections.load(Ordering::Relaxed)),
    },
    Metric {
        name: "wirecache_client_connections_total",
        kind: "counter",
        help: "Client connections accepted.",
        samples: Samples::PerCache(|m| load(&m.client_connections_total) as i64),
    },
    Metric {
        name: "wirecache_origin_connections",
        kind: "gauge",
        help: "Open origin connections.",
        samples: Samples::PerCache(|m| m.origin_connections.load(Ordering::Relaxed)),
    },
    Metric {
        name: "wirecache_origin_connect_errors_total",
        kind: "counter",
        help: "Failed origin connection attempts.",
        samples: Samples::PerCache(|m| load(&m.origin_connect_errors) as i64),
    },
    Metric {
        name: "wirecache_origin_up",
        kind: "gauge",
        help: "1 while the origin is reachable as far as wirecache has seen, 0 while it is down.",
        samples: Samples::PerCache(|m| i64::from(m.origin.is_up())),
    },
    Metric {
        name: "wirecache_origin_down_since_seconds",
        kind: "gauge",
        help: "Unix time the origin went down; 0 while it is up.",
        samples: Samples::PerCache(|m| {
            let since = m.origin.view().down_since;
            let secs = since.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            secs.map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        }),
    },
    Metric {
        name: "wirecache_origin_last_fault",
        kind: "gauge",
        help: "1 for the kind of the last origin failure seen (it stays after recovery).",
        samples: Samples::PerLabel {
            label: "kind",
            count: OriginFault::ALL.len(),
            value: |i| label_at(OriginFault::ALL, i, OriginFault::as_str),
            read: |m, i| u64::from(m.origin.view().last_fault == OriginFault::ALL.get(i).copied()),
        },
    },
    Metric {
        name: "wirecache_sessions_offline_total",
        kind: "counter",
        help: "Sessions that lost their origin connection at rest and went on answering from the cache.",
        samples: Samples::PerCache(|m| load(&m.sessions_offline) as i64),
    },
    Metric {
        name: "wirecache_stale_served_total",
        kind: "counter",
        help: "Answers past their TTL (within serve_stale) served while the origin was unreachable.",
        samples: Samples::PerCache(|m| load(&m.stale_served) as i64),
    },
    Metric {
        name: "wirecache_unavailable_total",
        kind: "counter",
        help: "Requests answered with the protocol's retryable unavailable error (origin connection lost).",
        samples: Samples::PerCache(|m| load(&m.unavailable) as i64),
    },
    Metric {
        name: "wirecache_query_timeouts_total",
        kind: "counter",
        help: "Origin queries that ran past query_timeout.",
        samples: Samples::PerCache(|m| load(&m.query_timeouts) as i64),
    },
    Metric {
        name: "wirecache_cancellations_total",
        kind: "counter",
        help: "Cancel requests wirecache sent to the origin (query timeout, client gone mid-answer).",
        samples: Samples::PerCache(|m| load(&m.cancellations) as i64),
    },
    Metric {
        name: "wirecache_connection_queue",
        kind: "gauge",
        help: "Clients waiting for a place under the connection limits.",
        samples: Samples::PerCache(|m| m.connection_queue.load(Ordering::Relaxed)),
    },
    Metric {
        name: "wirecache_connections_refused_total",
        kind: "counter",
        help: "Clients refused with too many connections (53300, 1040), by reason.",
        samples: Samples::PerLabel {
            label: "reason",
            count: Refusal::ALL.len(),
            value: |i| label_at(Refusal::ALL, i, Refusal::as_str),
            read: |m, i| load_at(&m.connections_refused, i),
        },
    },
    Metric {
        name: "wirecache_idle_closed_total",
        kind: "counter",
        help: "Clients closed after limits.idle_timeout without a request.",
        samples: Samples::PerCache(|m| load(&m.idle_closed) as i64),
    },
    Metric {
        name: "wirecache_invalidations_total",
        kind: "counter",
        help: "Invalidations by scope.",
        samples: Samples::PerLabel {
            label: "scope",
            count: InvalidationScope::ALL.len(),
            value: |i| label_at(InvalidationScope::ALL, i, InvalidationScope::as_str),
            read: |m, i| {
                let scope = InvalidationScope::ALL.get(i).copied();
                scope.map_or(0, |s| load(m.invalidations(s)))
            },
        },
    },
    Metric {
        name: "wirecache_bypasses_total",
        kind: "counter",
        help: "Queries sent to the origin uncached, by reason.",
        samples: Samples::PerLabel {
            label: "reason",
            count: BypassReason::ALL.len(),
            value: |i| label_at(BypassReason::ALL, i, BypassReason::as_str),
            read: |m, i| load_at(&m.bypasses, i),
        },
    },
    Metric {
        name: "wirecache_fills_total",
        kind: "counter",
        help: "Attempts to store a result, by outcome.",
        samples: Samples::PerLabel {
            label: "outcome",
            count: FillOutcome::ALL.len(),
            value: |i| label_at(FillOutcome::ALL, i, FillOutcome::as_str),
            read: |m, i| load_at(&m.fills, i),
        },
    },
    Metric {
        name: "wirecache_hit_latency_seconds",
        kind: "histogram",
        help: "Time from a request's arrival to its cached answer being queued.",
        samples: Samples::Histogram(|m| &m.hit_latency),
    },
    Metric {
        name: "wirecache_cache_entries",
        kind: "gauge",
        help: "Entries in the result store.",
        samples: Samples::Store(|s| s.entries),
    },
    Metric {
        name: "wirecache_cache_bytes",
        kind: "gauge",
        help: "Bytes held by the result store (keys and results).",
        samples: Samples::Store(|s| s.bytes),
    },
    Metric {
        name: "wirecache_cache_max_bytes",
        kind: "gauge",
        help: "Configured max_memory.",
        samples: Samples::Store(|s| s.max_bytes),
    },
    Metric {
        name: "wirecache_pool_connections",
        kind: "gauge",
        help: "Pooled mode's origin connections, by state.",
        samples: Samples::PerLabel {
            label: "state",
            count: ConnState::ALL.len(),
            value: |i| label_at(&ConnState::ALL, i, ConnState::as_str),
            read: |m, i| {
                let state = ConnState::ALL.get(i).copied();
                state.map_or(0, |s| u64::try_from(m.pool.connections(s)).unwrap_or(0))
            },
        },
    },
    Metric {
        name: "wirecache_pool_pinned_sessions",
        kind: "gauge",
        help: "Sessions in transaction pooling pinned to their origin connection, by reason.",
        samples: Samples::PerLabel {
            label: "reason",
            count: PinReason::ALL.len(),
            value: |i| label_at(&PinReason::ALL, i, PinReason::as_str),
            read: |m, i| {
                let reason = PinReason::ALL.get(i).copied();
                reason.map_or(0, |r| u64::try_from(m.pool.pinned.get(r)).unwrap_or(0))
            },
        },
    },
    Metric {
        name: "wirecache_pool_waiting",
        kind: "gauge",
        help: "Clients waiting for an origin connection of a full pool.",
        samples: Samples::PerCache(|m| m.pool.waiting.get()),
    },
    Metric {
        name: "wirecache_pool_wait_seconds",
        kind: "histogram",
        help: "How long clients waited for a place in their pool.",
        samples: Samples::Histogram(|m| &m.pool.wait),
    },
];

/// Renders the Prometheus text exposition of every cache's figures.
pub fn render(caches: &[(&str, &CacheMetrics)], store: StoreFigures) -> String {
    let mut out = String::with_capacity(8 * 1024);
    for metric in &METRICS {
        let name = metric.name;
        let _ = writeln!(out, "# HELP {name} {}", metric.help);
        let _ = writeln!(out, "# TYPE {name} {}", metric.kind);
        metric.samples.write(&mut out, name, caches, &store);
    }
    out
}

impl Samples {
    fn write(
        &self,
        out: &mut String,
        name: &str,
        caches: &[(&str, &CacheMetrics)],
        store: &StoreFigures,
    ) {
        match self {
            Self::PerCache(read) => {
                for (id, m) in caches {
                    let _ = writeln!(out, "{name}{{cache=\"{id}\"}} {}", read(m));
                }
            }
            Self::PerLabel {
                label,
                count,
                value,
                read,
            } => {
                for (id, m) in caches {
                    for i in 0..*count {
                        let (v, n) = (value(i), read(m, i));
                        let _ = writeln!(out, "{name}{{cache=\"{id}\",{label}=\"{v}\"}} {n}");
                    }
                }
            }
            Self::Histogram(read) => {
                for (id, m) in caches {
                    histogram(out, name, &format!("cache=\"{id}\""), read(m));
                }
            }
            Self::Store(read) => {
                let _ = writeln!(out, "{name} {}", read(store));
            }
        }
    }
}

/// A histogram's cumulative buckets (bounds in seconds), sum and count.
fn histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    let mut cumulative = 0;
    for (le_us, n) in h.buckets() {
        cumulative += n;
        let le = le_us as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
    }
    let count = h.count();
    let sum = h.sum_us() as f64 / 1e6;
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
    let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
    let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
}

#[cfg(test)]
mod tests;
