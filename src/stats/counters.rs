//! The figures of one cache (one origin).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use super::{BypassReason, FillOutcome, Histogram, InvalidationScope, OriginHealth, Refusal};

/// Figures of one cache (one origin).
#[derive(Debug, Default)]
pub struct CacheMetrics {
    pub hits: AtomicU64,
    /// Hits inside a transaction (also counted in `hits`).
    pub hits_in_transaction: AtomicU64,
    pub misses: AtomicU64,
    /// One counter per reason, at [`BypassReason::index`].
    pub bypasses: [AtomicU64; BypassReason::ALL.len()],
    /// One counter per outcome, at [`FillOutcome::index`].
    pub fills: [AtomicU64; FillOutcome::ALL.len()],
    pub invalidations_table: AtomicU64,
    pub invalidations_database: AtomicU64,
    pub catalog_queries: AtomicU64,
    pub refreshes: AtomicU64,
    pub client_connections: AtomicI64,
    pub client_connections_total: AtomicU64,
    pub origin_connections: AtomicI64,
    pub origin_connect_errors: AtomicU64,
    /// Clients waiting for a place (`server::admission`).
    pub connection_queue: AtomicI64,
    /// One counter per reason, at [`Refusal::index`].
    pub connections_refused: [AtomicU64; Refusal::ALL.len()],
    /// Clients closed for being idle past `limits.idle_timeout`.
    pub idle_closed: AtomicU64,
    pub hit_latency: Histogram,
    /// Whether the origin is up, down since when, and the last fault seen.
    pub origin: OriginHealth,
    /// Answers served from the cache while the origin was unreachable, past their
    /// TTL (within `serve_stale`).
    pub stale_served: AtomicU64,
    /// Requests answered with the protocol's "unavailable" error because the session's
    /// origin connection was lost.
    pub unavailable: AtomicU64,
    /// Sessions that lost their origin connection and went on serving from the cache.
    pub sessions_offline: AtomicU64,
    /// Origin queries that ran past `query_timeout`.
    pub query_timeouts: AtomicU64,
    /// Cancellations sent to the origin by wirecache (query timeout, a client gone
    /// mid-answer).
    pub cancellations: AtomicU64,
    /// Pooled mode's origin connections (`pool`).
    pub pool: std::sync::Arc<crate::pool::PoolMetrics>,
}

impl CacheMetrics {
    pub fn bypass(&self, reason: BypassReason) {
        if let Some(c) = self.bypasses.get(reason.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn refused(&self, reason: Refusal) {
        if let Some(c) = self.connections_refused.get(reason.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn fill(&self, outcome: FillOutcome) {
        if let Some(c) = self.fills.get(outcome.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn invalidation(&self, scope: InvalidationScope) {
        self.invalidations(scope).fetch_add(1, Ordering::Relaxed);
    }

    /// The counter of invalidations of `scope`.
    pub fn invalidations(&self, scope: InvalidationScope) -> &AtomicU64 {
        match scope {
            InvalidationScope::Table => &self.invalidations_table,
            InvalidationScope::Database => &self.invalidations_database,
        }
    }

    pub fn count(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}
