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
pub fn for_classifier(stmt: &str, names: &[String]) -> String {
    let mut out = String::with_capacity(stmt.len());
    let chars: Vec<char> = stmt.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let skip = match c {
            '\'' => quoted(&chars, i, '\''),
            '"' => quoted(&chars, i, '"'),
            '[' => quoted(&chars, i, ']'),
            '-' if chars.get(i + 1) == Some(&'-') => until(&chars, i, "\n"),
            '/' if chars.get(i + 1) == Some(&'*') => until(&chars, i, "*/"),
            '@' if i == 0 || !chars.get(i - 1).copied().is_some_and(is_name_char) => {
                let mut end = i + 1;
                while chars.get(end).copied().is_some_and(is_name_char) {
                    end += 1;
                }
                let name: String = chars.get(i..end).unwrap_or_default().iter().collect();
                if names.contains(&name.to_ascii_lowercase()) {
                    out.push('0');
                    i = end;
                    continue;
                }
                end
            }
            _ => i + 1,
        };
        out.extend(chars.get(i..skip).unwrap_or_default());
        i = skip.max(i + 1);
    }
    out
}

/// The end of a quoted part starting at `i` (a doubled closing quote is part of it).
fn quoted(chars: &[char], i: usize, close: char) -> usize {
    let mut j = i + 1;
    while let Some(&c) = chars.get(j) {
        if c == close {
            if chars.get(j + 1) == Some(&close) {
                j += 2;
                continue;
            }
            return j + 1;
        }
        j += 1;
    }
    chars.len()
}

/// The end of a comment starting at `i`, through `end`.
fn until(chars: &[char], i: usize, end: &str) -> usize {
    let end: Vec<char> = end.chars().collect();
    let mut j = i + 2;
    while j < chars.len() {
        if chars.get(j..j + end.len()) == Some(&end[..]) {
            return j + end.len();
        }
        j += 1;
    }
    chars.len()
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
