//! Holds `shape.rs` to the fingerprint: texts of one shape have one template, in
//! every dialect; and the classifier's memo by shape answers with the text's own
//! template.

use proptest::prelude::*;

use super::fingerprint::fingerprint;
use super::shape::{MARK, Shape, shape};
use super::{Classifier, Dialect, template};

const DIALECTS: [Dialect; 4] = [
    Dialect::Postgres,
    Dialect::MySql,
    Dialect::MariaDb,
    Dialect::MsSql,
];

fn shape_of(sql: &str) -> (Shape, Vec<u8>) {
    let mut out = Vec::new();
    let s = shape(sql, &mut out);
    (s, out)
}

#[test]
fn numbers_are_marked_and_words_kept() {
    let (s, out) = shape_of("SELECT abalance FROM pgbench_accounts WHERE aid = 48213;");
    assert_eq!(s, Shape::Numbers);
    let want = [
        b"SELECT abalance FROM pgbench_accounts WHERE aid = ".as_slice(),
        &[MARK],
        b";",
    ]
    .concat();
    assert_eq!(out, want);
    // Digits inside a word are the word's; a run that starts with a digit takes
    // letters, `_` and dots, and is a number only if it reads as one: `7abc` and
    // MySQL's table `2024_orders` are names, kept.
    let (s, out) = shape_of("select t1.c2 from 2024_orders where x > 1.5e3 and y = 7abc");
    assert_eq!(s, Shape::Numbers);
    let want = [
        b"select t1.c2 from 2024_orders where x > ".as_slice(),
        &[MARK],
        b" and y = 7abc",
    ]
    .concat();
    assert_eq!(out, want);
    let (s, out) = shape_of("x = 0x1F or y = 0b10 or z = 12. or w = 1e");
    assert_eq!(s, Shape::Numbers);
    let want = [
        b"x = ".as_slice(),
        &[MARK],
        b" or y = ",
        &[MARK],
        b" or z = ",
        &[MARK],
        b" or w = 1e",
    ]
    .concat();
    assert_eq!(out, want);
    assert_eq!(shape_of("SELECT * FROM 2024_orders").0, Shape::NoNumbers);
    assert_eq!(shape_of("a - 1 / 2").0, Shape::Numbers);
    assert_eq!(shape_of("BEGIN").0, Shape::NoNumbers);
    assert_eq!(shape_of("").0, Shape::NoNumbers);
}

#[test]
fn what_could_hide_a_number_is_not_shaped() {
    for sql in [
        "SELECT 'a1' FROM t WHERE id = 1",
        "SELECT \"t 1\".a FROM \"t 1\" WHERE id = 1",
        "SELECT `t 1`.a FROM `t 1` WHERE id = 1",
        "SELECT $1 FROM t WHERE id = 1",
        "SELECT $$1$$, 2",
        "SELECT 1 -- 2",
        "SELECT 1 /* 2 */",
        "SELECT 1 # 2",
        "SELECT [t 1].a FROM [t 1] WHERE id = 1",
        "SELECT E\\'1",
        "SELECT 1, 'é'",
        "SELECT 1\u{b}",
        "SELECT 1\u{1}",
    ] {
        assert_eq!(shape_of(sql).0, Shape::Unsupported, "{sql:?}");
    }
    let long = format!("SELECT {} 1", "a ".repeat(super::shape::MAX_LEN));
    assert_eq!(shape_of(&long).0, Shape::Unsupported);
}

/// Text from the bytes a shape may hold, and some it may not.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z_][a-zA-Z0-9_]{0,6}",
        4 => "[0-9][0-9a-z_.]{0,5}",
        3 => "[ \t\n\r]{1,2}",
        4 => "[-()=<>+*/,;:.?!%&|^~@{}]",
        1 => "['\"`$\\\\#\\[\\]\u{1}\u{e9}]",
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

/// A number to put in a number's place.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,4}",
        "[0-9]{1,3}\\.[0-9]{0,3}",
        "[0-9]{1,2}(\\.[0-9])?[eE][0-9]{1,2}",
        "0[xX][0-9a-fA-F]{1,4}",
        "0[bB][01]{1,4}",
    ]
}

/// `sql` with every number the shape marks replaced by the next of `numbers` (runs
/// that start with a digit but are names stay).
fn renumbered(sql: &str, numbers: &[String]) -> String {
    let bytes = sql.as_bytes();
    let (mut out, mut next, mut pos) = (String::new(), 0, 0);
    while pos < bytes.len() {
        let b = bytes[pos];
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        if b.is_ascii_alphabetic() || b == b'_' {
            let len = bytes[pos..].iter().take_while(|c| word(**c)).count();
            out.push_str(&sql[pos..pos + len]);
            pos += len;
        } else if b.is_ascii_digit() {
            let len = bytes[pos..]
                .iter()
                .take_while(|c| word(**c) || **c == b'.')
                .count();
            let run = &sql[pos..pos + len];
            if super::fingerprint_lex::numeric_literal(run.as_bytes()) {
                out.push_str(&numbers[next % numbers.len()]);
                next += 1;
            } else {
                out.push_str(run);
            }
            pos += len;
        } else {
            let len = sql[pos..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&sql[pos..pos + len]);
            pos += len;
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Two texts of one shape have one template (ID, text, literals) in every
    /// dialect; and a text's shape never panics to compute.
    #[test]
    fn texts_of_one_shape_have_one_template(
        sql in text(),
        numbers in prop::collection::vec(number(), 1..4),
    ) {
        let other = renumbered(&sql, &numbers);
        let (a, shape_a) = shape_of(&sql);
        let (b, shape_b) = shape_of(&other);
        if a != Shape::Numbers || b != Shape::Numbers || shape_a != shape_b {
            return Ok(());
        }
        for dialect in DIALECTS {
            let (fa, fb) = (fingerprint(dialect, &sql), fingerprint(dialect, &other));
            prop_assert_eq!(
                (fa.id, &fa.text, fa.literals),
                (fb.id, &fb.text, fb.literals),
                "{:?}: {:?} / {:?}", dialect, sql, other
            );
        }
    }

    /// The classifier found by shape answers with the text's own template.
    #[test]
    fn the_memo_by_shape_answers_with_the_texts_template(
        sql in text(),
        numbers in prop::collection::vec(number(), 1..4),
    ) {
        let other = renumbered(&sql, &numbers);
        for dialect in DIALECTS {
            let c = Classifier::new(dialect);
            c.classify(&sql);
            let got = c.classify(&other);
            prop_assert_eq!(&got.template, &template(dialect, &other), "{:?}: {:?}", dialect, other);
        }
    }
}
