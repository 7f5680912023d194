//! Generation counters per database and per table, and snapshots of them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// One counter. Cloning the `Arc` lets an entry re-check it with one atomic load.
pub type Generation = Arc<AtomicU64>;

/// The counters of one database of one cache.
#[derive(Debug, Default)]
pub struct DbGenerations {
    /// Bumped when something of unknown extent may have been written (DDL, CALL, …).
    whole: Generation,
    /// Bumped on DDL: what the catalog told us may no longer hold.
    schema_epoch: AtomicU64,
    /// Bumped by every write: entries whose dependencies are unknown watch it.
    any_write: Generation,
    /// Per table, keyed by the lower-cased bare table name. Schemas are deliberately
    /// ignored: `a.t` and `b.t` share a counter, which can only over-invalidate.
    tables: RwLock<crate::hashing::Map<Box<str>, Generation>>,
}

/// Counter values observed at one moment, with the counters to re-check them against.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    seen: Vec<(Generation, u64)>,
}

impl Snapshot {
    /// True while no counter in the snapshot has moved.
    pub fn is_current(&self) -> bool {
        self.seen
            .iter()
            .all(|(g, v)| g.load(Ordering::Acquire) == *v)
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// The same counters, read now.
    pub fn renewed(&self) -> Snapshot {
        Snapshot {
            seen: self
                .seen
                .iter()
                .map(|(g, _)| (g.clone(), g.load(Ordering::Acquire)))
                .collect(),
        }
    }

    /// Adds the counters of `other` (as `other` saw them).
    pub fn extend(&mut self, other: &Snapshot) {
        for (g, v) in &other.seen {
            if !self.seen.iter().any(|(h, _)| Arc::ptr_eq(h, g)) {
                self.seen.push((g.clone(), *v));
            }
        }
    }

    /// Adds one more counter, read now.
    pub fn push(&mut self, g: &Generation) {
        self.seen.push((g.clone(), g.load(Ordering::Acquire)));
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// Folds a table name to its counter key: the bare name, lower-cased.
pub fn table_key(name: &str) -> Box<str> {
    name.to_lowercase().into_boxed_str()
}

/// Whether `name` is its own counter key already (ASCII without capitals, what the
/// engine hands over almost always): then it is looked up as it is, not copied.
fn is_folded(name: &str) -> bool {
    !name
        .bytes()
        .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
}

impl DbGenerations {
    fn table(&self, name: &str) -> Generation {
        let folded;
        let key = if is_folded(name) {
            name
        } else {
            folded = table_key(name);
            &*folded
        };
        if let Some(g) = self
            .tables
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
        {
            return g.clone();
        }
        let mut map = self.tables.write().unwrap_or_else(|e| e.into_inner());
        map.entry(key.into()).or_default().clone()
    }

    /// Snapshots the whole-database counter and those of `tables`.
    pub fn snapshot<'a>(&self, tables: impl IntoIterator<Item = &'a str>) -> Snapshot {
        let mut seen = vec![(self.whole.clone(), self.whole.load(Ordering::Acquire))];
        for t in tables {
            let g = self.table(t);
            let v = g.load(Ordering::Acquire);
            if !seen.iter().any(|(h, _)| Arc::ptr_eq(h, &g)) {
                seen.push((g, v));
            }
        }
        Snapshot { seen }
    }

    /// Invalidates every entry that read one of `tables`. The counters that exist are
    /// bumped under one read lock, without taking a reference to each; a missing one
    /// is made (as a snapshot would make it) and bumped.
    pub fn bump_tables<'a>(&self, tables: impl IntoIterator<Item = &'a str>) {
        let mut missing = Vec::new();
        {
            let map = self.tables.read().unwrap_or_else(|e| e.into_inner());
            for t in tables {
                let folded;
                let key = if is_folded(t) {
                    t
                } else {
                    folded = table_key(t);
                    &*folded
                };
                match map.get(key) {
                    Some(g) => {
                        g.fetch_add(1, Ordering::AcqRel);
                    }
                    None => missing.push(t),
                }
            }
        }
        for t in missing {
            self.table(t).fetch_add(1, Ordering::AcqRel);
        }
        self.any_write.fetch_add(1, Ordering::AcqRel);
    }

    /// Invalidates every entry of this database.
    pub fn bump_all(&self) {
        self.whole.fetch_add(1, Ordering::AcqRel);
        self.any_write.fetch_add(1, Ordering::AcqRel);
    }

    /// The counter every write bumps.
    pub fn any_write(&self) -> &Generation {
        &self.any_write
    }

    /// Invalidates every entry and everything learned from the catalog.
    pub fn bump_schema(&self) {
        self.schema_epoch.fetch_add(1, Ordering::AcqRel);
        self.bump_all();
    }

    pub fn schema_epoch(&self) -> u64 {
        self.schema_epoch.load(Ordering::Acquire)
    }
}

/// (cache ID, database name).
type DbKey = (Box<str>, Box<str>);

/// All databases of all caches. Looked up once per session (at startup), never on a hit.
#[derive(Debug, Default)]
pub struct GenerationRegistry {
    dbs: Mutex<HashMap<DbKey, Arc<DbGenerations>>>,
}

impl GenerationRegistry {
    pub fn database(&self, cache: &str, database: &str) -> Arc<DbGenerations> {
        let mut map = self.dbs.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((cache.into(), database.into()))
            .or_default()
            .clone()
    }

