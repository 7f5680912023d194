//! The session core: what every caching session does, whatever its protocol.
//!
//! A protocol (`protocol::postgres`, `protocol::mysql`) decodes messages, logs in,
//! recognises where each answer ends and how its transaction status reads, and
//! replays stored answers in its own framing. Everything else a session decides is
//! here, written once:
//!
//! - [`pending`]: the answers owed to the client, strictly in request order (a hit
//!   behind a pipelined request waits for it);
//! - [`lookup`]: the cache key, hits, single-flight, fills and refreshes ahead of
//!   expiry;
//! - [`decide`]: whether the cache may be used now, and planning a miss, with the
//!   catalog round the engine may ask for ([`catalog`]: its queries and answers);
//! - [`effects`]: a write's invalidations at its acknowledgement and again at the end
//!   of its transaction (not after a rollback), and the session's namespace;
//! - [`isolation`]: the isolation level of its transactions and whether the open one
//!   wrote, which decide whether a read inside it may use the cache;
//! - [`gauge`]: the connection gauges of a live session;
//! - [`outage`]: going on without the origin connection, answering from the cache;
//! - [`deadline`]: `query_timeout`, cancelling an origin query that runs too long.
//!
//! A session meets the engine only through [`Core`]: a protocol never sees the
//! store, the single-flight table or the namespace registry.

mod catalog;
mod cluster;
mod deadline;
mod decide;
mod effects;
mod fill;
mod gauge;
mod isolation;
mod lookup;
mod outage;
mod pending;

use std::collections::VecDeque;
use std::sync::Arc;

pub use deadline::Overdue;
pub use decide::{Catalog, decide};
pub use effects::TxnState;
pub use fill::Part;
pub use gauge::{Gauge, span};
pub use lookup::Lead;
pub use outage::{PROBE_EVERY, connect_failed, origin_down};
pub use pending::{Owed, Pending};

use crate::cache::KeyBuilder;
use crate::engine::{CacheCtx, CatalogQuestion, Effects, Engine, Scope, SessionNamespace};
use crate::protocol::Pipes;
use fill::Fill;

/// One session's protocol-independent state. `A` is what the protocol needs to know
/// to recognise the end of one answer (PostgreSQL: the message that ends it; MySQL: a
/// response tracker).
pub struct Core<A> {
    engine: Arc<Engine>,
    scope: Scope,
    /// Login material plus session-changing statements; gives `scope.namespace`.
    namespace: SessionNamespace,
    io: Pipes,
    pending: VecDeque<Pending<A>>,
    key: KeyBuilder,
    fill: Option<Fill>,
    /// A refresh ahead of expiry in flight: its answer is stored, never relayed.
    refresh: Option<(A, Fill)>,
    /// Writes of the open transaction, applied again when it ends.
    txn_effects: Effects,
    txn: TxnState,
    /// The isolation of its transactions, and whether the open one wrote.
    isolation: isolation::Tracking,
    /// Catalog facts this session needed while it could not ask.
    deferred: CatalogQuestion,
    /// Where the oldest owed answer stands against `query_timeout`.
    deadline: deadline::Deadline,
    terminated: bool,
    /// Writes' invalidations being recorded on the cluster bus: the client's output
    /// (their acknowledgements) waits for them.
    recordings: Vec<crate::cluster::Recording>,
    /// Strict cluster mode: the bus vouched for the local counters since the client's
    /// bytes at hand arrived.
    vouched: bool,
    /// What the leader of the fill about to start writes to the shared result tier.
    l2_pending: Option<crate::cluster::Pending>,
}

impl<A> Core<A> {
    /// A session of `cache` on origin database `database` (its generation counters),
    /// starting with `namespace` and transaction state `txn`.
    pub fn new(
        engine: Arc<Engine>,
        cache: Arc<CacheCtx>,
        database: &str,
        namespace: SessionNamespace,
        io: Pipes,
        txn: TxnState,
    ) -> Self {
        let scope = engine.open_scope(cache, database, &namespace);
        Self {
            engine,
            scope,
            namespace,
            io,
            pending: VecDeque::new(),
            key: KeyBuilder::default(),
            fill: None,
            refresh: None,
            txn_effects: Effects::default(),
            txn,
            isolation: isolation::Tracking::default(),
            deferred: CatalogQuestion::default(),
            deadline: deadline::Deadline::default(),
            terminated: false,
            recordings: Vec::new(),
            vouched: false,
            l2_pending: None,
        }
    }

    pub fn io(&mut self) -> &mut Pipes {
        &mut self.io
    }

    /// The session's connections, once it is over.
    pub fn into_io(self) -> Pipes {
        self.io
    }

    /// The engine, for what a login needs (resolving a cache ID).
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    pub fn cache(&self) -> &Arc<CacheCtx> {
        &self.scope.cache
    }

    /// Counts a catalog query of wirecache's own.
    pub fn count_catalog_query(&self) {
        let m = &self.scope.cache.metrics;
        m.catalog_queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Queues bytes for the origin.
    pub fn to_origin(&mut self, bytes: &[u8]) {
        self.io.origin.outbox.extend_from_slice(bytes);
    }

    /// Queues bytes for the client now, ahead of anything still owed.
    pub fn to_client(&mut self, bytes: &[u8]) {
        self.io.client.outbox.extend_from_slice(bytes);
    }

    /// Writes out everything owed that may be sent now.
    pub async fn flush(&mut self) -> Result<(), crate::protocol::SessionError> {
        self.release_local();
        if !self.recordings.is_empty() {
            self.recorded().await?;
        }
        Ok(self.io.flush().await?)
    }

    /// Writes out what the client is owed now (the origin's output stays queued): a
    /// session about to wait for an origin connection first sends the answers it
    /// already has.
    pub async fn flush_client(&mut self) -> Result<(), crate::protocol::SessionError> {
        self.release_local();
        if self.io.client.outbox.is_empty() {
            return Ok(());
        }
        if !self.recordings.is_empty() {
            self.recorded().await?;
        }
        Ok(self.io.client.flush().await?)
    }

    /// The client said goodbye.
    pub fn terminate(&mut self) {
        self.terminated = true;
    }

    pub fn terminated(&self) -> bool {
        self.terminated
    }

    /// Nothing owed, collected or refreshing, no transaction open, no client bytes
    /// waiting: closing now loses the client nothing (the protocol adds its own
    /// conditions).
    pub fn at_rest(&self) -> bool {
        self.pending.is_empty()
            && self.fill.is_none()
            && self.refresh.is_none()
            && !self.txn.is_open()
            && self.io.client.inbox.is_empty()
    }
}
