//! The exposition, byte for byte.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::*;
use crate::stats::BypassReason;

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
        m.stale_served.fetch_add(6 * k, Ordering::Relaxed);
        m.unavailable.fetch_add(8 * k, Ordering::Relaxed);
        m.sessions_offline.fetch_add(9 * k, Ordering::Relaxed);
        m.query_timeouts.fetch_add(12 * k, Ordering::Relaxed);
        m.cancellations.fetch_add(13 * k, Ordering::Relaxed);
        if i == 1 {
            // Down once and back: up, with its last fault.
            m.origin.down(crate::stats::OriginFault::Refused);
            m.origin.up();
        }
        m.connection_queue
            .fetch_add(3 * k as i64, Ordering::Relaxed);
        for (j, c) in m.connections_refused.iter().enumerate() {
            c.fetch_add((j as u64 + 2) * k, Ordering::Relaxed);
        }
        m.idle_closed.fetch_add(9 * k, Ordering::Relaxed);
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
const KNOWN_STATE: &str = include_str!("known_state.prom");

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
    assert!(text.contains("wirecache_bypasses_total{cache=\"demo\",reason=\"in_transaction\"} 1"));
    assert!(text.contains("wirecache_hit_latency_seconds_bucket{cache=\"demo\",le=\"0.00001\"} 1"));
    assert!(text.contains("wirecache_hit_latency_seconds_count{cache=\"demo\"} 1"));
}
