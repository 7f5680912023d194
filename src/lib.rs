//! wirecache: a caching proxy for database wire protocols.
//!
//! An application changes only its connection string; repeated reads are answered from
//! memory, writes pass through to the origin and invalidate what they change.
//!
//! # The life of one query (PostgreSQL)
//! 1. [`server`] accepts the socket and hands it to [`protocol::postgres`].
//! 2. `protocol::postgres::startup` resolves the cache ID from the user name, connects
//!    to the origin and relays authentication. The session is bound to a namespace
//!    (cache, database, user, result-shaping settings) in its [`session::Core`].
//! 3. [`protocol::drive`] runs the session's loop: it reads what the client and the
//!    origin send and hands each complete message to the protocol's session.
//! 4. The protocol session decodes the request and gives the core its key parts; the
//!    core ([`session`]) asks [`engine::Engine::lookup`], which parses no SQL: a fresh
//!    entry is replayed by the protocol with the live transaction status. Inside a
//!    transaction, the core's isolation tracking says whether the cache may answer
//!    (READ COMMITTED until the transaction's first write, by default).
//! 5. On a miss, [`session::decide`] has [`engine::Engine::plan`] classify the SQL
//!    ([`classify`], memoized) and consult catalog facts (asking the origin's catalog
//!    when needed), and answers `Fill`, `Forward` (with the write's effects) or
//!    `NeedCatalog`. The core leads or follows the key's single flight.
//! 6. The origin's answer streams back to the client and is teed into the core's
//!    bounded fill; at its end the fill is stored only if no table it read was written
//!    meanwhile ([`invalidate`]'s generation counters), and a write's invalidation is
//!    applied before its acknowledgement is passed on, and again at its transaction's
//!    end.
//!
//! When the origin connection is lost while the session is at rest, the session goes
//! on without it (`session::outage`): hits (and entries within `serve_stale` past
//! their TTL) are answered, everything else gets the protocol's retryable
//! "unavailable" error, and the session is closed once the origin is back.
//!
//! MySQL/MariaDB ([`protocol::mysql`]) and SQL Server ([`protocol::tds`]) take the same
//! path with their own codec, login and response tracker: a protocol is only what is
//! specific to its wire format.
//!
//! [`app`] wires config → engine → listeners → admin, and shuts down in order (stop
//! accepting, let each session close once at rest, give up after a grace period).
//! [`cache`] stores opaque bytes. [`latency`] is `wirecache latency-test`: one query timed straight and through wirecache.
//! [`health`] is `wirecache health`, a container's health check.
//! [`cluster`] shares invalidations between instances through Redis/Valkey (`[cluster]`).

// Test functions may be long tables of cases; production functions may not
// (`[lints]` in Cargo.toml, checked on the non-test build).
#![cfg_attr(test, allow(clippy::too_many_lines))]

pub mod admin;
pub mod app;
pub mod cache;
pub mod classify;
pub mod cluster;
pub mod config;
pub mod engine;
pub mod hashing;
pub mod health;
pub mod invalidate;
pub mod latency;
pub mod metrics;
pub mod pool;
pub mod protocol;
pub mod server;
pub mod session;
pub mod stats;

/// The decoders' fuzzing entry points, for the `fuzz/` crate (feature `fuzzing`) and
/// the property tests: each takes arbitrary bytes or text; a panic is a finding.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing {
    pub use crate::classify::fuzz::{classifier, fingerprint};
    pub use crate::protocol::mysql::fuzz as mysql;
    pub use crate::protocol::postgres::fuzz as postgres;
    pub use crate::protocol::tds::fuzz as tds;
}
