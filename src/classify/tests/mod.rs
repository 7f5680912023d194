//! Classification tests: tables of cases per dialect (`postgres`, `mysql`), and
//! robustness checks (`robust`: deep nesting, huge texts, random bytes, the memo).

mod isolation;
mod laws;
mod mssql;
mod mysql;
mod postgres;
mod postgres_reads;
mod robust;

use super::{Classification, Dialect, StatementKind, TableRef, Uncacheable, classify};

/// What one case expects. Tables are written `name` or `schema.name`.
#[derive(Debug, Clone, Copy)]
struct Expect {
    kind: StatementKind,
    reads: &'static [&'static str],
    writes: &'static [&'static str],
    functions: &'static [&'static str],
    writes_unknown: bool,
    uncacheable: Option<Uncacheable>,
    statements: usize,
}

/// A single cacheable read of nothing.
const READ: Expect = Expect {
    kind: StatementKind::Read,
    reads: &[],
    writes: &[],
    functions: &[],
    writes_unknown: false,
    uncacheable: None,
    statements: 1,
};
const WRITE: Expect = Expect {
    kind: StatementKind::Write,
    uncacheable: Some(Uncacheable::NotARead),
    ..READ
};
const DDL: Expect = Expect {
    kind: StatementKind::Ddl,
    writes_unknown: true,
    uncacheable: Some(Uncacheable::NotARead),
    ..READ
};
const TRANSACTION: Expect = Expect {
    kind: StatementKind::Transaction,
    uncacheable: Some(Uncacheable::NotARead),
    ..READ
};
const SESSION: Expect = Expect {
    kind: StatementKind::Session,
    uncacheable: Some(Uncacheable::NotARead),
    ..READ
};
const OTHER: Expect = Expect {
    kind: StatementKind::Other,
    uncacheable: Some(Uncacheable::NotARead),
    ..READ
};
/// Text sqlparser rejects that might write.
const GARBAGE: Expect = Expect {
    kind: StatementKind::Other,
    writes_unknown: true,
    uncacheable: Some(Uncacheable::Unparsable),
    ..READ
};
/// Text sqlparser rejects that begins as DDL.
const GARBAGE_DDL: Expect = Expect {
    kind: StatementKind::Ddl,
    ..GARBAGE
};

/// Builders, so that a case stays on one line.
impl Expect {
    const fn reads(self, reads: &'static [&'static str]) -> Self {
        Self { reads, ..self }
    }

    const fn writes(self, writes: &'static [&'static str]) -> Self {
        Self { writes, ..self }
    }

    const fn calls(self, functions: &'static [&'static str]) -> Self {
        Self { functions, ..self }
    }

    const fn writes_unknown(self) -> Self {
        Self {
            writes_unknown: true,
            ..self
        }
    }

    const fn because(self, reason: Uncacheable) -> Self {
        Self {
            uncacheable: Some(reason),
            ..self
        }
    }

    const fn multi(self, statements: usize) -> Self {
        Self {
            statements,
            uncacheable: Some(Uncacheable::MultiStatement),
            ..self
        }
    }

    const fn kind(self, kind: StatementKind) -> Self {
        Self { kind, ..self }
    }
}

fn table(text: &str) -> TableRef {
    match text.split_once('.') {
        Some((schema, name)) => TableRef {
            schema: Some(schema.into()),
            name: name.into(),
        },
        None => TableRef {
            schema: None,
            name: text.into(),
        },
    }
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

fn expected(e: &Expect) -> Classification {
    Classification {
        kind: e.kind,
        statements: e.statements,
        reads: sorted(e.reads.iter().map(|t| table(t)).collect()),
        writes: sorted(e.writes.iter().map(|t| table(t)).collect()),
        unknown_functions: sorted(e.functions.iter().map(|f| f.to_string()).collect()),
        writes_unknown: e.writes_unknown,
        uncacheable: e.uncacheable,
    }
}

/// Runs a table of cases, reporting every mismatch at once.
fn check(dialect: Dialect, cases: &[(&str, Expect)]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(sql, e)| {
            let got = classify(dialect, sql);
            let want = expected(e);
            let strictly_sorted = got.reads.windows(2).all(|w| w[0] < w[1])
                && got.writes.windows(2).all(|w| w[0] < w[1])
                && got.unknown_functions.windows(2).all(|w| w[0] < w[1]);
            (got != want || !strictly_sorted)
                .then(|| format!("{dialect:?} {sql:?}\n  want {want:?}\n  got  {got:?}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
