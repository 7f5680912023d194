//! What the origin's catalog told us about the relations and functions one statement
//! names, and what follows from it: the tables a write invalidates (through
//! triggers, cascades and views too), the tables a read depends on, and the
//! functions that keep it from being cached. Missing facts are collected into a
//! question for the catalog.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use super::super::facts::Learned;
use super::super::{
    BypassReason, CatalogQuestion, Effects, Engine, Fact, RelationFacts, Scope, Volatility,
};
use crate::classify::{Classification, StatementKind, TableRef, Uncacheable};

/// Facts gathered for one request; missing ones are collected into a question.
pub(super) struct Resolver<'e> {
    pub engine: &'e Engine,
    pub scope: &'e Scope,
    pub epoch: u64,
    pub missing: CatalogQuestion,
    /// Until when every fact read so far is trusted (the earliest), if any was read.
    pub trusted_until: Option<Instant>,
}

impl Resolver<'_> {
    /// What the catalog said about `t`, without copying it.
    fn relation(&mut self, t: &TableRef) -> Option<Arc<Learned>> {
        let known = self
            .engine
            .knowledge
            .relation(self.scope.namespace, t, self.epoch);
        match &known {
            Some(l) => self.used(l.trusted_until()),
            None => self.missing.relations.push(t.clone()),
        }
        known
    }

    fn function(&mut self, f: &str) -> Option<Volatility> {
        let known = self
            .engine
            .knowledge
            .function(self.scope.namespace, f, self.epoch);
        match known {
            Some((_, until)) => self.used(until),
            None => self.missing.functions.push(f.to_string()),
        }
        known.map(|(v, _)| v)
    }

    fn used(&mut self, until: Instant) {
        self.trusted_until = Some(self.trusted_until.map_or(until, |t| t.min(until)));
    }
}

/// The relation facts of a learned fact (what [`Resolver::relation`] returns).
fn relation_facts(l: &Learned) -> Option<&RelationFacts> {
    match l.fact() {
        Fact::Relation(r) => Some(r),
        Fact::Function(_) => None,
    }
}

pub(super) fn bare(name: &str) -> Box<str> {
    name.to_lowercase().into_boxed_str()
}

/// What the statement writes, explicitly or through triggers, cascades and views.
pub(super) fn write_effects(c: &Classification, r: &mut Resolver<'_>) -> Effects {
    let mut e = Effects {
        whole_database: c.writes_unknown,
        schema_change: c.kind == StatementKind::Ddl,
        session_change: c.kind == StatementKind::Session,
        // Unread text may also change the session (as DDL of its own never does).
        taints_session: c.writes_unknown
            && (c.kind != StatementKind::Ddl || c.uncacheable == Some(Uncacheable::Unparsable)),
        ..Effects::default()
    };
    let mut tables = BTreeSet::new();
    for t in &c.writes {
        tables.insert(bare(&t.name));
        let known = r.relation(t);
        match known.as_deref().and_then(relation_facts) {
            Some(f) if f.side_effects || !f.exists => e.whole_database = true,
            Some(f) => tables.extend(f.base.iter().cloned()),
            None => {}
        }
    }
    e.tables = tables.into_iter().collect();
    e
}

/// Judges the functions the classifier could not: immutable ones are fine, stable ones
/// make the read uncacheable, volatile ones are writes of unknown extent.
pub(super) fn functions(
    c: &Classification,
    r: &mut Resolver<'_>,
    e: &mut Effects,
) -> Result<(), BypassReason> {
    let mut verdict = Ok(());
    for f in &c.unknown_functions {
        match r.function(f) {
            Some(Volatility::Immutable) => {}
            Some(Volatility::Stable) => verdict = Err(BypassReason::NonImmutableFunction),
            Some(Volatility::Volatile) => {
                e.whole_database = true;
                e.taints_session = true;
                verdict = Err(BypassReason::NonImmutableFunction);
            }
            None => {}
        }
    }
    verdict
}

/// The tables a cacheable read depends on, or why it is not cacheable after all.
pub(super) fn reads(
    c: &Classification,
    r: &mut Resolver<'_>,
) -> Result<Vec<Box<str>>, BypassReason> {
    let mut deps = BTreeSet::new();
    let mut verdict = Ok(());
    for t in &c.reads {
        deps.insert(bare(&t.name));
        let known = r.relation(t);
        let Some(f) = known.as_deref().and_then(relation_facts) else {
            continue;
        };
        let bad = if !f.exists {
            Some(BypassReason::UnknownRelation)
        } else if f.temporary {
            Some(BypassReason::TemporaryTable)
        } else if f.system {
            Some(BypassReason::SystemCatalog)
        } else if f.volatile_view {
            Some(BypassReason::VolatileView)
        } else {
            None
        };
        if let Some(b) = bad {
            verdict = Err(b);
        }
        deps.extend(f.base.iter().cloned());
    }
    verdict.map(|()| deps.into_iter().collect())
}
