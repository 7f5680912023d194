//! `Classifier`: a dialect plus a bounded memo from SQL text to its
//! [`Classification`], so a cache hit never pays for parsing (design §3). Shared by
//! every session of a cache behind an `Arc`.

use std::sync::Arc;

use super::analysis::Analysis;
use super::fingerprint;
use super::memo_maps::{TemplateMemo, TextMemo};
use super::shape::{self, Shape};
use super::{Classification, Dialect, visitor};

fn analyze(dialect: Dialect, sql: &str) -> Analysis {
    Analysis::new(
        visitor::classify(dialect, sql),
        fingerprint::template(dialect, sql),
    )
}

/// Texts longer than this are classified every time, never memoized.
const MEMO_MAX_TEXT: usize = 64 * 1024;
/// Memo budget in weighted bytes (text length plus an estimate of the result), so
/// that many long texts cannot hold much memory.
const MEMO_CAPACITY_BYTES: usize = 32 * 1024 * 1024;
/// Fixed cost charged per entry on top of the text and the names it lists.
const ENTRY_OVERHEAD: usize = 256;

/// Templates remembered for classification by template.
const TEMPLATE_MEMO_ENTRIES: usize = 20_000;
/// Budget of the memo by shape, in weighted bytes (each shape's length plus
/// [`ENTRY_OVERHEAD`]): tens of thousands of shapes.
const SHAPE_MEMO_BYTES: usize = 8 * 1024 * 1024;

