//! What a statement does to shared state and to its session, as the engine judged
//! it: applied when the origin acknowledges it (and again when its transaction ends).

use super::Scope;
use crate::classify::{Analysis, Dialect, IsolationChange, SessionFacts, TxnEnd};

/// What a statement does to shared state once the origin acknowledges it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Tables (bare names) whose entries must be invalidated.
    pub tables: Vec<Box<str>>,
    /// Invalidate the whole database (unknown write extent).
    pub whole_database: bool,
    /// DDL: invalidate the whole database and forget catalog facts.
    pub schema_change: bool,
    /// The statement changes session state (SET, RESET, …): the namespace changes.
    pub session_change: bool,
    /// The statement may have changed session state in ways we cannot see
    /// (set_config, volatile functions, DO): the session's namespace becomes private.
    pub taints_session: bool,
    /// A lone statement that ends the open transaction, and how.
    pub txn_end: Option<TxnEnd>,
    /// Prepared statements may be gone (`DEALLOCATE`, `DISCARD`).
    pub drops_prepared: bool,
    /// A locking read (`FOR UPDATE`, `FOR SHARE`, …): as good as a write to the
    /// transaction that runs it.
    pub locks: bool,
    /// What it does to the isolation of the session's transactions.
    pub isolation: Option<IsolationChange>,
}

impl Effects {
    /// A write of unknown extent.
    pub fn unknown_write() -> Self {
        Effects {
            whole_database: true,
            taints_session: true,
            ..Effects::default()
        }
    }

    pub fn is_none(&self) -> bool {
        *self == Effects::default()
    }

    pub fn writes(&self) -> bool {
        self.whole_database || self.schema_change || !self.tables.is_empty()
    }

    /// A transaction that runs it no longer reads only what others committed: its
    /// later reads must go to the origin.
    pub fn ends_clean_reads(&self) -> bool {
        self.writes() || self.locks
    }

    /// Adds `other` to `self` (a transaction accumulating its writes).
    pub fn merge(&mut self, other: &Effects) {
        for t in &other.tables {
            if !self.tables.contains(t) {
                self.tables.push(t.clone());
            }
        }
        self.whole_database |= other.whole_database;
        self.schema_change |= other.schema_change;
        self.session_change |= other.session_change;
        self.taints_session |= other.taints_session;
        self.drops_prepared |= other.drops_prepared;
    }
}

/// What the statement does to the session beyond reads and writes (classify's
/// [`control`]): `set_config` makes the namespace private. On MySQL and MariaDB, a
/// SET whose value comes from a variable does too, `SET STATEMENT … FOR` may run any
/// statement (a write of unknown extent), and a temporary table shadows a shared one
/// for this session only.
/// `analysis` is the text's: a lone write's facts are read once per template
/// ([`Analysis::session_facts`]), and a plain read has none
/// (`plain_reads_have_no_session_effects`).
pub(super) fn session_control(scope: &Scope, sql: &str, analysis: &Analysis, e: &mut Effects) {
    let dialect = scope.cache.classifier.dialect();
    let facts = if super::cacheability::plain_read(&analysis.classification) {
        SessionFacts::default()
    } else {
        analysis.session_facts(sql, dialect)
    };
    apply_session_facts(dialect, facts, e);
}

/// [`session_control`] for a text of `dialect`, read from the text.
#[cfg(test)]
pub(super) fn session_control_in(dialect: Dialect, sql: &str, e: &mut Effects) {
    use crate::classify::{control, isolation_change};
    apply_session_facts(dialect, (control(sql), isolation_change(sql, dialect)), e);
}

fn apply_session_facts(dialect: Dialect, (ctl, isolation): SessionFacts, e: &mut Effects) {
    e.txn_end = ctl.txn_end;
    e.drops_prepared = ctl.drops_prepared;
    e.taints_session |= ctl.set_config;
    e.isolation = isolation;
    // A temporary object shadows what other sessions of the namespace see by its
    // name, for the rest of the session: its reads are its own from then on.
    e.taints_session |= e.schema_change && ctl.temporary;
    if dialect == Dialect::Postgres {
        return;
    }
    // Autocommit changes when transactions end, never what a query returns.
    e.session_change &= !ctl.autocommit_only;
    if e.session_change && ctl.set_statement {
        e.whole_database = true;
        e.taints_session = true;
    }
    e.taints_session |= e.session_change && ctl.value_from_variable;
}
