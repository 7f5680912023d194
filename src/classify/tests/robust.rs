//! Robustness: deep nesting, long chains, huge texts and random input never
//! crash; the memo returns shared results and is `Send + Sync`.

use std::sync::Arc;

use crate::classify::lexer::{self, Shape};
use crate::classify::{Classifier, Dialect, StatementKind, Uncacheable, classify};

const DIALECTS: [Dialect; 3] = [Dialect::Postgres, Dialect::MySql, Dialect::MariaDb];

#[test]
fn ten_thousand_nested_parentheses() {
    let sql = format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000));
    for dialect in DIALECTS {
        let c = classify(dialect, &sql);
        assert_eq!(c.uncacheable, Some(Uncacheable::Unparsable));
        assert_eq!(c.kind, StatementKind::Read);
        assert!(!c.writes_unknown);
    }
    let sql = format!(
        "{}SELECT 1{}",
        "SELECT * FROM (".repeat(5_000),
        ") x".repeat(5_000)
    );
    assert_eq!(
        classify(Dialect::Postgres, &sql).uncacheable,
        Some(Uncacheable::Unparsable)
    );
    let sql = format!(
        "DELETE FROM t WHERE a = {}1{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    assert!(classify(Dialect::Postgres, &sql).writes_unknown);
}

#[test]
fn moderate_nesting_parses() {
    let sql = format!(
        "SELECT * FROM t WHERE a = {}1{}",
        "(".repeat(20),
        ")".repeat(20)
    );
    let c = classify(Dialect::Postgres, &sql);
    assert_eq!(c.uncacheable, None);
    assert_eq!(c.reads.len(), 1);
}

/// Operator chains are built in a loop, so their depth is bounded only by the
/// text; dropping them must not overflow the stack, on success or error paths.
#[test]
fn long_operator_chains() {
    for (op, tail) in [
        ("+1", ""),
        ("+1", " )"),
        ("::int", ""),
        (" IS NULL", " garbage"),
        (" OR a = 1", ""),
    ] {
        let sql = format!("SELECT 1 FROM t WHERE a = 1{}{tail}", op.repeat(100_000));
        let c = classify(Dialect::Postgres, &sql);
        assert_eq!(c.statements, 1, "{op}{tail}");
    }
    let sql = format!("SELECT 1{}", " UNION SELECT 1".repeat(50_000));
    assert_eq!(classify(Dialect::MySql, &sql).kind, StatementKind::Read);
}

#[test]
fn texts_beyond_the_parse_limit_are_unparsable() {
    let sql = format!("SELECT 1{}", "+1".repeat(600_000));
    let c = classify(Dialect::Postgres, &sql);
    assert_eq!(c.uncacheable, Some(Uncacheable::Unparsable));
    assert!(!c.writes_unknown);
    let sql = format!("INSERT INTO t VALUES {}(1)", "(1),".repeat(300_000));
    assert!(classify(Dialect::MySql, &sql).writes_unknown);
}

/// A tiny xorshift generator: deterministic, no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for i in 0..3_000 {
        let len = rng.below(120);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let sql = String::from_utf8_lossy(&bytes);
        let c = classify(DIALECTS[i % 3], &sql);
        assert!(c.statements <= sql.len() + 1);
    }
}

#[test]
fn random_token_soup_never_panics() {
    const WORDS: &[&str] = &[
        "SELECT",
        "FROM",
        "WHERE",
        "WITH",
        "AS",
        "(",
        ")",
        ",",
        ";",
        "t",
        "u.v",
        "\"Q\"",
        "`b`",
        "'s'",
        "$$",
        "$1",
        "?",
        "--",
        "/*",
        "*/",
        "#",
        "INSERT",
        "INTO",
        "UPDATE",
        "SET",
        "=",
        "DELETE",
        "VALUES",
        "FOR",
        "LOCK",
        "IN",
        "SHARE",
        "MODE",
        "NO",
        "KEY",
        "now()",
        "f(",
        "@x",
        "@@y",
        "JOIN",
        "ON",
        "UNION",
        "RECURSIVE",
        "EXPLAIN",
        "ANALYZE",
        "COPY",
        "TO",
        "TABLE",
        "CALL",
        "1",
        "+",
        "::",
        "E'\\'",
        "é",
        "\\",
    ];
    let mut rng = XorShift(42);
    for i in 0..3_000 {
        let n = rng.below(30);
        let words: Vec<&str> = (0..n).map(|_| WORDS[rng.below(WORDS.len())]).collect();
        let sql = words.join(if i % 2 == 0 { " " } else { "" });
        let c = classify(DIALECTS[i % 3], &sql);
        if c.kind == StatementKind::Read && c.statements == 1 {
            assert!(c.writes.is_empty() && !c.writes_unknown, "{sql:?} → {c:?}");
        }
    }
}

