//! A session's part in the cluster bus (design §10): a write's acknowledgement
//! reaches the client only once its invalidation is recorded in Redis, and hits
//! are served only where the mode allows (bounded: while the bus is up, or within
//! its stale window; strict: once the bus vouched, after the client's bytes at hand
//! arrived, that every bump recorded before is applied here).

use super::Core;
use crate::cluster::{BusState, Found, L2Miss, Want, l2, wire};
use crate::config::ClusterMode;
use crate::engine::FillTicket;
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

    /// The leader of a fill, before it asks the origin: asks the shared result tier
    /// (where the session could be served a local hit) and stores a current answer
    /// locally (true: look the key up again). Otherwise keeps what the fill will
    /// write to the tier, stamped with the shared generations read now, before the
    /// origin query (as the local ticket was), so a write racing the fill can never
    /// leave a pre-write result looking current there.
    pub(super) async fn ask_shared_tier(&mut self, ticket: &FillTicket) -> bool {
        let Some(cluster) = self.engine.cluster().cloned() else {
            return false;
        };
        let (Some(deps), Some(material)) = (ticket.shared_deps(), self.namespace.material()) else {
            return false;
        };
        let (cache, db) = (&*self.scope.cache.id, &*self.scope.db_name);
        let fields = l2::fields_of(deps.iter().map(|d| &**d));
        let member = wire::member(cache, db);
        let want = Want {
            member: &member,
            fields: &fields,
        };
        let key = l2::shared_key(cache, db, material.as_bytes(), self.key.request());
        let Some(pending) = cluster.l2_pending(self.key.as_slice(), key, &want) else {
            return false;
        };
        let Some(l2) = cluster.l2() else {
            return false;
        };
        if !self.cluster_allows_hits() {
            l2.figures.miss(L2Miss::Unavailable);
        } else if let Found::Hit(entry) = cluster.l2_lookup(pending.key(), &want).await {
            let (scope, local) = (&self.scope, self.key.as_slice());
            if self
                .engine
                .install_shared(scope, ticket, local, entry.payload(), entry.ttl)
            {
                l2.figures.hit();
                return true;
            }
            // A write moved this instance's counters meanwhile.
            l2.figures.miss(L2Miss::Stale);
        }
        self.l2_pending = Some(pending);
        false
    }

    /// At the session's end: waits for what is being recorded; a strict session
    /// whose recording failed writes none of its queued output.
    pub async fn settle(&mut self) {
        if !self.recordings.is_empty() && self.recorded().await.is_err() {
            self.io.client.outbox.clear();
        }
    }
}
