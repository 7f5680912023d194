//! One cached result: the origin's bytes, the generations they were read at and the
//! template they belong to. The store ([`crate::cache::Store`]) holds it through
//! [`Cached`]; it lives here, above the store, because it knows templates and snapshots.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::TemplateStats;
use crate::cache::Cached;
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
    /// How long past `ttl` it may answer a session whose origin is unreachable
    /// (the cache's `serve_stale` when stored); the store keeps it that much longer.
    pub serve_stale: Duration,
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

    /// Past its TTL at `now` (kept only for `serve_stale`). Never true when
    /// `serve_stale` is zero: the store drops such an entry at its TTL.
    pub fn is_expired(&self, now: Instant) -> bool {
        !self.serve_stale.is_zero() && now.saturating_duration_since(self.stored_at) >= self.ttl
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

    fn payload_len(&self) -> i64 {
        i64::try_from(self.payload.len()).unwrap_or(i64::MAX)
    }
}

/// The store keeps the template's entry and byte counts.
impl Cached for Entry {
    fn ttl(&self) -> Duration {
        self.ttl
    }

    fn grace(&self) -> Duration {
        self.serve_stale
    }

    fn weight(&self, key_len: usize) -> u32 {
        Entry::weight(self, key_len)
    }

    fn is_fresh(&self) -> bool {
        Entry::is_fresh(self)
    }

    fn on_stored(&self) {
        let t = &self.template;
        t.entries.fetch_add(1, Ordering::Relaxed);
        t.bytes.fetch_add(self.payload_len(), Ordering::Relaxed);
    }

    fn on_removed(&self) {
        let t = &self.template;
        t.entries.fetch_sub(1, Ordering::Relaxed);
        t.bytes.fetch_sub(self.payload_len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Store;
    use crate::cache::ttl::TtlBounds;
    use crate::classify::{Dialect, template};
    use crate::invalidate::DbGenerations;

    fn entry(db: &DbGenerations, template: &Arc<TemplateStats>, len: usize) -> Entry {
        Entry {
            payload: Bytes::from(vec![7u8; len]),
            snapshot: db.snapshot(["t"]),
            ttl: Duration::from_secs(60),
            pinned: false,
            serve_stale: Duration::ZERO,
            stored_at: Instant::now(),
            template: template.clone(),
            hits: Default::default(),
            refreshing: Default::default(),
        }
    }

    #[test]
    fn expiry_is_only_tracked_with_serve_stale() {
        let db = DbGenerations::default();
        let bounds = TtlBounds::new(
            Duration::from_secs(1),
            Duration::from_secs(60),
            Duration::from_secs(60),
        );
        let t = super::super::Templates::default().get_or_register(
            &"c".into(),
            &template(Dialect::Postgres, "select 1"),
            &bounds,
        );
        let mut e = entry(&db, &t, 1);
        let later = e.stored_at + Duration::from_secs(61);
        assert!(!e.is_expired(later), "off: the store drops it at its TTL");
        e.serve_stale = Duration::from_secs(30);
        assert!(!e.is_expired(e.stored_at + Duration::from_secs(59)));
        assert!(e.is_expired(later));
        assert_eq!(Cached::grace(&e), Duration::from_secs(30));
    }

    #[test]
    fn the_template_counts_what_the_store_holds() {
        let db = DbGenerations::default();
        let bounds = TtlBounds::new(
            Duration::from_secs(1),
            Duration::from_secs(60),
            Duration::from_secs(60),
        );
        let t = super::super::Templates::default().get_or_register(
            &"c".into(),
            &template(Dialect::Postgres, "select 1"),
            &bounds,
        );
        let s = Store::new(1 << 20, 1 << 16);
        s.insert(b"a", entry(&db, &t, 10));
        s.insert(b"b", entry(&db, &t, 5));
        s.insert(b"b", entry(&db, &t, 7));
        s.run_pending_tasks();
        assert_eq!(t.entries.load(Ordering::Relaxed), 2);
        assert_eq!(t.bytes.load(Ordering::Relaxed), 17);
        db.bump_tables(["t"]);
        assert!(s.get(b"a").is_none(), "a write makes it stale");
        s.run_pending_tasks();
        assert_eq!(t.entries.load(Ordering::Relaxed), 1);
        assert_eq!(t.bytes.load(Ordering::Relaxed), 7);
    }
}
