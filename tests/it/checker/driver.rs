//! The seam between the protocol-agnostic checker and one wire protocol. A
//! protocol provides a [`Target`] (schema, connections through wirecache, the
//! truth straight from the origin, the proxy's hit counter) whose [`Session`]s run
//! the checker's statements in that protocol's SQL and drivers. Plugging in a new
//! protocol (SQL Server) means writing these two impls and nothing else.

use std::collections::HashMap;
use std::future::Future;

use super::model::{BeginKind, Caps, Failure, Level, Reply, SnapshotRule, State, Stmt};

/// How wirecache is set up in front of the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rig {
    /// As deployed: every statement through wirecache, whose cache has the default
    /// policy (`transactions = "read_committed"`).
    Plain,
    /// Writes go straight to the origin, behind wirecache's back (a self-test).
    WritesBehind,
    /// The cache has `transactions = "always"`, which serves REPEATABLE READ and
    /// SERIALIZABLE transactions and so weakens their snapshot (a self-test).
    ServeSnapshots,
    /// Three instances sharing a private Redis in strict mode; client connection `n`
    /// goes through instance `n % 3`.
    Cluster,
    /// The same three instances with the shared result tier on (`cluster.l2`).
    ClusterL2,
    /// Three instances with no bus between them (a self-test: stale reads across
    /// instances).
    Apart,
}

impl Rig {
    /// The lines the cache's table gets.
    pub fn cache_lines(self) -> &'static str {
        match self {
            Rig::ServeSnapshots => "transactions = \"always\"",
            Rig::Plain | Rig::WritesBehind | Rig::Cluster | Rig::ClusterL2 | Rig::Apart => "",
        }
    }
}

/// One client connection through wirecache.
pub trait Session: Send + 'static {
    /// Sends one statement (or batch) and classifies its answer.
    fn run(&mut self, stmt: &Stmt) -> impl Future<Output = Result<Reply, Failure>> + Send;

    /// The isolation level of a transaction begun this way.
    fn level(&self, begin: BeginKind) -> Level;

    /// What reads inside a transaction begun this way must reflect: how the origin
    /// runs its level.
    fn snapshot_rule(&self, begin: BeginKind) -> SnapshotRule;
}

/// One protocol's wirecache-plus-origin under test.
pub trait Target: Send + Sync + 'static {
    type Session: Session;

    /// `postgres`, `mariadb`, …
    fn name(&self) -> &'static str;

    fn caps(&self) -> Caps;

    /// Opens client connection number `conn` through wirecache (or, in the
    /// self-test mode, with writes going straight to the origin behind its back).
    fn connect(&self, conn: usize) -> impl Future<Output = Result<Self::Session, Failure>> + Send;

    /// The committed state of every key, read straight from the origin.
    fn truth(&self) -> impl Future<Output = Result<HashMap<i64, State>, Failure>> + Send;

    /// Reads the proxy answered from its cache so far.
    fn hits(&self) -> impl Future<Output = f64> + Send;

    /// The cache's lines of the proxy's `/metrics` (hits, misses, fills, bypasses
    /// by reason, invalidations), for the run's summary.
    fn cache_metrics(&self) -> impl Future<Output = String> + Send;

    /// The SQL text of a statement as this protocol sends it (for histories and
    /// replay scripts; prepared statements show their parameters).
    fn render(&self, stmt: &Stmt) -> String;

    /// The chance, in percent, that a client ends its session at rest before its next
    /// statement and logs in again (pooled mode: backends change hands); 0 by default.
    fn reconnect_percent(&self) -> u64 {
        0
    }
}
