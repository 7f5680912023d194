//! `query_timeout`: how long the origin may take to complete the oldest answer owed
//! (from its request being forwarded, or from the answer before it completing). At
//! the deadline the protocol cancels the origin query (PostgreSQL: a CancelRequest
//! with the session's backend key), and the origin's own error (57014) answers the
//! client; if the origin has still not answered one `query_timeout` later (it is
//! stalled, or the network to it is cut) the session ends with the protocol's
//! timeout error, so that nothing hangs.

use std::sync::atomic::Ordering::Relaxed;

use tokio::time::Instant;

use super::Core;
use crate::protocol::SessionError;

/// What the deadline asks of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overdue {
    /// Cancel the origin query now (once).
    Cancel,
    /// The cancellation went unanswered: end the session.
    GiveUp,
}

/// Where the session stands against `query_timeout`.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    /// When the oldest owed answer became the one awaited.
    pub since: Instant,
    /// A cancellation was sent for it.
    pub cancelled: bool,
}

impl Default for Deadline {
    fn default() -> Self {
        Self {
            since: Instant::now(),
            cancelled: false,
        }
    }
}

impl<A> Core<A> {
    /// The oldest owed answer is now the one awaited (a request forwarded with
    /// nothing before it, or the answer before it completed).
    pub(super) fn restart_deadline(&mut self) {
        if !self.scope.cache.query_timeout.is_zero() {
            self.deadline = Deadline::default();
        }
    }

    /// When the origin is overdue, if a client request is in flight and the cache
    /// has a `query_timeout`.
    pub fn query_deadline(&self) -> Option<Instant> {
        let timeout = self.scope.cache.query_timeout;
        if timeout.is_zero() || self.idle() || self.io.origin_lost() {
            return None;
        }
        let times = if self.deadline.cancelled { 2 } else { 1 };
        Some(self.deadline.since + timeout * times)
    }

    /// The deadline passed: cancel first, give up if that went unanswered.
    pub fn overdue(&mut self) -> Result<Overdue, SessionError> {
        let m = &self.scope.cache.metrics;
        if self.deadline.cancelled {
            tracing::info!(cache = %self.scope.cache.id, "the origin did not answer a cancelled query");
            return Err(SessionError::QueryTimeout(self.scope.cache.query_timeout));
        }
        self.deadline.cancelled = true;
        m.query_timeouts.fetch_add(1, Relaxed);
        Ok(Overdue::Cancel)
    }
}
