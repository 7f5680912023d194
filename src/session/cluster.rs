//! A session's part in the cluster bus (design §10): a write's acknowledgement
//! reaches the client only once its invalidation is recorded in Redis, and hits
//! are served only where the mode allows (bounded: while the bus is up, or within
//! its stale window; strict: once the bus vouched, after the client's bytes at hand
//! arrived, that every bump recorded before is applied here).

use super::Core;
use crate::cluster::BusState;
use crate::config::ClusterMode;
use crate::protocol::SessionError;

impl<A> Core<A> {
    /// Waits for the invalidations being recorded. One that failed (Redis unreachable
    /// or slower than `ack_timeout`) ends a strict session without the
    /// acknowledgement (the client cannot know the outcome, as after a lost
    /// connection); in bounded mode the acknowledgement goes on and the bump is owed
    /// (without waiting at all while the bus is known to be down).
    pub(super) async fn recorded(&mut self) -> Result<(), SessionError> {
        let Some(cluster) = self.engine.cluster().cloned() else {
            self.recordings.clear();
            return Ok(());
        };
        if cluster.mode() == ClusterMode::Bounded && cluster.state() != BusState::Up {
            // Still recorded in the background, or owed if that fails.
            self.recordings.clear();
            return Ok(());
        }
        let mut all = true;
        for rx in self.recordings.drain(..) {
            let ok = tokio::time::timeout(cluster.ack_timeout(), rx).await;
            all &= matches!(ok, Ok(Ok(true)));
        }
        if all || cluster.mode() == ClusterMode::Bounded {
            return Ok(());
        }
        self.io.client.outbox.clear();
        self.pending.clear();
        Err(SessionError::BusUnavailable)
    }

    /// Before the client's newly arrived requests are handled: in strict mode, asks
    /// the bus to vouch for the local counters (one Redis round trip), unless the
    /// session could not be served from the cache anyway (a transaction that wrote).
    pub async fn cluster_gate(&mut self) {
        let Some(cluster) = self.engine.cluster() else {
            return;
        };
        if self.read_context().is_err() {
            self.vouched = false;
            return;
        }
        self.vouched = cluster.mode() != ClusterMode::Strict || cluster.strict_gate().await;
    }

    /// Whether a local entry may be served now.
    pub(super) fn cluster_allows_hits(&self) -> bool {
        match self.engine.cluster() {
            None => true,
            Some(c) => match c.mode() {
                ClusterMode::Strict => self.vouched,
                ClusterMode::Bounded => c.bounded_allows_hits(),
            },
        }
    }

    /// At the session's end: waits for what is being recorded; a strict session
    /// whose recording failed writes none of its queued output.
    pub async fn settle(&mut self) {
        if !self.recordings.is_empty() && self.recorded().await.is_err() {
            self.io.client.outbox.clear();
        }
    }
}
