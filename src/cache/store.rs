//! The bounded result store: moka with a per-entry TTL and a byte weigher, generic
//! over what it stores (static dispatch: the hit path is one moka lookup and one
//! freshness check).
//!
//! moka evicts lazily: an insert is applied (and what it pushes out evicted) only when
//! its maintenance runs, after 64 writes or a timer. With megabyte results that lag
//! alone held tens of megabytes past `max_memory`, so the store counts the bytes it
//! holds itself (inserted minus removed) and runs that maintenance at once whenever an
//! insert takes them past the bound: it then holds at most `max_memory` plus the
//! entries being inserted at that moment.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::Expiry;

use super::presence::Presence;

/// What the store holds: what it needs to bound memory, expire and drop stale values.
pub trait Cached: Send + Sync + 'static {
    /// How long it is fresh from being stored (a replacement lives its own).
    fn ttl(&self) -> Duration;
    /// How long past its TTL it is kept for sessions whose origin is unreachable
    /// (`serve_stale`); it still counts against `max_memory` meanwhile.
    fn grace(&self) -> Duration {
        Duration::ZERO
    }
    /// Bytes charged against `max_memory` for it and its key.
    fn weight(&self, key_len: usize) -> u32;
    /// False once it must not be served any more (a lookup then removes it).
    fn is_fresh(&self) -> bool;
    /// Called once as it is inserted.
    fn on_stored(&self) {}
    /// Called once as it leaves the store (evicted, expired, replaced or removed).
    fn on_removed(&self) {}
}

struct EntryTtl;

impl<E: Cached> Expiry<Bytes, Arc<E>> for EntryTtl {
    fn expire_after_create(&self, _: &Bytes, value: &Arc<E>, _: Instant) -> Option<Duration> {
        Some(value.ttl().saturating_add(value.grace()))
    }

    /// A replaced entry (a refresh, or a refill after invalidation) lives its own TTL,
    /// not what was left of the old one's.
    fn expire_after_update(
        &self,
        _: &Bytes,
        value: &Arc<E>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl().saturating_add(value.grace()))
    }
}

/// Values by key. Cloning the handle shares the store.
pub struct Store<E> {
    inner: moka::sync::Cache<Bytes, Arc<E>, crate::hashing::Hasher>,
    max_bytes: u64,
    max_entry: u64,
    /// Weights inserted and not yet removed: what the store holds, evictions still
    /// pending included.
    held: Arc<AtomicU64>,
    /// Which keys it may hold: a miss is told without asking moka.
    presence: Arc<Presence>,
}

impl<E> Clone for Store<E> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            max_bytes: self.max_bytes,
            max_entry: self.max_entry,
            held: self.held.clone(),
            presence: self.presence.clone(),
        }
    }
}

