//! Per-template statistics and learned TTLs (design §5). A template is registered on
//! its first miss; entries hold an `Arc` to it, so a hit updates its figures with a
//! few relaxed atomic adds and never looks it up.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::BypassReason;
use super::cacheability::{Cacheability, Calls, Storing, Thresholds};
use crate::cache::ttl::{self, TtlBounds, TtlEvent, TtlState};
use crate::classify::Template;
use crate::config::TxnPolicy;
use crate::invalidate::Generation;
use crate::stats::Histogram;

/// Templates remembered per process; past it, new templates share one overflow slot
/// per cache (their figures are pooled, nothing else changes).
const MAX_TEMPLATES: usize = 20_000;

/// Changes of the learned TTL remembered per template (oldest dropped first).
pub const TTL_HISTORY: usize = 32;

/// One change of a template's learned TTL: when (ms since the Unix epoch) and to what.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TtlPoint {
    pub at_ms: u64,
    pub ttl: Duration,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Everything known about one template of one cache.
#[derive(Debug)]
pub struct TemplateStats {
    pub id: u64,
    pub text: Arc<str>,
    pub cache: Arc<str>,
    pub calls: AtomicU64,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub bypasses: [AtomicU64; BypassReason::ALL.len()],
    /// Refreshes made ahead of expiry.
    pub refreshes: AtomicU64,
    /// Time the origin took for fills of this template.
    pub origin_latency: Histogram,
    pub result_bytes_last: AtomicU64,
    pub entries: AtomicI64,
    pub bytes: AtomicI64,
    /// Origin time avoided by hits (each hit counts the mean fill latency).
    pub saved_us: AtomicU64,
    /// Bumped to purge every entry of the template.
    pub generation: Generation,
    pub tables: Mutex<Vec<Box<str>>>,
    ttl: Mutex<TtlState>,
    /// The learned TTL's last changes, at most [`TTL_HISTORY`].
    ttl_history: Mutex<VecDeque<TtlPoint>>,
    /// The `transactions` policy of the rule matching it, if one sets it: 0 none,
    /// else 1 + the policy's index in [`TxnPolicy::ALL`].
    txn_policy: AtomicU8,
    /// Whether its results repeat enough to be filled.
    cacheability: Cacheability,
    /// Misses the doorkeeper admitted (keys that missed before): each would have
    /// been a hit had every miss been stored.
    admitted: AtomicU64,
}

impl TemplateStats {
    fn new(cache: Arc<str>, template: &Template, bounds: &TtlBounds) -> Self {
        let state = TtlState::new(bounds);
        let first = TtlPoint {
            at_ms: now_ms(),
            ttl: state.ttl,
        };
        Self {
            id: template.id,
            text: template.text.clone(),
            cache,
            calls: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            bypasses: Default::default(),
            refreshes: AtomicU64::new(0),
            origin_latency: Histogram::default(),
            result_bytes_last: AtomicU64::new(0),
            entries: AtomicI64::new(0),
            bytes: AtomicI64::new(0),
            saved_us: AtomicU64::new(0),
            generation: Generation::default(),
            tables: Mutex::new(Vec::new()),
            ttl: Mutex::new(state),
            ttl_history: Mutex::new(VecDeque::from([first])),
            txn_policy: AtomicU8::new(0),
            cacheability: Cacheability::default(),
            admitted: AtomicU64::new(0),
        }
    }

    /// Whether the miss at hand (of a result whose TTL is learned) is worth filling:
    /// false while its results do not repeat, except for probes. Counts nothing; a
    /// miss not filled is counted as a bypass [`BypassReason::NotRepeating`].
    pub fn worth_filling(&self, now: Instant) -> bool {
        self.cacheability
            .fill(self.looked_up(), now, &Thresholds::DEFAULT)
    }

    /// Whether its misses are being filled.
    pub fn storing(&self) -> Storing {
        self.cacheability.storing()
    }

    /// Counts a miss the doorkeeper admitted.
    pub fn on_admitted(&self) {
        self.admitted.fetch_add(1, Ordering::Relaxed);
    }

