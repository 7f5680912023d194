//! Micro-benchmarks of classification: parsing a statement every time
//! (`classify::classify`, what a first sight of a text costs) against the memoized
//! `Classifier::classify` (what every later sight costs), for a primary-key lookup,
//! pgbench's select, the employees join and an UPDATE; the miss path of a lookup
//! by a unique key (`unique constants`): every text new, its template known; and the
//! template alone (`fingerprint`) of TPC-B's texts and a MySQL one, which every write
//! and every miss with new constants pays.

// Test and benchmark code may unwrap, index and run long.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::too_many_lines)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use wirecache::classify::{self, Classifier, Dialect};

const STATEMENTS: &[(&str, &str)] = &[
    (
        "pk lookup",
        "SELECT first_name, last_name, hire_date FROM employees WHERE emp_no = 10042",
    ),
    (
        "pgbench select",
        "SELECT abalance FROM pgbench_accounts WHERE aid = 123456;",
    ),
    (
        "join",
        "SELECT COUNT(*), MAX(salary), MIN(salary) FROM employees e \
         JOIN dept_emp de ON e.emp_no = de.emp_no \
         JOIN departments d ON de.dept_no = d.dept_no \
         JOIN salaries s ON s.emp_no = e.emp_no WHERE d.dept_name = 'Sales'",
    ),
    (
        "update",
        "UPDATE pgbench_accounts SET abalance = abalance + 17 WHERE aid = 99;",
    ),
];

fn bench_classify(c: &mut Criterion) {
    let mut group = c.benchmark_group("classify");
    for (name, sql) in STATEMENTS {
        group.bench_function(format!("{name}/parse"), |b| {
            b.iter(|| black_box(classify::classify(Dialect::Postgres, black_box(sql))))
        });
        let memo = Classifier::new(Dialect::Postgres);
        memo.classify(sql);
        group.bench_function(format!("{name}/memoized"), |b| {
            b.iter(|| black_box(memo.classify(black_box(sql))))
        });
    }
    group.finish();
}

/// Texts that differ only in a constant, each seen once (a stream of lookups by
/// unique keys, or TPC-B's UPDATEs): what the classifier costs on a miss.
fn bench_unique_constants(c: &mut Criterion) {
    const TEXTS: usize = 1_000_000;
    let mut group = c.benchmark_group("classify");
    for (name, pattern) in [
        (
            "pgbench select",
            "SELECT abalance FROM pgbench_accounts WHERE aid = ",
        ),
        (
            "update",
            "UPDATE pgbench_accounts SET abalance = abalance + 17 WHERE aid = ",
        ),
    ] {
        let texts: Vec<String> = (0..TEXTS).map(|i| format!("{pattern}{i};")).collect();
        let memo = Classifier::new(Dialect::Postgres);
        memo.classify(&texts[0]);
        let mut i = 0;
        group.bench_function(format!("{name}/unique constants"), |b| {
            b.iter(|| {
                i = (i + 1) % TEXTS;
                black_box(memo.classify(black_box(&texts[i])))
            })
        });
    }
    group.finish();
}

/// The texts of one pgbench TPC-B transaction (simple protocol: constants inline) and
/// a MySQL text with backticks and a placeholder.
const FINGERPRINTED: &[(&str, Dialect, &str)] = &[
    ("tpcb begin", Dialect::Postgres, "BEGIN;"),
    (
        "tpcb update",
        Dialect::Postgres,
        "UPDATE pgbench_accounts SET abalance = abalance + -4023 WHERE aid = 581231;",
    ),
    (
        "tpcb select",
        Dialect::Postgres,
        "SELECT abalance FROM pgbench_accounts WHERE aid = 581231;",
    ),
    (
        "tpcb insert",
        Dialect::Postgres,
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) \
         VALUES (7, 1, 581231, -4023, CURRENT_TIMESTAMP);",
    ),
    ("tpcb end", Dialect::Postgres, "END;"),
    (
        "mysql update",
        Dialect::MySql,
        "UPDATE `sbtest1` SET `k` = `k` + 1 WHERE `id` = ?",
    ),
];

/// The template of a text (`classify::template`: the fingerprint and its text shared
/// as an `Arc<str>`), what a classification costs beyond the memo when the text
/// carries new constants.
fn bench_fingerprint(c: &mut Criterion) {
    let mut group = c.benchmark_group("fingerprint");
    for (name, dialect, sql) in FINGERPRINTED {
        group.bench_function(*name, |b| {
            b.iter(|| black_box(classify::template(*dialect, black_box(sql))))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_classify,
    bench_unique_constants,
    bench_fingerprint
);
criterion_main!(benches);
