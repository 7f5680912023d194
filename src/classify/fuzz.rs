//! Fuzzing entry points for SQL text: the lexer (its tokens cover the text in order,
//! each its own slice of it), the template fingerprint, and the classifier with the
//! transaction-control and isolation readers, in every dialect. A panic is a
//! finding. Built for unit tests and the `fuzzing` feature (`fuzz/`).

use std::hint::black_box;

use super::Dialect;
use super::lexer::{self, Scanner};

pub const DIALECTS: [Dialect; 3] = [Dialect::Postgres, Dialect::MySql, Dialect::MariaDb];

/// The lexer and the template fingerprint.
pub fn fingerprint(sql: &str) {
    for dialect in DIALECTS {
        let mut end = 0;
        for t in Scanner::new(dialect, sql) {
            assert!(t.start >= end && t.start <= t.end, "token out of order");
            assert_eq!(
                sql.get(t.start..t.end),
                Some(t.text),
                "token is not its text"
            );
            end = t.end;
        }
        let a = super::template(dialect, sql);
        assert_eq!(
            a,
            super::template(dialect, sql),
            "template is not a function"
        );
        black_box(lexer::shape(dialect, sql));
        black_box(lexer::locking(dialect, sql));
    }
}

/// The classifier (sqlparser and the recovery from its errors), transaction control
/// and isolation changes.
pub fn classifier(sql: &str) {
    for dialect in DIALECTS {
        black_box(super::classify(dialect, sql));
        black_box(super::control(sql));
        black_box(super::isolation_change(sql, dialect));
    }
}
