//! The differential test of the template fingerprint: the single-pass writer and
//! its own lexer (`fingerprint_write.rs`, `fingerprint_lex.rs`) against the
//! reference (`fingerprint_reference.rs`, the shared scanner's tokens collected and
//! joined), on SQL-like text from a small grammar and on random text, in every
//! dialect: the same ID, text and literals flag, or the case is shrunk and shown.
//!
//! Runs `PROPTEST_CASES` cases per property (1024 unless set); run it with many
//! (`PROPTEST_CASES=200000 cargo test --lib fingerprint_differential`) after touching
//! either lexer or the writer.

use proptest::prelude::*;

use super::Dialect;
use super::fingerprint::fingerprint;
use super::fingerprint_reference;

const DIALECTS: [Dialect; 4] = [
    Dialect::Postgres,
    Dialect::MySql,
    Dialect::MariaDb,
    Dialect::MsSql,
];

/// The new fingerprint equals the reference's in every dialect.
fn same_in_every_dialect(sql: &str) -> Result<(), TestCaseError> {
    for dialect in DIALECTS {
        let new = fingerprint(dialect, sql);
        let old = fingerprint_reference::fingerprint(dialect, sql);
        prop_assert_eq!(&new.text, &old.text, "text, {:?}, {:?}", dialect, sql);
        prop_assert_eq!(new.id, old.id, "id, {:?}, {:?}", dialect, sql);
        prop_assert_eq!(
            new.literals,
            old.literals,
            "literals, {:?}, {:?}",
            dialect,
            sql
        );
    }
    Ok(())
}

/// `PROPTEST_CASES` or 1024 cases; a failure is shrunk and printed, not saved to a
/// file (a case worth keeping goes into `edges_match_the_reference`).
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 1024;
    }
    config.failure_persistence = None;
    config
}

fn pick(items: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    prop::sample::select(items).prop_map(str::to_owned)
}

/// Bare words: keywords in any case, identifiers, non-ASCII (`é`, final sigma,
/// `İ` which grows when lowered), `$` inside words, and one- or two-byte words that
/// may prefix a string.
fn word() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        pick(&[
            "SELECT",
            "select",
            "SeLeCt",
            "FROM",
            "WHERE",
            "IN",
            "VALUES",
            "values",
            "UPDATE",
            "SET",
            "INSERT",
            "INTO",
            "BEGIN",
            "END",
            "AND",
            "e",
            "E",
            "N",
            "X",
            "B",
            "U",
            "x",
            "_",
            "a$",
            "é",
            "ÉTÉ",
            "ΟΔΟΣ",
            "İ",
            "straße",
            "t",
            "pgbench_accounts",
            "abalance",
            "CURRENT_TIMESTAMP",
        ]),
        "[A-Za-z_][A-Za-z0-9_$]{0,6}",
        "[a-zé_][a-zéΣ0-9]{0,3}",
    ]
}

/// Literals and placeholders, including forms that join (`'a''b'`, `1'x'`) or
/// never end (`'abc`, `E'x\'`).
fn literal() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        pick(&[
            "1",
            "-4023",
            "1.5e3",
            ".5",
            "0x1f",
            "1e",
            "12abc",
            "'it''s'",
            "''",
            "E'a\\'b'",
            "e'\\\\'",
            "N'x'",
            "X'ff'",
            "B'01'",
            "U&'x'",
            "'a\\'b'",
            "\"A\"",
            "\"a\"\"b\"",
            "`a`",
            "`a``b`",
            "$$x$$",
            "$tag$x$tag$",
            "$a$$a$",
            "$1",
            "$12",
            "? ",
            "?",
            ":name",
            ":1",
            "$",
            "$$",
            "$1$",
            "E'",
            "'",
            "'abc",
            "`ab'",
            "\"ab",
            "$$unterminated",
            "é'x'",
            "ab'c'",
            "abc'd'",
        ]),
        any::<u32>().prop_map(|n| n.to_string()),
        "'[a-z' \\\\é]{0,6}'",
    ]
}

/// Comments, punctuation and whitespace.
fn other() -> impl Strategy<Value = String> + Clone {
    pick(&[
        "-- x\n",
        "--x\n",
        "-- ",
        "--",
        "/* x */",
        "/* a /* nested */ b */",
        "/*",
        "*/",
        "/**/",
        "/*/",
        "# x\n",
        "#",
        "(",
        ")",
        ",",
        ";",
        "=",
        "+",
        "-",
        "*",
        "/",
        ".",
        "::",
        ":",
        "<>",
        "\\",
        "@",
        "@@x",
        "&",
        "|",
        "[",
        "]",
        "{",
        "}",
        "\u{0}",
        "\u{7f}",
        "\u{b}",
        "\u{c}",
    ])
}

