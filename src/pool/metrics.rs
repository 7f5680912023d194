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

/// Why a session in transaction pooling keeps its origin connection for the rest of
/// its life (state that cannot move to another connection), for
/// `wirecache_pool_pinned_sessions{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinReason {
    /// `CREATE TEMP …`, `SELECT … INTO TEMP`: a table of this backend's.
    TempTable,
    /// A session-level advisory lock (`pg_advisory_lock`, `pg_try_advisory_lock`).
    AdvisoryLock,
    /// `LISTEN`: notifications arrive on this backend.
    Listen,
    /// A cursor `WITH HOLD` outlives its transaction on this backend.
    HoldCursor,
    /// SQL `PREPARE` (the protocol's named statements move; SQL ones do not).
    SqlPrepare,
    /// `SET SESSION AUTHORIZATION`, `set_config(…, false)` and other session state
    /// that is not followed.
    UntrackedState,
    /// MySQL user variables (`@x`), for the MySQL pool.
    UserVariables,
    /// MySQL `GET_LOCK()`: a named lock held by this connection.
    NamedLock,
    /// MySQL `LOCK TABLES`: table locks held by this connection.
    TableLock,
    /// MySQL `SQL_CALC_FOUND_ROWS` / `FOUND_ROWS()`: the previous statement's row count.
    FoundRows,
    /// MySQL COM_STMT_EXECUTE with a cursor: rows are fetched from this connection.
    Cursor,
    /// MySQL: the previous statement's warnings or errors (or a `ROW_COUNT()` the
    /// session reads) are on this connection; held until they are gone, not for
    /// the session's life.
    Diagnostics,
}

impl PinReason {
    pub const ALL: [PinReason; 12] = [
        PinReason::TempTable,
        PinReason::AdvisoryLock,
        PinReason::Listen,
        PinReason::HoldCursor,
        PinReason::SqlPrepare,
        PinReason::UntrackedState,
        PinReason::UserVariables,
        PinReason::NamedLock,
        PinReason::TableLock,
        PinReason::FoundRows,
        PinReason::Cursor,
        PinReason::Diagnostics,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PinReason::TempTable => "temp_table",
            PinReason::AdvisoryLock => "advisory_lock",
            PinReason::Listen => "listen",
            PinReason::HoldCursor => "hold_cursor",
            PinReason::SqlPrepare => "sql_prepare",
            PinReason::UntrackedState => "untracked_state",
            PinReason::UserVariables => "user_variables",
            PinReason::NamedLock => "named_lock",
            PinReason::TableLock => "table_lock",
            PinReason::FoundRows => "found_rows",
            PinReason::Cursor => "cursor",
            PinReason::Diagnostics => "diagnostics",
        }
    }

    fn index(self) -> usize {
        PinReason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// Sessions pinned now, by reason.
#[derive(Debug, Default)]
pub struct Pinned([Gauge; PinReason::ALL.len()]);

impl Pinned {
    pub fn up(&self, reason: PinReason) {
        if let Some(g) = self.0.get(reason.index()) {
            g.up();
        }
    }

    pub fn down(&self, reason: PinReason) {
        if let Some(g) = self.0.get(reason.index()) {
            g.down();
        }
    }

    pub fn get(&self, reason: PinReason) -> i64 {
        self.0.get(reason.index()).map_or(0, Gauge::get)
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
    /// Sessions pinned to their connection now, by reason (transaction pooling).
    pub pinned: Pinned,
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