thread_local! {
    /// The shape of the text being classified (reused: no allocation per text).
    static SHAPE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Words that, inside a literal, change what a statement means (`'now'::timestamptz`
/// is not immutable), so texts holding them are never classified by their template.
const MEANINGFUL_LITERALS: [&str; 5] = ["now", "today", "tomorrow", "yesterday", "infinity"];

/// Whether `sql` may hold one of [`MEANINGFUL_LITERALS`] inside a literal. The
/// literals a template replaces start with a quote or a dollar sign (or are numbers),
/// so a text with neither holds none: one pass over the bytes, not one per word.
fn meaningful_literal(sql: &str) -> bool {
    sql.bytes().any(|b| b == b'\'' || b == b'$')
        && MEANINGFUL_LITERALS.iter().any(|w| lower_contains(sql, w))
}

/// Whether `sql` holds a MySQL executable comment (`/*! … */`, MariaDB's
/// `/*M! … */`): its contents run as SQL (`/*! FOR UPDATE */`, another table), but a
/// template drops it as a comment, so such texts are never classified by their
/// template.
fn executable_comment(dialect: Dialect, sql: &str) -> bool {
    matches!(dialect, Dialect::MySql | Dialect::MariaDb)
        && memchr::memmem::find_iter(sql.as_bytes(), b"/*").any(|at| {
            let rest = sql.as_bytes().get(at + 2..).unwrap_or_default();
            matches!(rest, [b'!', ..] | [b'M' | b'm', b'!', ..])
        })
}

/// Classifies SQL texts of one dialect, memoizing by text and by template: texts that
/// differ only in constants (`… WHERE id = 7`, `… id = 8`) share a classification, so
/// a stream of distinct literals is parsed once, not once per text.
pub struct Classifier {
    dialect: Dialect,
    memo: TextMemo,
    by_template: TemplateMemo,
    /// Texts with numbers, by shape (`shape.rs`): a shape decides the template.
    by_shape: TextMemo,
}

/// Whether `hay` contains `needle`, ASCII case ignored, without copying either.
pub fn lower_contains(hay: &str, needle: &str) -> bool {
    let (hay, needle) = (hay.as_bytes(), needle.as_bytes());
    let Some(&first) = needle.first() else {
        return true;
    };
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    // Compare only where the first byte matches: most positions fail on one byte.
    hay.iter().enumerate().any(|(i, &b)| {
        (b == lower || b == upper)
            && hay
                .get(i..i + needle.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(needle))
    })
}

impl Classifier {
    pub fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            memo: TextMemo::new(MEMO_CAPACITY_BYTES),
            by_template: TemplateMemo::new(TEMPLATE_MEMO_ENTRIES),
            by_shape: TextMemo::new(SHAPE_MEMO_BYTES),
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The classification and template of `sql`: from the memo by text when this
    /// very text was seen, else by template when a text of the same template was
    /// (the template is computed, far cheaper than parsing), else parsed.
    ///
    /// Only texts without literal constants are remembered by text (a prepared
    /// statement's, `BEGIN`, …: they come again as they are). Texts that differ in
    /// constants (lookups by unique keys, TPC-B's UPDATEs) are found by template: by
    /// text they would fill the memo with entries that never repeat.
    ///
    /// A simple text with numbers is found by its shape first (`shape.rs`: the text
    /// with its numbers marked), which decides its template without writing it.
    pub fn classify(&self, sql: &str) -> Arc<Analysis> {
        if sql.len() > MEMO_MAX_TEXT {
            return Arc::new(analyze(self.dialect, sql));
        }
        SHAPE.with(|buf| {
            let Ok(mut buf) = buf.try_borrow_mut() else {
                return self.classify_text(sql);
            };
            if shape::shape(sql, &mut buf) != Shape::Numbers {
                return self.classify_text(sql);
            }
            // Only ASCII goes into a shape: always UTF-8.
            let Ok(shape) = std::str::from_utf8(&buf) else {
                return self.classify_text(sql);
            };
            if let Some(hit) = self.by_shape.get(shape) {
                return hit;
            }
            let (analysis, by_template) = self.by_print(sql);
            if by_template {
                self.by_shape
                    .insert(shape, Arc::clone(&analysis), ENTRY_OVERHEAD + shape.len());
            }
            analysis
        })
    }

    /// [`Self::classify`] for a text without a shape of numbers: by text, else by
    /// template, else parsed.
    fn classify_text(&self, sql: &str) -> Arc<Analysis> {
        if let Some(hit) = self.memo.get(sql) {
            return hit;
        }
        self.by_print(sql).0
    }

    /// The classification of `sql` by its template when a text of the same template
    /// was classified, else parsed (and remembered); and whether texts of its template
    /// share it (not when a literal changes its meaning or the template is cut).
    fn by_print(&self, sql: &str) -> (Arc<Analysis>, bool) {
        let print = fingerprint::fingerprint(self.dialect, sql);
        let literals = print.literals;
        let by_template = print.text.len() < fingerprint::MAX_TEXT
            && !meaningful_literal(sql)
            && !executable_comment(self.dialect, sql);
        if by_template
            && let Some(hit) = self.by_template.get(print.id)
            && print.is(&hit.template)
        {
            if !literals {
                self.remember_text(sql, &hit);
            }
            return (hit, true);
        }
        let analysis = Arc::new(Analysis::new(
            visitor::classify(self.dialect, sql),
            print.into_template(),
        ));
        if by_template {
            self.by_template
                .insert(analysis.template.id, Arc::clone(&analysis));
        }
        if !literals || !by_template {
            self.remember_text(sql, &analysis);
        }
        (analysis, by_template)
    }

    fn remember_text(&self, sql: &str, analysis: &Arc<Analysis>) {
        let weight = weight(sql, &analysis.classification) + analysis.template.text.len();
        self.memo.insert(sql, Arc::clone(analysis), weight);
    }
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("dialect", &self.dialect)
            .field("memoized", &self.memo.len())
            .field("templates", &self.by_template.len())
            .field("shapes", &self.by_shape.len())
            .finish()
    }
}

fn weight(text: &str, c: &Classification) -> usize {
    let names = c
        .reads
        .iter()
        .chain(&c.writes)
        .map(|t| t.name.len() + t.schema.as_ref().map_or(0, String::len))
        .sum::<usize>();
    let functions = c.unknown_functions.iter().map(String::len).sum::<usize>();
    ENTRY_OVERHEAD + text.len() + names + functions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Uncacheable, control, isolation_change};

    #[test]
    fn texts_differing_in_constants_share_one_classification() {
        let c = Classifier::new(Dialect::Postgres);
        let a = c.classify("SELECT name FROM items WHERE id = 1");
        let b = c.classify("SELECT name FROM items WHERE id = 2");
        assert!(Arc::ptr_eq(&a, &b));
        let d = c.classify("SELECT name FROM other WHERE id = 2");
        assert!(!Arc::ptr_eq(&a, &d));
    }

    #[test]
    fn executable_comments_are_never_shared_by_template() {
        for dialect in [Dialect::MySql, Dialect::MariaDb] {
            let c = Classifier::new(dialect);
            let plain = c.classify("SELECT a FROM t WHERE id = 1");
            assert_eq!(plain.uncacheable, None);
            let locking = c.classify("SELECT a FROM t WHERE id = 2 /*! FOR UPDATE */");
            assert_eq!(locking.uncacheable, Some(Uncacheable::LockingClause));
            let more = c.classify("SELECT a FROM t /*M!100000 , u */ WHERE id = 3");
            assert_eq!(more.reads.len(), 2, "{more:?}");
        }
        // Elsewhere a comment is a comment.
        let c = Classifier::new(Dialect::Postgres);
        let a = c.classify("SELECT a FROM t WHERE id = 1");
        let b = c.classify("SELECT a FROM t WHERE id = 2 /*! FOR UPDATE */");
        assert!(Arc::ptr_eq(&a, &b));
    }

    /// A lone write's session facts are kept for its template: every text of the
    /// template gets what reading it would give, but for a literal naming
    /// `set_config` or `temporary` (only ever found, never missed); texts of several
    /// statements and other kinds are read each time.
    #[test]
    fn a_lone_writes_session_facts_are_its_templates() {
        let texts = [
            (
                "UPDATE t SET a = a + 1 WHERE id = 2;",
                "UPDATE t SET a = a + 7 WHERE id = 9;",
            ),
            (
                "INSERT INTO h (a, b) VALUES (1, 'x')",
                "INSERT INTO h (a, b) VALUES (2, 'y;z')",
            ),
            (
                "DELETE FROM t WHERE id = 1;;",
                "DELETE FROM t WHERE id = 2 ;;",
            ),
            (
                "UPDATE t SET a = set_config('x', 'y', false)",
                "UPDATE t SET a = set_config('p', 'q', false)",
            ),
            (
                "INSERT INTO temporary_log VALUES (1)",
                "INSERT INTO temporary_log VALUES (2)",
            ),
            (
                "INSERT INTO t VALUES ('set_config')",
                "INSERT INTO t VALUES ('plain')",
            ),
        ];
        for dialect in [Dialect::Postgres, Dialect::MySql, Dialect::MariaDb] {
            for (first, second) in texts {
                let c = Classifier::new(dialect);
                let a = c.classify(first);
                let b = c.classify(second);
                assert!(Arc::ptr_eq(&a, &b), "{first} / {second}: one template");
                assert_eq!(
                    a.session_facts(first, dialect),
                    (control(first), isolation_change(first, dialect))
                );
                let (kept, own) = (
                    b.session_facts(second, dialect),
                    (control(second), isolation_change(second, dialect)),
                );
                assert_eq!(kept.1, own.1, "{second}");
                let (mut found, mut read) = (kept.0, own.0);
                assert!(
                    found.set_config >= read.set_config && found.temporary >= read.temporary,
                    "{second}"
                );
                (
                    found.set_config,
                    found.temporary,
                    read.set_config,
                    read.temporary,
                ) = (false, false, false, false);
                assert_eq!(found, read, "{second}");
            }
        }
        // Read each time: several statements, and what is not a write.
        let c = Classifier::new(Dialect::MariaDb);
        let several = c.classify("UPDATE t SET a = 1 WHERE id = 1; COMMIT");
        several.session_facts("UPDATE t SET a = 1 WHERE id = 1; COMMIT", Dialect::MariaDb);
        assert_eq!(
            several.session_facts(
                "UPDATE t SET a = 1 WHERE id = 1; SET autocommit = 0",
                Dialect::MariaDb
            ),
            (
                control("UPDATE t SET a = 1 WHERE id = 1; SET autocommit = 0"),
                isolation_change(
                    "UPDATE t SET a = 1 WHERE id = 1; SET autocommit = 0",
                    Dialect::MariaDb
                )
            )
        );
        let set = c.classify("SET autocommit = 0");
        set.session_facts("SET autocommit = 0", Dialect::MariaDb);
        assert!(
            !set.session_facts("SET autocommit = 5", Dialect::MariaDb)
                .0
                .autocommit_only
        );
        assert!(
            set.session_facts("SET autocommit = 1", Dialect::MariaDb)
                .0
                .autocommit_only
        );
    }

    #[test]
    fn meaningful_literals_are_never_shared_by_template() {
        let c = Classifier::new(Dialect::Postgres);
        let date = c.classify("SELECT v FROM t WHERE at > '2020-01-01'::timestamptz");
        assert_eq!(date.uncacheable, None);
        let now = c.classify("SELECT v FROM t WHERE at > 'now'::timestamptz");
        assert_eq!(now.uncacheable, Some(Uncacheable::NonImmutableFunction));
    }
}
