//! One cached result: the origin's bytes and the generations they were read at.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::engine::TemplateStats;
use crate::invalidate::Snapshot;

/// A stored result. The payload is a right-sized copy (never a slice of a read buffer,
/// which would keep the whole buffer alive).
#[derive(Debug)]
pub struct Entry {
    pub payload: Bytes,
    /// Generations of the database and of every table read, when the fill started.
    pub snapshot: Snapshot,
    pub ttl: Duration,
    /// The TTL was pinned by a rule (refreshes keep it), not learned.
    pub pinned: bool,
    pub stored_at: Instant,
    /// The template the result belongs to (its figures are updated on hits).
    pub template: Arc<TemplateStats>,
    /// Hits since stored.
    pub hits: AtomicU32,
    /// A refresh ahead of expiry has been started for this entry.
    pub refreshing: AtomicBool,
}

impl Entry {
    /// True while no table the result was read from has been written since.
    pub fn is_fresh(&self) -> bool {
        self.snapshot.is_current()
    }

    /// Counts a hit; returns true when this hit should start a refresh ahead of
    /// expiry: the entry is in the last fifth of its life, has been hit before, and
    /// no refresh was started for it yet (so at most one per entry).
    pub fn on_hit(&self, now: Instant) -> bool {
        let hits = self.hits.fetch_add(1, Ordering::Relaxed) + 1;
        let age = now.saturating_duration_since(self.stored_at);
        hits >= 2
            && age * 5 >= self.ttl * 4
            && age < self.ttl
            && !self.refreshing.swap(true, Ordering::Relaxed)
    }

    /// Bytes charged against `max_memory` for this entry and its key.
    pub fn weight(&self, key_len: usize) -> u32 {
        let overhead = 96 + self.snapshot.len() * 24;
        u32::try_from(self.payload.len() + key_len + overhead).unwrap_or(u32::MAX)
    }
}
