//! [`Analysis`]: what classification says about a text (shared by every text of its
//! template), and what is kept with it for later requests of those texts.

use std::any::Any;
use std::sync::{Arc, OnceLock};

use super::fingerprint::Template;
use super::{
    Classification, Control, Dialect, IsolationChange, StatementKind, control, isolation_change,
};

/// A classification together with the text's template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    pub classification: Classification,
    pub template: Template,
    /// [`Analysis::session_facts`] of a lone write or transaction statement, kept for
    /// its template.
    session_facts: OnceLock<SessionFacts>,
    /// What the engine worked out for this analysis against the origin's catalog.
    pub resolved: Resolved,
}

/// What a text does to its session: [`control`] and [`isolation_change`].
pub type SessionFacts = (Control, Option<IsolationChange>);

impl Analysis {
    pub fn new(classification: Classification, template: Template) -> Analysis {
        Analysis {
            classification,
            template,
            session_facts: OnceLock::new(),
            resolved: Resolved::default(),
        }
    }

    /// [`control`] and [`isolation_change`] of `sql`, a text of this analysis.
    ///
    /// For a lone statement (no `;` but trailing ones) that is a write or a
    /// transaction statement (BEGIN, COMMIT, START TRANSACTION …), the first text's
    /// answer is kept and given to every text of its template: what the two read there
    /// comes from the statement's words, which every text of one template shares.
    /// - A write: a transaction end, `DEALLOCATE`/`DISCARD`, an isolation change or a
    ///   `SET` form is never its first word; `set_config` and `temporary` are words of
    ///   the template (a call or a name) or inside a literal, where finding them only
    ///   makes a text less cacheable.
    /// - A transaction statement: none of its literals (a snapshot name) changes what
    ///   the two read, but a comment can (the template drops comments; the two read
    ///   words, so `/* x */ COMMIT` is not read as a COMMIT): a text that may hold
    ///   one (`/`, `-`, `#`) is read itself.
    ///
    /// Every other text is read itself.
    pub fn session_facts(&self, sql: &str, dialect: Dialect) -> SessionFacts {
        let read = || (control(sql), isolation_change(sql, dialect));
        let lone = self.classification.statements == 1
            && memchr::memchr(b';', sql.trim_end().trim_end_matches(';').as_bytes()).is_none();
        let by_template = lone
            && match self.classification.kind {
                StatementKind::Write => true,
                StatementKind::Transaction => {
                    memchr::memchr3(b'/', b'-', b'#', sql.as_bytes()).is_none()
                }
                _ => false,
            };
        if by_template {
            *self.session_facts.get_or_init(read)
        } else {
            read()
        }
    }
}

impl std::ops::Deref for Analysis {
    type Target = Classification;

    fn deref(&self) -> &Classification {
        &self.classification
    }
}

/// A slot the engine keeps its judgement of an analysis against the catalog in (the
/// tables a write invalidates, what a read depends on), so texts of one template are
/// not resolved against the catalog's facts one by one. Opaque here: classification
/// knows nothing of the engine, which checks that what it finds is still valid.
/// Not part of an analysis's value: a clone starts empty, equality ignores it.
///
/// Read on every judged statement by every session of the template, on every
/// session thread, and written only when a judgement is made again: read without a
/// lock or a reference count taken (`arc_swap`).
#[derive(Default)]
pub struct Resolved(arc_swap::ArcSwapOption<Box<dyn Any + Send + Sync>>);

impl Resolved {
    /// What `f` makes of what was kept, if anything was.
    pub fn with<R>(&self, f: impl FnOnce(&(dyn Any + Send + Sync)) -> Option<R>) -> Option<R> {
        let kept = self.0.load();
        kept.as_deref().and_then(|b| f(b.as_ref()))
    }

    /// Keeps `value` in place of what was kept.
    pub fn set(&self, value: Box<dyn Any + Send + Sync>) {
        self.0.store(Some(Arc::new(value)));
    }
}

impl Clone for Resolved {
    fn clone(&self) -> Self {
        Resolved::default()
    }
}

impl PartialEq for Resolved {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Resolved {}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolved")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Classifier;

    /// A transaction statement's facts are its template's, except where a comment
    /// may change the words the two read.
    #[test]
    fn a_transaction_statements_session_facts_are_its_templates() {
        let texts = [
            ("BEGIN", "begin"),
            ("COMMIT", "commit ;"),
            ("ROLLBACK", "rollback"),
            (
                "START TRANSACTION READ ONLY",
                "start  transaction read only",
            ),
            (
                "BEGIN ISOLATION LEVEL SERIALIZABLE",
                "begin isolation level serializable",
            ),
            ("COMMIT", "/* x */ COMMIT"),
            ("COMMIT", "-- x\nCOMMIT"),
        ];
        for dialect in [Dialect::Postgres, Dialect::MySql, Dialect::MariaDb] {
            for (first, second) in texts {
                let c = Classifier::new(dialect);
                let a = c.classify(first);
                let b = c.classify(second);
                // Texts told apart only by a comment share an analysis (the case the
                // comment check is for); others may or may not, by dialect.
                if second.contains("x") {
                    assert!(Arc::ptr_eq(&a, &b), "{first} / {second}: one template");
                }
                assert_eq!(a.kind, StatementKind::Transaction, "{first}");
                for (analysis, sql) in [(&a, first), (&b, second)] {
                    assert_eq!(
                        analysis.session_facts(sql, dialect),
                        (control(sql), isolation_change(sql, dialect)),
                        "{sql} ({dialect:?})"
                    );
                }
            }
        }
    }
}
