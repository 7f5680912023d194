//! Property tests of the lexer and the template fingerprint: tokens cover any text in
//! order, each its own slice; a template does not depend on the literals' values; SQL
//! soup never panics the classifier (see also `robust`).

use proptest::prelude::*;

use crate::classify::fuzz::{DIALECTS, classifier, fingerprint};
use crate::classify::template;

/// Text made of SQL's troublesome pieces: quotes, comments, dollar quotes, escapes.
fn sql_soup() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "SELECT ",
        "FROM t ",
        "WHERE a = ",
        "'",
        "''",
        "\"",
        "`",
        "$$",
        "$a$",
        "--",
        "/*",
        "*/",
        "\\",
        "E'",
        "1",
        "0x1f",
        "?",
        "$1",
        ";",
        "(",
        ")",
        ",",
        "\n",
        " ",
        "é",
        "\u{0}",
        "FOR UPDATE",
        "LOCK IN SHARE MODE",
        "INSERT",
        "@@x",
        "#",
    ]);
    prop::collection::vec(piece, 0..30).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tokens_cover_text_in_order_and_never_panic(sql in sql_soup()) {
        fingerprint(&sql);
        classifier(&sql);
    }

    #[test]
    fn arbitrary_text_never_panics(sql in any::<String>()) {
        fingerprint(&sql);
    }

    #[test]
    // Non-negative: `-1` templates as `- ?` (the sign is an operator token).
    fn templates_ignore_literal_values(
        a in any::<u32>(), b in any::<u32>(), s in "[a-z' ]{0,12}", t in "[a-z' ]{0,12}",
    ) {
        let quote = |x: &str| format!("'{}'", x.replace('\'', "''"));
        for dialect in DIALECTS {
            let one = template(dialect, &format!("SELECT x FROM t WHERE a = {a} AND b = {}", quote(&s)));
            let two = template(dialect, &format!("SELECT x FROM t WHERE a = {b} AND b = {}", quote(&t)));
            prop_assert_eq!(&one, &two);
        }
    }
}
