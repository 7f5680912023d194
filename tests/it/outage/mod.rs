//! Origin outages (issue 15): a session whose origin connection is lost at rest stays
//! open, answers what the cache holds (entries past their TTL within `serve_stale`,
//! never one a write invalidated) and gives everything else the protocol's retryable
//! "unavailable" error at once; a session in a transaction is told and closed; new
//! logins get a connection error; once the origin is back, offline sessions close and
//! new ones work. Against real origins, cut by a [`link::Link`] or stopped.
//! `timeouts`: `query_timeout` (cancel, then give up on a stalled origin), a client
//! gone mid-query, and the login deadline.

pub mod link;
mod mysql;
mod postgres;
mod timeouts;

use std::time::Duration;

/// A hang guard, not a timing assertion: every answer must come well within it, even
/// on a loaded machine.
pub const GUARD: Duration = Duration::from_secs(30);

/// Awaits `f` within [`GUARD`], or panics naming `what`.
pub async fn guarded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {GUARD:?} (a hang)"))
}