    /// Its calls that were looked up in the cache: hits, misses, and misses not
    /// filled because its results do not repeat; with the misses the doorkeeper
    /// admitted and the origin's mean time for a fill.
    fn looked_up(&self) -> Calls {
        let hits = self.hits.load(Ordering::Relaxed);
        let skipped = self
            .bypasses
            .get(BypassReason::NotRepeating.index())
            .map_or(0, |c| c.load(Ordering::Relaxed));
        Calls {
            looked_up: hits + self.misses.load(Ordering::Relaxed) + skipped,
            hits,
            admitted: self.admitted.load(Ordering::Relaxed),
            origin: self.origin_latency.mean(),
        }
    }

    /// The `transactions` policy for its reads: a matching rule's, else `default`
    /// (the cache's).
    pub fn txn_policy(&self, default: TxnPolicy) -> TxnPolicy {
        let i = usize::from(self.txn_policy.load(Ordering::Relaxed));
        i.checked_sub(1)
            .and_then(|i| TxnPolicy::ALL.get(i).copied())
            .unwrap_or(default)
    }

    /// Remembers the `transactions` policy of the rule that matched it last.
    pub fn set_txn_policy(&self, policy: Option<TxnPolicy>) {
        let code = policy
            .and_then(|p| TxnPolicy::ALL.iter().position(|x| *x == p))
            .and_then(|i| u8::try_from(i + 1).ok())
            .unwrap_or(0);
        self.txn_policy.store(code, Ordering::Relaxed);
    }

    pub fn hex_id(&self) -> String {
        format!("{:016x}", self.id)
    }

