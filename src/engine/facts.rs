//! What the origin's catalog told us about relations and functions, remembered per
//! namespace (name resolution depends on the user and search path) and dropped when
//! DDL moves the database's schema epoch.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::classify::TableRef;

/// A function's volatility as the catalog reports it (`pg_proc.provolatile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volatility {
    Immutable,
    Stable,
    /// May write, or its nature is unknown: treated as a write of the whole database.
    Volatile,
}

/// Facts about one relation named by a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationFacts {
    pub exists: bool,
    pub temporary: bool,
    pub system: bool,
    /// A view (directly or through other views) calls a non-immutable function.
    pub volatile_view: bool,
    /// Writing it can write elsewhere: triggers, rules, cascading foreign keys,
    /// inheritance or partitions. A write to it invalidates the whole database.
    pub side_effects: bool,
    /// The relation itself and, for views, every relation underneath (bare names).
    pub base: Vec<Box<str>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FactKey {
    Relation(TableRef),
    Function(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    Relation(RelationFacts),
    Function(Volatility),
}

/// What the engine needs to know before it can decide.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogQuestion {
    pub relations: Vec<TableRef>,
    pub functions: Vec<String>,
}

/// Facts a session still has to ask for, at most: past this, more are not kept (a
/// write that needs them keeps invalidating its whole database until they are known).
const MAX_DEFERRED: usize = 256;

impl CatalogQuestion {
    pub fn is_empty(&self) -> bool {
        self.relations.is_empty() && self.functions.is_empty()
    }

    /// Adds what `other` asks that this does not ask yet, up to a bound.
    pub fn merge(&mut self, other: CatalogQuestion) {
        for t in other.relations {
            if !self.relations.contains(&t) && self.relations.len() < MAX_DEFERRED {
                self.relations.push(t);
            }
        }
        for f in other.functions {
            if !self.functions.contains(&f) && self.functions.len() < MAX_DEFERRED {
                self.functions.push(f);
            }
        }
    }
}

/// A fact learned at one schema epoch, with the key it answers (the map is keyed by a
/// hash of it: a lookup compares the key instead of cloning it).
#[derive(Debug)]
pub struct Learned {
    epoch: u64,
    key: FactKey,
    fact: Fact,
    at: Instant,
}

impl Learned {
    pub fn fact(&self) -> &Fact {
        &self.fact
    }

    /// Until when it is trusted.
    pub fn trusted_until(&self) -> Instant {
        self.at + FACT_LIFETIME
    }
}

/// A key as a lookup borrows it.
#[derive(Clone, Copy)]
enum FactRef<'a> {
    Relation(&'a TableRef),
    Function(&'a str),
}

impl FactRef<'_> {
    fn of(key: &FactKey) -> FactRef<'_> {
        match key {
            FactKey::Relation(t) => FactRef::Relation(t),
            FactKey::Function(f) => FactRef::Function(f),
        }
    }

    fn is(self, key: &FactKey) -> bool {
        match (self, key) {
            (FactRef::Relation(a), FactKey::Relation(b)) => a == b,
            (FactRef::Function(a), FactKey::Function(b)) => a == b,
            _ => false,
        }
    }
}

/// The map's key: a namespace and the random-keyed hash of a fact's key, already as
/// good as a hash: mixed, not hashed again.
#[derive(Default)]
struct Mixed(u64);

impl Hasher for Mixed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(29) ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type Facts = HashMap<(u64, u64), Arc<Learned>, BuildHasherDefault<Mixed>>;

/// Remembered facts, at most [`MAX_FACTS`], each for [`FACT_LIFETIME`]. Keyed by
/// namespace and a hash of the fact's key (with a key chosen at random per process,
/// so names cannot be picked to collide); two keys with one hash evict each other:
/// the lost fact is only asked for again. Read on every miss and write: a plain map
/// under a read lock, without a cache's bookkeeping on each read.
#[derive(Default)]
pub struct Knowledge {
    facts: RwLock<Facts>,
    /// foldhash, seeded at random (`hashing.rs`): SipHash cost ~400 instructions a
    /// look-up here, on every write.
    hasher: crate::hashing::Hasher,
}

/// How long a learned fact is trusted. DDL through wirecache forgets facts at once;
/// this bounds how long DDL made directly at the origin (a new trigger, a new view)
/// can go unnoticed.
const FACT_LIFETIME: Duration = Duration::from_secs(60);

/// Facts remembered at most; past this, expired ones and then arbitrary ones go.
const MAX_FACTS: usize = 100_000;

impl Knowledge {
    fn hash(&self, key: FactRef<'_>) -> u64 {
        let mut h = self.hasher.build_hasher();
        match key {
            FactRef::Relation(t) => {
                h.write_u8(0);
                t.schema.hash(&mut h);
                t.name.hash(&mut h);
            }
            FactRef::Function(f) => {
                h.write_u8(1);
                f.hash(&mut h);
            }
        }
        h.finish()
    }