#[test]
fn lexer_shapes() {
    let pg = Dialect::Postgres;
    assert_eq!(lexer::shape(pg, "/* x */ ( SELECT 1"), Shape::Read);
    assert_eq!(
        lexer::shape(pg, "SELECT 'a; DELETE FROM t' garbage"),
        Shape::Read
    );
    assert_eq!(
        lexer::shape(pg, "SELECT $x$ ; DELETE $x$ garbage"),
        Shape::Read
    );
    assert_eq!(
        lexer::shape(pg, "SELECT E'\\'; DELETE FROM t' garbage"),
        Shape::Read
    );
    assert_eq!(
        lexer::shape(pg, "SELECT 1 garbage; DELETE FROM t"),
        Shape::MaybeWrite
    );
    assert_eq!(
        lexer::shape(pg, "SELECT * INTO x FROM garbage garbage"),
        Shape::MaybeWrite
    );
    assert_eq!(
        lexer::shape(pg, "SELECT 1 FOR NO KEY UPDATE garbage"),
        Shape::Read
    );
    assert_eq!(
        lexer::shape(pg, "EXPLAIN ANALYZE garbage"),
        Shape::MaybeWrite
    );
    assert_eq!(lexer::shape(pg, "/* unterminated"), Shape::MaybeWrite);
    // A statement that begins with a schema-changing word, wherever it stands.
    for ddl in [
        "CREATE TRIGGER x garbage",
        "(ALTER garbage",
        "SELECT 1 garbage; drop TABLE t",
        "rename garbage",
    ] {
        assert_eq!(lexer::shape(pg, ddl), Shape::MaybeDdl, "{ddl}");
    }
    // Anywhere outside strings and comments (a column named so costs a catalog
    // round, never a wrong answer); a read stays a read.
    assert_eq!(
        lexer::shape(pg, "UPDATE t SET alter = 1 garbage"),
        Shape::MaybeDdl
    );
    assert_eq!(
        lexer::shape(pg, "SET NOCOUNT ON CREATE TRIGGER x garbage"),
        Shape::MaybeDdl
    );
    assert_eq!(lexer::shape(pg, "SELECT drop FROM t garbage"), Shape::Read);
    assert_eq!(
        lexer::shape(pg, "UPDATE t SET v = 'drop' garbage"),
        Shape::MaybeWrite
    );
    let my = Dialect::MySql;
    // mysqldump's triggers: the DDL is inside executable comments.
    assert_eq!(
        lexer::shape(
            my,
            "/*!50003 CREATE*/ /*!50017 DEFINER=`u`@`%`*/ /*!50003 TRIGGER tr AFTER INSERT \
             ON t FOR EACH ROW INSERT INTO a VALUES (1) */"
        ),
        Shape::MaybeDdl
    );
    assert_eq!(
        lexer::shape(my, "SELECT /*!40001 SQL_NO_CACHE */ * FROM t garbage"),
        Shape::Read
    );
    assert_eq!(
        lexer::shape(my, "SELECT 'it\\'s; DELETE' garbage # ; DELETE"),
        Shape::Read
    );
    assert_eq!(
        lexer::shape(my, "SELECT 1 INTO OUTFILE 'x' garbage"),
        Shape::Read
    );
    let locking = lexer::locking(my, "SELECT * FROM t /* c */ LOCK IN SHARE MODE");
    assert!(locking.found);
    assert_eq!(
        locking.rewritten.as_deref(),
        Some("SELECT * FROM t /* c */ FOR SHARE ")
    );
    assert!(!lexer::locking(my, "SELECT 'LOCK IN SHARE MODE'").found);
}

#[test]
fn classifier_memoizes_and_is_shareable() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Classifier>();
    let classifier = Arc::new(Classifier::new(Dialect::Postgres));
    assert_eq!(classifier.dialect(), Dialect::Postgres);
    let first = classifier.classify("SELECT * FROM t");
    let second = classifier.classify("SELECT * FROM t");
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(first.reads.len(), 1);

    let long = format!("SELECT * FROM t WHERE a IN ({}1)", "1, ".repeat(30_000));
    let a = classifier.classify(&long);
    let b = classifier.classify(&long);
    assert!(!Arc::ptr_eq(&a, &b), "texts over 64 KiB are not memoized");
    assert_eq!(*a, *b);

    let threads: Vec<_> = (0..4)
        .map(|i| {
            let classifier = Arc::clone(&classifier);
            std::thread::spawn(move || classifier.classify(&format!("SELECT * FROM t{}", i % 2)))
        })
        .collect();
    for thread in threads {
        let c = thread
            .join()
            .unwrap_or_else(|_| panic!("classifier thread panicked"));
        assert_eq!(c.reads.len(), 1);
    }
}

/// The longest text classified on the caller's stack, at its deepest, fits in
/// half of a tokio worker's default 2 MiB stack.
#[test]
fn inline_texts_fit_a_small_stack() {
    let chain = format!("SELECT 1{}", "+1".repeat(4_090));
    let broken = format!("{chain} )");
    assert!(broken.len() <= 8 * 1024);
    let worker = std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || {
            let ok = classify(Dialect::Postgres, &chain);
            let bad = classify(Dialect::Postgres, &broken);
            (ok.uncacheable, bad.uncacheable)
        });
    let outcome = worker.ok().and_then(|w| w.join().ok());
    assert_eq!(outcome, Some((None, Some(Uncacheable::Unparsable))));
}
