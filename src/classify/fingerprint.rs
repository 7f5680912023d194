//! Query templates: the SQL text with literals and parameters replaced by `?`,
//! IN-lists and VALUES lists collapsed, and whitespace and comments normalized, so two
//! queries that differ only in constants share a template. The template ID is a
//! stable 64-bit hash of that text (xxh3), the same on every machine and run.
//! Computed on the miss path for every text the classifier's memo has not seen as
//! it is (every write, every read with new constants), never on a hit; so it is
//! written in one pass over the bytes (`fingerprint_lex.rs` scans,
//! `fingerprint_write.rs` writes), held to the earlier token-list implementation
//! (`fingerprint_reference.rs`) by `fingerprint_differential.rs`.

use std::sync::Arc;

use super::{Dialect, fingerprint_write};

/// Longest template text kept; longer ones are cut (the ID still covers all of it).
pub const MAX_TEXT: usize = 4096;

/// A query template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Template {
    pub id: u64,
    pub text: Arc<str>,
}

impl Template {
    /// The ID as 16 hexadecimal digits (what the admin API and rules use).
    pub fn hex_id(&self) -> String {
        format!("{:016x}", self.id)
    }
}

/// The template of `sql`.
pub fn template(dialect: Dialect, sql: &str) -> Template {
    template_and_literals(dialect, sql).0
}

/// The template of `sql`, and whether it replaced literal constants (a text without
/// any, such as a prepared statement's `… WHERE id = $1`, is likely to be seen again
/// as it is; one with constants may never be).
pub fn template_and_literals(dialect: Dialect, sql: &str) -> (Template, bool) {
    let f = fingerprint(dialect, sql);
    let template = Template {
        id: f.id,
        text: f.text.into(),
    };
    (template, f.literals)
}

/// A template before it is shared: its ID, its text (cut at [`MAX_TEXT`]) and
/// whether the SQL text held literals. What the classifier's memo looks up with; a
/// [`Template`] (its text shared) is made of it only when the memo has none.
#[derive(Debug)]
pub struct Fingerprint {
    pub id: u64,
    pub text: String,
    pub literals: bool,
}

impl Fingerprint {
    /// Whether `t` is this template (same ID and text).
    pub fn is(&self, t: &Template) -> bool {
        self.id == t.id && *t.text == *self.text
    }

    pub fn into_template(self) -> Template {
        Template {
            id: self.id,
            text: self.text.into(),
        }
    }
}

/// The template of `sql` as a [`Fingerprint`]: written in one pass
/// (`fingerprint_write.rs`), then hashed whole and cut at [`MAX_TEXT`].
pub fn fingerprint(dialect: Dialect, sql: &str) -> Fingerprint {
    let (mut text, literals) = fingerprint_write::write(dialect, sql);
    let id = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
    if text.len() > MAX_TEXT {
        let mut cut = MAX_TEXT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    Fingerprint { id, text, literals }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_share_a_template() {
        let cases: &[(&str, &str)] = &[
            (
                "SELECT * FROM t WHERE id = 1",
                "SELECT * FROM t WHERE id = 42",
            ),
            (
                "select a from t where b = 'x'",
                "SELECT a   FROM t\nWHERE b = 'it''s'",
            ),
            (
                "SELECT a FROM t WHERE id IN (1, 2, 3)",
                "SELECT a FROM t WHERE id IN (7)",
            ),
            (
                "SELECT a FROM t WHERE id = $1",
                "SELECT a FROM t WHERE id = $2",
            ),
            (
                "INSERT INTO t VALUES (1, 2), (3, 4)",
                "INSERT INTO t VALUES (5, 6)",
            ),
            ("SELECT 1 -- comment", "SELECT 2 /* other */"),
            ("SELECT E'a\\'b' FROM t", "SELECT 'c' FROM t"),
            ("SELECT $$x$$ FROM t", "SELECT 'y' FROM t"),
            (
                "SELECT a FROM t WHERE x > 1.5e3",
                "SELECT a FROM t WHERE x > 2",
            ),
        ];
        for (a, b) in cases {
            let (ta, tb) = (
                template(Dialect::Postgres, a),
                template(Dialect::Postgres, b),
            );
            assert_eq!(ta, tb, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn different_shapes_differ() {
        let cases: &[(&str, &str)] = &[
            (
                "SELECT a FROM t WHERE id = 1",
                "SELECT b FROM t WHERE id = 1",
            ),
            (
                "SELECT a FROM t WHERE id = 1",
                "SELECT a FROM u WHERE id = 1",
            ),
            (
                "SELECT a FROM t WHERE id = 1",
                "SELECT a FROM t WHERE id > 1",
            ),
            ("SELECT \"A\" FROM t", "SELECT a FROM t"),
        ];
        for (a, b) in cases {
            assert_ne!(
                template(Dialect::Postgres, a).id,
                template(Dialect::Postgres, b).id,
                "{a:?} vs {b:?}"
            );
        }
    }

    #[test]
    fn text_and_id_are_stable() {
        let t = template(
            Dialect::Postgres,
            "SELECT name FROM users WHERE id IN (1,2) AND x = 'a'",
        );
        assert_eq!(
            &*t.text,
            "select name from users where id in ( ... ) and x = ?"
        );
        assert_eq!(t.id, xxhash_rust::xxh3::xxh3_64(t.text.as_bytes()));
        assert_eq!(t.hex_id().len(), 16);
        let m = template(
            Dialect::MySql,
            "SELECT `a` FROM t WHERE id = ? AND s = \"x\"",
        );
        assert_eq!(&*m.text, "SELECT `a` FROM t WHERE id = ? AND s = \"x\"");
    }

    #[test]
    fn never_panics_and_stays_bounded() {
        let long = format!("SELECT {} FROM t", "a + ".repeat(5000));
        assert!(template(Dialect::Postgres, &long).text.len() <= MAX_TEXT);
        for s in ["'", "$", "$1", "(", "(?", "E'", "\u{e9}'x'", "--", "/*"] {
            template(Dialect::Postgres, s);
            template(Dialect::MySql, s);
        }
    }
}
