//! A session whose origin connection is lost (the origin stopped, crashed, or the
//! network between them broke) while the session was at rest: between requests,
//! outside a transaction, nothing collected. Such a session stays open and goes on
//! without an origin: reads found in the cache are answered (also entries past their
//! TTL, within the cache's `serve_stale`), and everything else gets the protocol's
//! retryable "unavailable" error at once (`protocol::drive` makes the origin's
//! answers from the protocol's `unavailable_answer`).
//!
//! A session that loses its origin connection with anything in flight or a
//! transaction open cannot go on (the transaction, or the answer, is gone): it ends
//! with the protocol's connection-failure error, as before.
//!
//! Authentication is passed through, so wirecache holds no password or SCRAM secret
//! with which it could log the session in again: once the origin is reachable again
//! the offline session is closed at rest, and the client's next connection logs in
//! normally. Whether the origin is reachable is learned by the cache's prober (one TCP
//! connect a second per cache while it is recorded down) or by any login that
//! reaches it.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::net::TcpStream;

use super::Core;
use crate::engine::{CacheCtx, OriginLink};
use crate::stats::OriginFault;

/// How often a cache whose origin is recorded down is probed; also the delay before
/// the first probe, so that an origin shutting down (still accepting connections for
/// a moment after it has cut its sessions) is not taken for one that is back.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

impl<A> Core<A> {
    /// The origin connection is gone (`fault` says how). True: the session was at rest
    /// and goes on without it. False: something was in flight or a transaction was
    /// open, and the session must end.
    pub fn lose_origin(&mut self, fault: OriginFault) -> bool {
        origin_down(&self.scope.cache, fault);
        let resting = self.pending.is_empty() && self.fill.is_none() && !self.txn.is_open();
        if !resting {
            return false;
        }
        // A refresh ahead of expiry in flight is dropped, never stored.
        self.refresh = None;
        self.io.lose_origin();
        self.scope
            .cache
            .metrics
            .sessions_offline
            .fetch_add(1, Relaxed);
        tracing::info!(cache = %self.scope.cache.id, fault = fault.as_str(),
            "origin connection lost; the session goes on answering from the cache");
        true
    }

    /// Whether the session still has its origin connection.
    pub fn origin_link(&self) -> OriginLink {
        if self.io.origin_lost() {
            OriginLink::Lost
        } else {
            OriginLink::Up
        }
    }

    /// Counts a request answered with "unavailable".
    pub fn count_unavailable(&self) {
        self.scope.cache.metrics.unavailable.fetch_add(1, Relaxed);
    }
}

/// Records that `cache`'s origin failed, and probes it until it is reachable again.
pub fn origin_down(cache: &Arc<CacheCtx>, fault: OriginFault) {
    let health = &cache.metrics.origin;
    health.down(fault);
    if health.claim_prober() {
        tokio::spawn(probe(Arc::downgrade(cache)));
    }
}

/// A login's connection to `cache`'s origin failed with `e`: recorded (and probed).
pub fn connect_failed(cache: &Arc<CacheCtx>, e: &crate::protocol::SessionError) {
    use crate::protocol::SessionError as E;
    let fault = match e {
        E::OriginConnect { source, .. } => OriginFault::of_io(source),
        E::OriginTls { .. } => OriginFault::Tls,
        E::Origin(_) => OriginFault::Protocol,
        _ => OriginFault::Io,
    };
    origin_down(cache, fault);
}

/// Probes the origin of a cache recorded down until a connection succeeds (or the
/// cache is gone, or something else recorded it up).
async fn probe(cache: std::sync::Weak<CacheCtx>) {
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let Some(cache) = cache.upgrade() else {
            return;
        };
        let health = &cache.metrics.origin;
        if health.is_up() {
            health.release_prober();
            return;
        }
        let connect = TcpStream::connect(&cache.origin);
        match tokio::time::timeout(cache.connect_timeout, connect).await {
            Ok(Ok(_)) => {
                health.release_prober();
                health.up();
                tracing::info!(cache = %cache.id, "origin reachable again");
                return;
            }
            Ok(Err(e)) => {
                health.down(OriginFault::of_io(&e));
            }
            Err(_) => {
                health.down(OriginFault::TimedOut);
            }
        }
    }
}