fn space() -> impl Strategy<Value = String> + Clone {
    pick(&["", "", " ", " ", "  ", "\n", "\t", "\r\n", "\u{c}", "\u{b}"])
}

/// A parenthesized list: mostly literals and placeholders (collapsible), now and
/// then a word or an operator (not), with or without spaces.
fn list() -> impl Strategy<Value = String> + Clone {
    let item = prop_oneof![6 => literal(), 1 => word(), 1 => other()];
    (
        prop::collection::vec((item, space(), space()), 0..5),
        space(),
    )
        .prop_map(|(items, tail)| {
            let inner: Vec<String> = items
                .into_iter()
                .map(|(item, before, after)| format!("{before}{item}{after}"))
                .collect();
            format!("({}{tail})", inner.join(","))
        })
}

/// `IN (…)` and multi-row `VALUES (…), (…)`, with doubled or missing commas.
fn lists() -> impl Strategy<Value = String> + Clone {
    let joint = pick(&[",", ", ", " , ", ",,", ", ,", "", " "]);
    (
        pick(&["IN ", "VALUES ", "values", "", "f"]),
        prop::collection::vec((list(), joint), 1..5),
    )
        .prop_map(|(head, rows)| {
            let mut text = head;
            for (row, joint) in rows {
                text.push_str(&row);
                text.push_str(&joint);
            }
            text
        })
}

/// SQL-like text: pieces of the grammar with random whitespace between them.
fn sql_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![4 => word(), 4 => literal(), 3 => other(), 2 => lists()];
    prop::collection::vec((piece, space()), 0..24).prop_map(|pieces| {
        pieces
            .into_iter()
            .map(|(piece, space)| piece + &space)
            .collect()
    })
}

/// Short random text over the bytes that matter to the lexers.
fn dense() -> impl Strategy<Value = String> {
    "[-a-eE0-9 \n'\"`$?:,;()/*#\\\\.éΣ]{0,32}"
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn grammar_texts_match_the_reference(sql in sql_like()) {
        same_in_every_dialect(&sql)?;
    }

    #[test]
    fn dense_texts_match_the_reference(sql in dense()) {
        same_in_every_dialect(&sql)?;
    }

    #[test]
    fn random_strings_match_the_reference(sql in any::<String>()) {
        same_in_every_dialect(&sql)?;
    }

    #[test]
    fn random_bytes_match_the_reference(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        same_in_every_dialect(&String::from_utf8_lossy(&bytes))?;
    }
}

/// Cases worth keeping whatever the generator draws: each edge of the rules.
#[test]
fn edges_match_the_reference() {
    let long = format!("SELECT {} FROM t", "a + ".repeat(2000));
    let long_unicode = format!("SELECT {}", "é".repeat(3000));
    let fixed = [
        "",
        "BEGIN;",
        "END;",
        "UPDATE pgbench_accounts SET abalance = abalance + -4023 WHERE aid = 581231;",
        "SELECT abalance FROM pgbench_accounts WHERE aid = 581231;",
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) \
         VALUES (7, 1, 581231, -4023, CURRENT_TIMESTAMP);",
        "UPDATE `sbtest1` SET `k` = `k` + 1 WHERE `id` = ?",
        "INSERT INTO t VALUES (1, 2), (3, 4),(5,6)",
        "INSERT INTO t VALUES (1),,(2)",
        "VALUES (1), (2) , , (3)",
        "(1)(2)",
        "((1))",
        "( ?",
        "(?,",
        "(?,)",
        "()",
        "$'x'",
        "$$",
        "$$$",
        "'a'$1",
        "?1'x'",
        "$ 1",
        "? 1",
        "E'\\'",
        "'\\",
        "`a'",
        "-- x",
        "--x",
        "/*/",
        "/* /* */ x */ y",
        "/* a /* nested */ b */",
        "IN (SELECT),(0x1f),",
        "IN (0,SELECT),",
        "IN (--x\n,1),",
        "--a",
        "$\n:",
        "$'",
        "Σ ΟΔΟΣ İ",
        &long,
        &long_unicode,
    ];
    for sql in fixed {
        same_in_every_dialect(sql).unwrap();
    }
}