    fn get(&self, ns: u64, key: FactRef<'_>, epoch: u64) -> Option<Arc<Learned>> {
        let hash = self.hash(key);
        let learned = self
            .facts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(ns, hash))
            .cloned()?;
        let fresh = learned.epoch == epoch && learned.at.elapsed() < FACT_LIFETIME;
        (fresh && key.is(&learned.key)).then_some(learned)
    }

    /// What is known about relation `t` in namespace `ns` at the current schema epoch.
    pub fn relation(&self, ns: u64, t: &TableRef, epoch: u64) -> Option<Arc<Learned>> {
        self.get(ns, FactRef::Relation(t), epoch)
            .filter(|l| matches!(l.fact, Fact::Relation(_)))
    }

    /// The volatility of function `f` in namespace `ns`, if learned at this epoch, and
    /// until when it is trusted.
    pub fn function(&self, ns: u64, f: &str, epoch: u64) -> Option<(Volatility, Instant)> {
        let learned = self.get(ns, FactRef::Function(f), epoch)?;
        match learned.fact {
            Fact::Function(v) => Some((v, learned.trusted_until())),
            Fact::Relation(_) => None,
        }
    }

    pub fn learn(&self, ns: u64, epoch: u64, facts: Vec<(FactKey, Fact)>) {
        let at = Instant::now();
        let learned: Vec<_> = facts
            .into_iter()
            .map(|(key, fact)| {
                let hash = self.hash(FactRef::of(&key));
                let l = Learned {
                    epoch,
                    key,
                    fact,
                    at,
                };
                ((ns, hash), Arc::new(l))
            })
            .collect();
        let mut map = self.facts.write().unwrap_or_else(|e| e.into_inner());
        for (k, l) in learned {
            if map.len() >= MAX_FACTS && !map.contains_key(&k) {
                make_room(&mut map);
            }
            map.insert(k, l);
        }
    }

    /// Facts remembered now (expired ones included until room is made).
    pub fn len(&self) -> usize {
        self.facts.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Drops the expired facts, or if none has, an arbitrary one.
fn make_room(map: &mut Facts) {
    map.retain(|_, l| l.at.elapsed() < FACT_LIFETIME);
    if map.len() >= MAX_FACTS {
        let victim = map.keys().next().copied();
        if let Some(victim) = victim {
            map.remove(&victim);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(schema: Option<&str>, name: &str) -> TableRef {
        TableRef {
            schema: schema.map(str::to_string),
            name: name.to_string(),
        }
    }

    fn facts(base: &str) -> Fact {
        Fact::Relation(RelationFacts {
            exists: true,
            temporary: false,
            system: false,
            volatile_view: false,
            side_effects: false,
            base: vec![base.into()],
        })
    }

    #[test]
    fn facts_are_found_by_their_exact_key_and_epoch() {
        let k = Knowledge::default();
        let t = table(Some("s"), "t");
        k.learn(
            1,
            5,
            vec![
                (FactKey::Relation(t.clone()), facts("t")),
                (
                    FactKey::Function("f".into()),
                    Fact::Function(Volatility::Stable),
                ),
            ],
        );
        let found = k.relation(1, &t, 5).expect("learned");
        assert_eq!(*found.fact(), facts("t"));
        assert_eq!(
            k.function(1, "f", 5).map(|(v, _)| v),
            Some(Volatility::Stable)
        );
        // Another namespace, epoch, schema or kind of key knows nothing.
        assert!(k.relation(2, &t, 5).is_none());
        assert!(k.relation(1, &t, 6).is_none());
        assert!(k.relation(1, &table(None, "t"), 5).is_none());
        assert!(k.relation(1, &table(Some("s"), "T"), 5).is_none());
        assert!(k.relation(1, &table(Some("s"), "f"), 5).is_none());
        assert_eq!(k.function(1, "t", 5), None);
        assert_eq!(k.len(), 2);
    }

    #[test]
    fn room_is_made_past_the_bound_expired_facts_first() {
        let now = Instant::now();
        let old = now.checked_sub(FACT_LIFETIME * 2).unwrap_or(now);
        let learned = |i: usize, at| {
            let l = Learned {
                epoch: 0,
                key: FactKey::Function(i.to_string()),
                fact: Fact::Function(Volatility::Immutable),
                at,
            };
            ((0, i as u64), Arc::new(l))
        };
        let mut map: Facts = (0..MAX_FACTS)
            .map(|i| learned(i, if i < 10 { old } else { now }))
            .collect();
        make_room(&mut map);
        assert_eq!(map.len(), MAX_FACTS - 10, "the expired ones went");
        map.extend((0..10).map(|i| learned(i, now)));
        make_room(&mut map);
        assert_eq!(map.len(), MAX_FACTS - 1, "then one arbitrary fact");
    }
}