    /// Counts a hit and the origin time it saved.
    pub fn on_hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
        let saved = u64::try_from(self.origin_latency.mean().as_micros()).unwrap_or(0);
        self.saved_us.fetch_add(saved, Ordering::Relaxed);
    }

    pub fn on_bypass(&self, reason: BypassReason) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if let Some(c) = self.bypasses.get(reason.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn on_miss(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    pub fn ttl_state(&self) -> TtlState {
        *self.ttl.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn observe(&self, event: TtlEvent, bounds: &TtlBounds) {
        let changed = {
            let mut s = self.ttl.lock().unwrap_or_else(|e| e.into_inner());
            let before = s.ttl;
            *s = ttl::next(*s, event, bounds, Instant::now());
            (s.ttl != before).then_some(s.ttl)
        };
        if let Some(ttl) = changed {
            self.note_ttl(TtlPoint {
                at_ms: now_ms(),
                ttl,
            });
        }
    }

    fn note_ttl(&self, point: TtlPoint) {
        let mut h = self.ttl_history.lock().unwrap_or_else(|e| e.into_inner());
        if h.len() >= TTL_HISTORY {
            h.pop_front();
        }
        h.push_back(point);
    }

    /// The learned TTL's recent changes, oldest first (the first is its start).
    pub fn ttl_history(&self) -> Vec<TtlPoint> {
        let h = self.ttl_history.lock().unwrap_or_else(|e| e.into_inner());
        h.iter().copied().collect()
    }

    pub fn hit_ratio(&self) -> f64 {
        let calls = self.calls.load(Ordering::Relaxed);
        if calls == 0 {
            0.0
        } else {
            self.hits.load(Ordering::Relaxed) as f64 / calls as f64
        }
    }

    pub fn saved(&self) -> Duration {
        Duration::from_micros(self.saved_us.load(Ordering::Relaxed))
    }
}

/// cache → template ID → its stats (nested, so a lookup borrows the cache's name
/// rather than cloning a shared `Arc`, whose count every session would bump).
#[derive(Default)]
struct ByCache {
    caches: crate::hashing::Map<Arc<str>, crate::hashing::Map<u64, Arc<TemplateStats>>>,
    /// Templates in all caches.
    count: usize,
}

/// cache → table → the templates that read it (nested, so a write looks its tables
/// up by `&str` without building a key).
type Readers =
    crate::hashing::Map<Arc<str>, crate::hashing::Map<Box<str>, Vec<Weak<TemplateStats>>>>;

/// All templates, and which templates read each table.
#[derive(Default)]
pub struct Templates {
    map: RwLock<ByCache>,
    by_table: Mutex<Readers>,
}

impl Templates {
    /// The stats of `template` in `cache`, registered on first use.
    pub fn get_or_register(
        &self,
        cache: &Arc<str>,
        template: &Template,
        bounds: &TtlBounds,
    ) -> Arc<TemplateStats> {
        {
            let map = self.map.read().unwrap_or_else(|e| e.into_inner());
            if let Some(t) = map.caches.get(&**cache).and_then(|c| c.get(&template.id)) {
                return t.clone();
            }
        }
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        let ByCache { caches, count } = &mut *map;
        let templates = caches.entry(cache.clone()).or_default();
        let id = if *count >= MAX_TEMPLATES && !templates.contains_key(&template.id) {
            0
        } else {
            template.id
        };
        let overflow = Template {
            id: 0,
            text: "(other templates)".into(),
        };
        let template = if id == 0 { &overflow } else { template };
        templates
            .entry(id)
            .or_insert_with(|| {
                *count += 1;
                Arc::new(TemplateStats::new(cache.clone(), template, bounds))
            })
            .clone()
    }

    /// Records the tables a template reads (first time only), for write-driven TTLs.
    pub fn note_tables(&self, stats: &Arc<TemplateStats>, tables: &[Box<str>]) {
        {
            let mut known = stats.tables.lock().unwrap_or_else(|e| e.into_inner());
            if !known.is_empty() || tables.is_empty() {
                return;
            }
            known.extend(tables.iter().cloned());
        }
        let mut by_table = self.by_table.lock().unwrap_or_else(|e| e.into_inner());
        let of_cache = by_table.entry(stats.cache.clone()).or_default();
        for t in tables {
            let readers = of_cache.entry(t.clone()).or_default();
            readers.retain(|w| w.strong_count() > 0);
            readers.push(Arc::downgrade(stats));
        }
    }

    /// A write through wirecache touched `tables` of `cache`.
    pub fn write_seen(&self, cache: &Arc<str>, tables: &[Box<str>], bounds: &TtlBounds) {
        let by_table = self.by_table.lock().unwrap_or_else(|e| e.into_inner());
        let Some(of_cache) = by_table.get(cache) else {
            return;
        };
        for t in tables {
            for stats in of_cache
                .get(&**t)
                .into_iter()
                .flatten()
                .filter_map(Weak::upgrade)
            {
                stats.observe(TtlEvent::WriteSeen, bounds);
            }
        }
    }

    pub fn all(&self) -> Vec<Arc<TemplateStats>> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.caches
            .values()
            .flat_map(|c| c.values().cloned())
            .collect()
    }

    pub fn find(&self, id: u64) -> Vec<Arc<TemplateStats>> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.caches
            .values()
            .filter_map(|c| c.get(&id).cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_history_records_changes_and_stays_bounded() {
        let bounds = TtlBounds {
            min: Duration::from_secs(1),
            initial: Duration::from_secs(10),
            max: Duration::from_secs(1000),
        };
        let template = Template {
            id: 7,
            text: "select ?".into(),
        };
        let stats = TemplateStats::new("demo".into(), &template, &bounds);
        assert_eq!(stats.ttl_history().len(), 1);
        assert_eq!(stats.ttl_history()[0].ttl, Duration::from_secs(10));
        stats.observe(TtlEvent::WriteSeen, &bounds);
        let h = stats.ttl_history();
        assert_eq!(h.len(), 2, "{h:?}");
        assert!(h[1].ttl < Duration::from_secs(10), "{h:?}");
        for _ in 0..200 {
            stats.observe(TtlEvent::WriteSeen, &bounds);
            stats.note_ttl(TtlPoint {
                at_ms: 1,
                ttl: Duration::from_secs(3),
            });
        }
        assert_eq!(stats.ttl_history().len(), TTL_HISTORY);
    }
}
