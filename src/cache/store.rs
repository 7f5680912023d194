//! The bounded result store: moka with a per-entry TTL and a byte weigher.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::Expiry;
use xxhash_rust::xxh3::Xxh3Builder;

use super::Entry;

struct EntryTtl;

impl Expiry<Bytes, Arc<Entry>> for EntryTtl {
    fn expire_after_create(&self, _: &Bytes, value: &Arc<Entry>, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    /// A replaced entry (a refresh, or a refill after invalidation) lives its own TTL,
    /// not what was left of the old one's.
    fn expire_after_update(
        &self,
        _: &Bytes,
        value: &Arc<Entry>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Results by key. Cloning the handle shares the store.
#[derive(Clone)]
pub struct Store {
    inner: moka::sync::Cache<Bytes, Arc<Entry>, Xxh3Builder>,
    max_bytes: u64,
    max_entry: u64,
}

impl Store {
    /// A store holding at most `max_bytes` (keys, results and bookkeeping), refusing
    /// results larger than `max_entry`.
    pub fn new(max_bytes: u64, max_entry: u64) -> Self {
        let seed =
            std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), 0u8);
        let inner = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &Bytes, v: &Arc<Entry>| v.weight(k.len()))
            .expire_after(EntryTtl)
            .eviction_listener(|_key, entry: Arc<Entry>, _cause| {
                let t = &entry.template;
                t.entries.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                let len = i64::try_from(entry.payload.len()).unwrap_or(i64::MAX);
                t.bytes.fetch_sub(len, std::sync::atomic::Ordering::Relaxed);
            })
            .build_with_hasher(Xxh3Builder::new().with_seed(seed));
        Self {
            inner,
            max_bytes,
            max_entry,
        }
    }

    /// A fresh entry for `key`, or `None`. An entry whose tables moved is removed.
    pub fn get(&self, key: &[u8]) -> Option<Arc<Entry>> {
        let entry = self.inner.get(key)?;
        if entry.is_fresh() {
            Some(entry)
        } else {
            self.inner.invalidate(key);
            None
        }
    }

    pub fn insert(&self, key: &[u8], entry: Entry) {
        let t = &entry.template;
        t.entries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let len = i64::try_from(entry.payload.len()).unwrap_or(i64::MAX);
        t.bytes.fetch_add(len, std::sync::atomic::Ordering::Relaxed);
        self.inner
            .insert(Bytes::copy_from_slice(key), Arc::new(entry));
    }

    pub fn max_entry_size(&self) -> u64 {
        self.max_entry
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub fn entry_count(&self) -> u64 {
        self.inner.entry_count()
    }

    pub fn weighted_size(&self) -> u64 {
        self.inner.weighted_size()
    }

    pub fn purge_all(&self) {
        self.inner.invalidate_all();
    }

    /// Applies pending evictions so sizes are current (tests, metrics).
    pub fn run_pending_tasks(&self) {
        self.inner.run_pending_tasks();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invalidate::DbGenerations;

    fn entry(db: &DbGenerations, table: &str, len: usize) -> Entry {
        let template = crate::engine::Templates::default().get_or_register(
            &"c".into(),
            &crate::classify::template(crate::classify::Dialect::Postgres, "select 1"),
            &crate::cache::ttl::TtlBounds::new(
                Duration::from_secs(1),
                Duration::from_secs(60),
                Duration::from_secs(60),
            ),
        );
        Entry {
            payload: Bytes::from(vec![7u8; len]),
            snapshot: db.snapshot([table]),
            ttl: Duration::from_secs(60),
            pinned: false,
            stored_at: std::time::Instant::now(),
            template,
            hits: Default::default(),
            refreshing: Default::default(),
        }
    }

    #[test]
    fn stale_entries_are_misses() {
        let db = DbGenerations::default();
        let s = Store::new(1 << 20, 1 << 16);
        s.insert(b"k", entry(&db, "t", 10));
        assert!(s.get(b"k").is_some());
        db.bump_tables(["t"]);
        assert!(s.get(b"k").is_none());
    }

    #[test]
    fn memory_stays_bounded() {
        let db = DbGenerations::default();
        let s = Store::new(100_000, 10_000);
        for i in 0..1000u32 {
            s.insert(&i.to_le_bytes(), entry(&db, "t", 5_000));
        }
        s.run_pending_tasks();
        assert!(s.weighted_size() <= 100_000, "{}", s.weighted_size());
    }

    #[test]
    fn ttl_expires() {
        let db = DbGenerations::default();
        let s = Store::new(1 << 20, 1 << 16);
        let mut e = entry(&db, "t", 1);
        e.ttl = Duration::from_millis(20);
        s.insert(b"k", e);
        std::thread::sleep(Duration::from_millis(60));
        assert!(s.get(b"k").is_none());
    }
}
