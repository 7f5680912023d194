//! The figures of a cache's pools, summed over its (user, database) pools:
//! connections by state, clients waiting, how long they waited, and why sessions
//! were pinned. `/metrics` renders them (`metrics` module); nothing here reads a clock.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::stats::Histogram;

/// A gauge that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn up(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn down(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A connection's state in its pool, for `wirecache_pool_connections{state}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Lent to a client session.
    Active,
    /// Open and waiting in the pool.
    Idle,
}

impl ConnState {
    pub const ALL: [ConnState; 2] = [ConnState::Active, ConnState::Idle];

    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::Active => "active",
            ConnState::Idle => "idle",
        }
    }
}

/// One cache's pool figures.
#[derive(Debug, Default)]
pub struct PoolMetrics {
    pub active: Gauge,
    pub idle: Gauge,
    /// Clients waiting for a connection of a full pool.
    pub waiting: Gauge,
    /// How long each lease waited for a place in its pool.
    pub wait: Histogram,
    /// Connections opened and closed over the pools' life.
    pub opened: AtomicU64,
    pub closed: AtomicU64,
    /// Clients refused after `pool_queue_timeout`.
    pub queue_timeouts: AtomicU64,
}

impl PoolMetrics {
    pub fn connections(&self, state: ConnState) -> i64 {
        match state {
            ConnState::Active => self.active.get(),
            ConnState::Idle => self.idle.get(),
        }
    }

    pub(super) fn closed(&self) {
        self.closed.fetch_add(1, Ordering::Relaxed);
    }
}
