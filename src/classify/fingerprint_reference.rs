//! The template fingerprint as it was before the single-pass writer
//! (`fingerprint_write.rs`): tokens from the shared scanner collected as pieces, then
//! joined with lists collapsed. Kept unchanged, for tests only, as the reference the
//! differential test (`fingerprint_differential.rs`) holds the fast path to: same ID,
//! text and literals for every input.

use super::Dialect;
use super::fingerprint::{Fingerprint, MAX_TEXT};
use super::fingerprint_lex::numeric_literal;
use super::lexer::{Scanner, TokenKind};

fn is_literal(text: &str) -> bool {
    let b = text.as_bytes();
    match b.first() {
        Some(b'\'' | b'$') => true,
        Some(c) if c.is_ascii_digit() => numeric_literal(b),
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

/// The template of `sql` as a [`Fingerprint`].
pub(super) fn fingerprint(dialect: Dialect, sql: &str) -> Fingerprint {
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
                if tokens.peek().is_some_and(|n| {
                    let b = n.text.as_bytes();
                    b.first().is_some_and(u8::is_ascii_digit) && numeric_literal(b)
                }) {
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