    /// The counters of a database already known here, if any (a bump from another
    /// instance for a database no session here opened moves nothing).
    pub fn existing(&self, cache: &str, database: &str) -> Option<Arc<DbGenerations>> {
        let map = self.dbs.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(Box::from(cache), Box::from(database))).cloned()
    }

    /// Every database known for `cache` (for purges).
    pub fn databases_of(&self, cache: &str) -> Vec<Arc<DbGenerations>> {
        let map = self.dbs.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .filter(|((c, _), _)| &**c == cache)
            .map(|(_, g)| g.clone())
            .collect()
    }

    /// Every database known, with its cache ID and name.
    pub fn named(&self) -> Vec<(Box<str>, Box<str>, Arc<DbGenerations>)> {
        let map = self.dbs.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .map(|((c, d), g)| (c.clone(), d.clone(), g.clone()))
            .collect()
    }

    pub fn all(&self) -> Vec<Arc<DbGenerations>> {
        let map = self.dbs.lock().unwrap_or_else(|e| e.into_inner());
        map.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_bump_invalidates_only_readers_of_that_table() {
        let db = DbGenerations::default();
        let a = db.snapshot(["orders"]);
        let b = db.snapshot(["users"]);
        db.bump_tables(["Orders"]);
        assert!(!a.is_current());
        assert!(b.is_current());
    }

    #[test]
    fn table_names_fold_to_one_counter_whatever_their_case() {
        let db = DbGenerations::default();
        for reader in ["accounts", "Accounts", "ACCOUNTS", "aCcOuNtS"] {
            for writer in ["accounts", "Accounts", "ACCOUNTS"] {
                let s = db.snapshot([reader]);
                db.bump_tables([writer]);
                assert!(!s.is_current(), "{writer} must invalidate {reader}");
            }
        }
        // Beyond ASCII too: Unicode lower case, as before.
        let s = db.snapshot(["ÅRSBOK"]);
        db.bump_tables(["årsbok"]);
        assert!(!s.is_current());
        let other = db.snapshot(["accounts_archive"]);
        db.bump_tables(["ACCOUNTS"]);
        assert!(other.is_current(), "another table is left alone");
        // Several at once, counters known and not yet known, in any case.
        let (a, b) = (db.snapshot(["tellers"]), db.snapshot(["branches"]));
        db.bump_tables(["Tellers", "history", "BRANCHES"]);
        assert!(!a.is_current() && !b.is_current());
        let h = db.snapshot(["history"]);
        db.bump_tables(["HISTORY"]);
        assert!(
            !h.is_current(),
            "the counter made by the bump is the one read later"
        );
    }

    #[test]
    fn whole_database_bump_invalidates_everything() {
        let db = DbGenerations::default();
        let a = db.snapshot(["orders"]);
        let none = db.snapshot([]);
        db.bump_all();
        assert!(!a.is_current());
        assert!(!none.is_current());
    }

    #[test]
    fn schema_bump_moves_epoch_and_all() {
        let db = DbGenerations::default();
        let s = db.snapshot(["t"]);
        let e = db.schema_epoch();
        db.bump_schema();
        assert!(db.schema_epoch() > e);
        assert!(!s.is_current());
    }

    #[test]
    fn registry_shares_per_database() {
        let r = GenerationRegistry::default();
        let a = r.database("c", "db");
        let b = r.database("c", "db");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &r.database("c", "other")));
        assert_eq!(r.databases_of("c").len(), 2);
    }
}
