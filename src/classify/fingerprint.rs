//! Query templates: the SQL text with literals and parameters replaced by `?`,
//! IN-lists and VALUES lists collapsed, and whitespace and comments normalized, so two
//! queries that differ only in constants share a template. The template ID is a
//! stable 64-bit hash of that text (xxh3), the same on every machine and run.
//! Computed once per distinct text on the miss path (memoized with the
//! classification), never on a hit.

use std::sync::Arc;

use super::Dialect;
use super::lexer::{Scanner, TokenKind};

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

fn is_literal(text: &str) -> bool {
    let b = text.as_bytes();
    match b.first() {
        Some(b'\'' | b'$') => true,
        Some(c) if c.is_ascii_digit() => true,
        // E'…', X'…', B'…', N'…', U&'…' prefixed strings.
        Some(_) => text.ends_with('\'') && text.len() >= 3 && !text.starts_with('"'),
        None => false,
    }
}

/// One token of a template: its text as written, or folded to lower case (PostgreSQL
/// words) when it is pushed. Borrowed from the SQL text: nothing is allocated per
/// token.
#[derive(Debug, Clone, Copy)]
struct Piece<'a> {
    text: &'a str,
    fold: bool,
}

const PLACEHOLDER: Piece<'static> = Piece {
    text: "?",
    fold: false,
};

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

/// The template of `sql` as a [`Fingerprint`].
pub fn fingerprint(dialect: Dialect, sql: &str) -> Fingerprint {
    let mut literals = false;
    let mut parts: Vec<Piece<'_>> = Vec::with_capacity(32);
    let mut tokens = Scanner::new(dialect, sql).peekable();
    let mut literal_ended_at = None;
    while let Some(t) = tokens.next() {
        // `'it''s'` scans as two adjacent literals: one placeholder.
        if literal_ended_at == Some(t.start) && t.kind == TokenKind::Other && is_literal(t.text) {
            literal_ended_at = Some(t.end);
            continue;
        }
        literal_ended_at = (t.kind == TokenKind::Other && is_literal(t.text)).then_some(t.end);
        let piece = match t.kind {
            TokenKind::Word => Piece {
                text: t.text,
                fold: dialect == Dialect::Postgres,
            },
            TokenKind::Other if t.text == "$" || t.text == "?" => {
                // `$1` placeholders (the digits follow as their own token) and `?`.
                if tokens
                    .peek()
                    .is_some_and(|n| n.text.as_bytes().first().is_some_and(u8::is_ascii_digit))
                {
                    tokens.next();
                }
                PLACEHOLDER
            }
            TokenKind::Other if t.text.starts_with(':') && t.text.len() > 1 => PLACEHOLDER,
            TokenKind::Other if is_literal(t.text) => {
                literals = true;
                PLACEHOLDER
            }
            _ => Piece {
                text: t.text,
                fold: false,
            },
        };
        parts.push(piece);
    }
    let mut text = collapse_lists(&parts, sql.len());
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

/// Joins tokens with single spaces, turning `( ? , ? , … )` into `( ... )` and runs of
/// such lists separated by commas (multi-row VALUES) into one.
fn collapse_lists(parts: &[Piece<'_>], capacity: usize) -> String {
    let mut out = String::with_capacity(capacity);
    let mut i = 0;
    let mut last_was_list = false;
    while i < parts.len() {
        if let Some(end) = placeholder_list(parts, i) {
            let comma_before = out.ends_with(" ,");
            if last_was_list && comma_before {
                // `(…) , (…)`: drop the comma, the list is already there.
                out.truncate(out.len() - 2);
            } else {
                push(
                    &mut out,
                    Piece {
                        text: "( ... )",
                        fold: false,
                    },
                );
            }
            last_was_list = true;
            i = end;
            continue;
        }
        let Some(part) = parts.get(i) else { break };
        if part.text != "," {
            last_was_list = false;
        }
        push(&mut out, *part);
        i += 1;
    }
    out
}

fn push(out: &mut String, piece: Piece<'_>) {
    if !out.is_empty() {
        out.push(' ');
    }
    if !piece.fold {
        out.push_str(piece.text);
    } else if piece.text.is_ascii() {
        let start = out.len();
        out.push_str(piece.text);
        if let Some(pushed) = out.get_mut(start..) {
            pushed.make_ascii_lowercase();
        }
    } else {
        out.push_str(&piece.text.to_lowercase());
    }
}

/// If `parts[i..]` starts with `( ? [, ?]* )`, the index after the `)`.
fn placeholder_list(parts: &[Piece<'_>], i: usize) -> Option<usize> {
    if parts.get(i)?.text != "(" {
        return None;
    }
    let mut j = i + 1;
    loop {
        if parts.get(j)?.text != "?" {
            return None;
        }
        match parts.get(j + 1)?.text {
            ")" => return Some(j + 2),
            "," => j += 2,
            _ => return None,
        }
    }
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
