//! What the origin's catalog told us about relations and functions, remembered per
//! namespace (name resolution depends on the user and search path) and dropped when
//! DDL moves the database's schema epoch.

use std::sync::Arc;

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

#[derive(Debug)]
struct Learned {
    epoch: u64,
    fact: Fact,
}

/// Remembered facts, bounded.
pub struct Knowledge {
    facts: moka::sync::Cache<(u64, FactKey), Arc<Learned>>,
}

/// How long a learned fact is trusted. DDL through wirecache forgets facts at once;
/// this bounds how long DDL made directly at the origin (a new trigger, a new view)
/// can go unnoticed.
const FACT_LIFETIME: std::time::Duration = std::time::Duration::from_secs(60);

impl Default for Knowledge {
    fn default() -> Self {
        Self {
            facts: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(FACT_LIFETIME)
                .build(),
        }
    }
}

impl Knowledge {
    /// The fact about `key` in namespace `ns`, if learned at the current schema epoch.
    pub fn get(&self, ns: u64, key: &FactKey, epoch: u64) -> Option<Fact> {
        let learned = self.facts.get(&(ns, key.clone()))?;
        (learned.epoch == epoch).then(|| learned.fact.clone())
    }

    pub fn learn(&self, ns: u64, epoch: u64, facts: Vec<(FactKey, Fact)>) {
        for (key, fact) in facts {
            self.facts
                .insert((ns, key), Arc::new(Learned { epoch, fact }));
        }
    }
}
