//! What the statement-carrying procedures' parameters say: the text of `@stmt` and
//! `@params`, a handle's number, the names `@params` declares (and whether any is
//! OUTPUT), and the statement as the classifier should see it, with each declared
//! parameter replaced by a literal (a parameter is bound per call and part of the
//! key, unlike a session variable, which the classifier refuses).

use super::rpc::{Param, Value};
use super::types::utf16;

/// The text of a character parameter: UTF-16 types decoded, single-byte ones only
/// when ASCII (their code page is the collation's). `None` for NULL or other types.
pub fn text(p: &Param<'_>) -> Option<String> {
    let bytes = p.value.joined()?;
    match p.type_id() {
        // NVARCHAR, NCHAR, NTEXT.
        0xE7 | 0xEF | 0x63 => {
            if bytes.len() % 2 != 0 {
                return None;
            }
            Some(utf16(&bytes))
        }
        // VARCHAR, CHAR, TEXT.
        0xA7 | 0xAF | 0x23 if bytes.is_ascii() => String::from_utf8(bytes).ok(),
        _ => None,
    }
}

/// A four-byte integer parameter's value (a prepared handle).
pub fn int(p: &Param<'_>) -> Option<i32> {
    match (p.type_id(), &p.value) {
        (0x26 | 0x38, Value::Bytes(b)) => Some(i32::from_le_bytes((*b).try_into().ok()?)),
        _ => None,
    }
}

/// The parameter names `@params` declares (`@P1 int, @name nvarchar(40)`); `None`
/// when one is OUTPUT (its value comes back in the answer: never cached).
pub fn declared(decl: &str) -> Option<Vec<String>> {
    let lower = decl.to_ascii_lowercase();
    let words = lower.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
    if words.into_iter().any(|w| w == "output" || w == "out") {
        return None;
    }
    let mut names = Vec::new();
    let mut chars = decl.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c != '@' {
            continue;
        }
        let mut end = at + 1;
        while let Some(&(i, n)) = chars.peek() {
            if !is_name_char(n) {
                break;
            }
            end = i + n.len_utf8();
            chars.next();
        }
        if end > at + 1 {
            names.push(decl.get(at..end).unwrap_or_default().to_ascii_lowercase());
        }
    }
    Some(names)
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '@' | '#' | '$')
}

/// `stmt` with each declared parameter (outside quotes, brackets and comments)
/// replaced by `0`, for the classifier. Undeclared variables stay (and are refused).
/// Every delimiter is ASCII, so the text is scanned by bytes and copied in slices.
pub fn for_classifier(stmt: &str, names: &[String]) -> String {
    let b = stmt.as_bytes();
    let mut out = String::with_capacity(stmt.len());
    let (mut i, mut copied) = (0, 0);
    while let Some(&c) = b.get(i) {
        let next = b.get(i + 1).copied();
        i = match c {
            b'\'' | b'"' => quoted(b, i, c),
            b'[' => quoted(b, i, b']'),
            b'-' if next == Some(b'-') => until(b, i, b"\n"),
            b'/' if next == Some(b'*') => until(b, i, b"*/"),
            b'@' if i == 0 || !b.get(i - 1).copied().is_some_and(is_name_byte) => {
                let end = name_end(b, i + 1);
                let name = stmt.get(i..end).unwrap_or_default().to_ascii_lowercase();
                if names.contains(&name) {
                    out.push_str(stmt.get(copied..i).unwrap_or_default());
                    out.push('0');
                    copied = end;
                }
                end
            }
            _ => i + 1,
        };
    }
    out.push_str(stmt.get(copied..).unwrap_or_default());
    out
}

/// A byte of a name: ASCII alphanumerics and `_@#$`, and any byte of a non-ASCII
/// character (T-SQL names may be Unicode letters).
fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'@' | b'#' | b'$') || c >= 0x80
}

fn name_end(b: &[u8], mut j: usize) -> usize {
    while b.get(j).copied().is_some_and(is_name_byte) {
        j += 1;
    }
    j
}

/// The end of a quoted part starting at `i` (a doubled closing quote is part of it).
fn quoted(b: &[u8], i: usize, close: u8) -> usize {
    let mut j = i + 1;
    while let Some(&c) = b.get(j) {
        if c == close {
            if b.get(j + 1) == Some(&close) {
                j += 2;
                continue;
            }
            return j + 1;
        }
        j += 1;
    }
    b.len()
}

/// The end of a comment starting at `i`, through `end`.
fn until(b: &[u8], i: usize, end: &[u8]) -> usize {
    let from = i + 2;
    b.get(from..)
        .and_then(|rest| rest.windows(end.len()).position(|w| w == end))
        .map_or(b.len(), |p| from + p + end.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations() {
        assert_eq!(
            declared("@P1 int, @P2 nvarchar(4000),@x decimal(10, 2)"),
            Some(vec!["@p1".into(), "@p2".into(), "@x".into()])
        );
        assert_eq!(declared(""), Some(vec![]));
        assert_eq!(declared("@P1 int OUTPUT"), None);
        assert_eq!(declared("@P1 int out, @P2 int"), None);
    }

    #[test]
    fn parameters_become_literals_for_the_classifier() {
        let names = declared("@P1 int, @P2 nvarchar(10)").unwrap();
        assert_eq!(
            for_classifier("SELECT a FROM t WHERE id = @P1 AND n = @p2", &names),
            "SELECT a FROM t WHERE id = 0 AND n = 0"
        );
        assert_eq!(
            for_classifier(
                "SELECT '@P1', [@P1], @P10, @@IDENTITY, @x -- @P1\n, @P1",
                &names
            ),
            "SELECT '@P1', [@P1], @P10, @@IDENTITY, @x -- @P1\n, 0"
        );
        assert_eq!(
            for_classifier("SELECT 'it''s @P1' /* @P2 */ + @P2", &names),
            "SELECT 'it''s @P1' /* @P2 */ + 0"
        );
        assert_eq!(
            for_classifier("SELECT 'open @P1", &names),
            "SELECT 'open @P1"
        );
        assert_eq!(for_classifier("x@P1", &names), "x@P1");
    }
}