impl<E: Cached> Store<E> {
    /// A store holding at most `max_bytes` (keys, results and bookkeeping), refusing
    /// results larger than `max_entry`.
    pub fn new(max_bytes: u64, max_entry: u64) -> Self {
        let held = Arc::new(AtomicU64::new(0));
        let removed = held.clone();
        let presence = Arc::new(Presence::for_budget(max_bytes));
        let gone = presence.clone();
        let inner = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &Bytes, v: &Arc<E>| v.weight(k.len()))
            .expire_after(EntryTtl)
            .eviction_listener(move |key: Arc<Bytes>, entry: Arc<E>, _cause| {
                removed.fetch_sub(u64::from(entry.weight(key.len())), Ordering::Relaxed);
                gone.removed(&key);
                entry.on_removed();
            })
            .build_with_hasher(crate::hashing::Hasher::default());
        Self {
            inner,
            max_bytes,
            max_entry,
            held,
            presence,
        }
    }

    /// A fresh entry for `key`, or `None`. An entry that is no longer fresh is removed.
    pub fn get(&self, key: &[u8]) -> Option<Arc<E>> {
        if !self.presence.may_hold(key) {
            return None;
        }
        let entry = self.inner.get(key)?;
        if entry.is_fresh() {
            Some(entry)
        } else {
            self.inner.invalidate(key);
            None
        }
    }

    /// Stores `entry`; if the bytes held then pass `max_memory`, applies the pending
    /// evictions now rather than at moka's next maintenance.
    pub fn insert(&self, key: &[u8], entry: E) {
        entry.on_stored();
        let weight = u64::from(entry.weight(key.len()));
        let held = self.held.fetch_add(weight, Ordering::Relaxed) + weight;
        self.presence.added(key);
        self.inner
            .insert(Bytes::copy_from_slice(key), Arc::new(entry));
        if held > self.max_bytes {
            self.inner.run_pending_tasks();
        }
    }

    /// Bytes inserted and not yet removed, evictions moka has still to apply included.
    pub fn held_bytes(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
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
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

    use super::*;

    /// A value that goes stale when told to, and counts what is stored.
    struct Value {
        len: usize,
        ttl: Duration,
        fresh: Arc<AtomicBool>,
        stored: Arc<AtomicI64>,
    }

    impl Cached for Value {
        fn ttl(&self) -> Duration {
            self.ttl
        }
        fn weight(&self, key_len: usize) -> u32 {
            u32::try_from(self.len + key_len + 96).unwrap_or(u32::MAX)
        }
        fn is_fresh(&self) -> bool {
            self.fresh.load(Ordering::Relaxed)
        }
        fn on_stored(&self) {
            self.stored.fetch_add(1, Ordering::Relaxed);
        }
        fn on_removed(&self) {
            self.stored.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn value(len: usize, fresh: &Arc<AtomicBool>, stored: &Arc<AtomicI64>) -> Value {
        Value {
            len,
            ttl: Duration::from_secs(60),
            fresh: fresh.clone(),
            stored: stored.clone(),
        }
    }

    #[test]
    fn stale_entries_are_misses() {
        let (fresh, stored) = (Arc::new(AtomicBool::new(true)), Arc::default());
        let s = Store::new(1 << 20, 1 << 16);
        s.insert(b"k", value(10, &fresh, &stored));
        assert!(s.get(b"k").is_some());
        fresh.store(false, Ordering::Relaxed);
        assert!(s.get(b"k").is_none());
        s.run_pending_tasks();
        assert_eq!(stored.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn memory_stays_bounded() {
        let (fresh, stored) = (Arc::new(AtomicBool::new(true)), Arc::default());
        let s = Store::new(100_000, 10_000);
        for i in 0..1000u32 {
            s.insert(&i.to_le_bytes(), value(5_000, &fresh, &stored));
        }
        s.run_pending_tasks();
        assert!(s.weighted_size() <= 100_000, "{}", s.weighted_size());
        let held = i64::try_from(s.entry_count()).unwrap();
        assert_eq!(stored.load(Ordering::Relaxed), held);
    }

    /// A burst of inserts with nobody running maintenance in between: the store never
    /// holds more than `max_memory` plus the entry being inserted.
    #[test]
    fn a_burst_of_inserts_never_holds_more_than_the_bound_plus_one_entry() {
        let (fresh, stored) = (Arc::new(AtomicBool::new(true)), Arc::default());
        let s = Store::new(100_000, 10_000);
        let one = u64::from(value(5_000, &fresh, &stored).weight(4));
        for i in 0..1000u32 {
            s.insert(&i.to_le_bytes(), value(5_000, &fresh, &stored));
            assert!(s.held_bytes() <= 100_000 + one, "{i}: {}", s.held_bytes());
        }
        for i in 0..10u32 {
            s.insert(&i.to_le_bytes(), value(5_000, &fresh, &stored)); // replacements
        }
        s.run_pending_tasks();
        assert_eq!(s.held_bytes(), s.weighted_size());
        assert!(s.held_bytes() <= 100_000, "{}", s.held_bytes());
    }

    #[test]
    fn grace_keeps_an_entry_past_its_ttl_then_expires_it() {
        struct Graced(Value);
        impl Cached for Graced {
            fn ttl(&self) -> Duration {
                self.0.ttl
            }
            fn grace(&self) -> Duration {
                Duration::from_millis(150)
            }
            fn weight(&self, key_len: usize) -> u32 {
                self.0.weight(key_len)
            }
            fn is_fresh(&self) -> bool {
                self.0.is_fresh()
            }
        }
        let (fresh, stored) = (Arc::new(AtomicBool::new(true)), Arc::default());
        let s = Store::new(1 << 20, 1 << 16);
        let mut v = value(1, &fresh, &stored);
        v.ttl = Duration::from_millis(20);
        s.insert(b"k", Graced(v));
        std::thread::sleep(Duration::from_millis(60));
        assert!(s.get(b"k").is_some(), "kept within its grace");
        std::thread::sleep(Duration::from_millis(200));
        assert!(s.get(b"k").is_none(), "gone after ttl + grace");
    }

    #[test]
    fn ttl_expires() {
        let (fresh, stored) = (Arc::new(AtomicBool::new(true)), Arc::default());
        let s = Store::new(1 << 20, 1 << 16);
        let mut v = value(1, &fresh, &stored);
        v.ttl = Duration::from_millis(20);
        s.insert(b"k", v);
        std::thread::sleep(Duration::from_millis(60));
        assert!(s.get(b"k").is_none());
    }
    proptest::proptest! {
        /// The presence filter never hides an entry: whatever mix of inserts,
        /// replacements, stale removals, purges and evictions (a budget of a few
        /// entries), every key moka holds is one the filter says may be there, and
        /// every key it does not say so is a miss.
        #[test]
        fn the_presence_filter_never_hides_an_entry(
            ops in proptest::collection::vec((0u8..4, 0u8..24, 1usize..400), 1..200),
        ) {
            let stored = Arc::default();
            let s = Store::new(4096, 1024);
            let mut stale = Vec::new();
            for (op, k, len) in ops {
                let key = [b'k', k];
                match op {
                    0 | 1 => {
                        let fresh = Arc::new(AtomicBool::new(true));
                        s.insert(&key, value(len, &fresh, &stored));
                        stale.push((key, fresh));
                    }
                    2 => {
                        if let Some((key, fresh)) = stale.get(usize::from(k) % stale.len().max(1)) {
                            fresh.store(false, Ordering::Relaxed);
                            let _ = s.get(key);
                        }
                    }
                    _ if k == 0 => s.purge_all(),
                    _ => {
                        let _ = s.get(&key);
                    }
                }
                s.run_pending_tasks();
                for k in 0..24u8 {
                    let key = [b'k', k];
                    if s.inner.contains_key(&key[..]) {
                        proptest::prop_assert!(s.presence.may_hold(&key), "{key:?}");
                    }
                }
            }
        }
    }
}
