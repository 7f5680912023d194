//! Writes a template in one pass: each token of `fingerprint_lex` goes straight into
//! the output (words folded as they are copied), with only a small pending state for
//! what cannot be written yet: a `( ? , ? …` that may turn out to be a list, written
//! `( ... )`. No token list, no look-ahead iterator, and no allocation but the
//! output's, sized from the text (a non-ASCII PostgreSQL word's lower-casing aside).
//! The output is gathered as bytes, each a whole token of the text (tokens start
//! and end on character boundaries) or ASCII, and checked as UTF-8 once at the end.
//!
//! The rules, which `fingerprint_differential.rs` holds to the reference's:
//! - tokens are joined by single spaces;
//! - literals (strings, numbers, dollar quotes, prefixed strings) become `?` and set
//!   `literals`; literals with nothing between them (`'it''s'`) make one `?`;
//! - `$` and `?` become `?` and swallow a number token right after them (`$1`);
//! - `( ? [, ?]* )` becomes `( ... )`, and a list right after a list and commas
//!   (`VALUES (…), (…)`) drops one comma and adds nothing.

use super::Dialect;
use super::fingerprint_lex::{self, Class, Tokens};

/// A possible list of placeholders, seen and not yet written.
///
/// `None` → `(` → `Item` → `?` → `Separator` → `,` → `Item` …; `)` in `Separator`
/// writes `( ... )` and goes back to `None`; any other token writes what was pending
/// as it was (`flush`) and goes back to `None` before it is itself taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    None,
    /// After `(` or a `,`: a placeholder must come. `items` placeholders so far.
    Item {
        items: usize,
    },
    /// After a placeholder: a `,` or the closing `)` must come.
    Separator {
        items: usize,
    },
}

/// The template being written.
struct Writer<'a> {
    /// The SQL text's bytes.
    sql: &'a [u8],
    out: Vec<u8>,
    /// Fold bare words to lower case (PostgreSQL).
    fold: bool,
    /// The text held literal constants.
    literals: bool,
    /// Where the last token ended if it was a literal: an adjacent literal joins it.
    literal_end: Option<usize>,
    /// The last token was `$` or `?`: a number next is its own.
    swallow_number: bool,
    list: List,
    /// The last thing written was a collapsed list, or commas after one.
    after_list: bool,
}

/// The template text of `sql`, and whether the text held literal constants.
pub(super) fn write(dialect: Dialect, sql: &str) -> (String, bool) {
    let mut writer = Writer {
        sql: sql.as_bytes(),
        out: Vec::with_capacity(capacity(sql.len())),
        fold: dialect == Dialect::Postgres,
        literals: false,
        literal_end: None,
        swallow_number: false,
        list: List::None,
        after_list: false,
    };
    fingerprint_lex::scan(dialect, sql, &mut writer);
    writer.settle();
    // Always UTF-8 (see the module's doc); were it not, a template that differs
    // from the reference's is still better than a panic on the miss path.
    let text = String::from_utf8(writer.out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    (text, writer.literals)
}

impl Tokens for Writer<'_> {
    // Inlined at each call in the scanner, where `class` is mostly a constant: the
    // match below then costs nothing.
    #[inline(always)]
    fn token(&mut self, class: Class, start: usize, end: usize) {
        if self.swallow_number {
            self.swallow_number = false;
            if class == Class::Number {
                return;
            }
        }
        let literal = class.is_literal();
        if literal && self.literal_end == Some(start) {
            self.literal_end = Some(end);
            return;
        }
        self.literal_end = literal.then_some(end);
        let text = self.sql.get(start..end).unwrap_or_default();
        match class {
            Class::Word => self.word(text),
            Class::UnicodeWord => self.unicode_word(text),
            Class::Open => self.open(),
            Class::Close => self.close(),
            Class::Comma => self.comma(),
            Class::Question | Class::Dollar => {
                self.swallow_number = true;
                self.placeholder();
            }
            Class::Number | Class::Literal => {
                self.literals = true;
                self.placeholder();
            }
            Class::Verbatim => self.verbatim(text),
        }
    }
}

/// Room for the template of a text of `len` bytes, so that it is allocated once:
/// literals shrink to `?` and runs of spaces to one, but a template also puts a space
/// between tokens the text wrote together (`(a,b);` is `( a , b ) ;`), so a text
/// dense in punctuation grows. A quarter more covers SQL as applications send it; a
/// denser text only grows the buffer.
fn capacity(len: usize) -> usize {
    len.saturating_add(len / 4).saturating_add(16)
}

impl Writer<'_> {
    /// An ASCII bare word.
    #[inline]
    fn word(&mut self, text: &[u8]) {
        self.start_token();
        if self.fold {
            self.out.extend(text.iter().map(|b| lower(*b)));
        } else {
            self.out.extend_from_slice(text);
        }
    }

    /// A bare word with non-ASCII characters: when folding, the way
    /// `str::to_lowercase` does it (final sigma and all; the length may change).
    #[cold]
    fn unicode_word(&mut self, text: &[u8]) {
        self.start_token();
        match std::str::from_utf8(text) {
            Ok(word) if self.fold => self.out.extend_from_slice(word.to_lowercase().as_bytes()),
            _ => self.out.extend_from_slice(text),
        }
    }

    #[inline]
    fn verbatim(&mut self, text: &[u8]) {
        self.start_token();
        match text {
            // Operators and `;`: a byte is pushed, not copied by `memcpy`.
            [byte] => self.out.push(*byte),
            _ => self.out.extend_from_slice(text),
        }
    }

    #[inline]
    fn open(&mut self) {
        self.settle();
        self.list = List::Item { items: 0 };
    }

    #[inline]
    fn placeholder(&mut self) {
        if let List::Item { items } = self.list {
            self.list = List::Separator { items: items + 1 };
            return;
        }
        self.start_token();
        self.out.push(b'?');
    }

    #[inline]
    fn comma(&mut self) {
        if let List::Separator { items } = self.list {
            self.list = List::Item { items };
            return;
        }
        self.settle();
        self.separate();
        self.out.push(b',');
    }

    #[inline]
    fn close(&mut self) {
        if let List::Separator { .. } = self.list {
            self.list = List::None;
            self.collapsed_list();
            return;
        }
        self.start_token();
        self.out.push(b')');
    }

    /// A whole `( ? , … )`: written as `( ... )`, or, right after a list and a comma
    /// (the next row of a multi-row VALUES), that comma dropped instead.
    fn collapsed_list(&mut self) {
        if self.after_list && self.out.ends_with(b" ,") {
            self.out.truncate(self.out.len() - 2);
        } else {
            self.separate();
            self.out.extend_from_slice(b"( ... )");
        }
        self.after_list = true;
    }

    /// Before a token other than a comma is written: what was pending is written,
    /// the last thing written is no longer a list, and a space separates.
    #[inline]
    fn start_token(&mut self) {
        self.settle();
        self.after_list = false;
        self.separate();
    }

    #[inline]
    fn separate(&mut self) {
        if !self.out.is_empty() {
            self.out.push(b' ');
        }
    }

    /// Writes a pending `( ? , …` as it was, now that it is no list.
    #[inline]
    fn settle(&mut self) {
        if self.list != List::None {
            self.flush();
        }
    }

    #[cold]
    fn flush(&mut self) {
        let (items, trailing_comma) = match self.list {
            List::None => return,
            List::Item { items } => (items, items > 0),
            List::Separator { items } => (items, false),
        };
        self.list = List::None;
        self.after_list = false;
        self.separate();
        self.out.push(b'(');
        for i in 0..items {
            if i > 0 {
                self.out.extend_from_slice(b" ,");
            }
            self.out.extend_from_slice(b" ?");
        }
        if trailing_comma {
            self.out.extend_from_slice(b" ,");
        }
    }
}

/// ASCII lower case by table: one load per byte of a word copied.
static LOWER: [u8; 256] = super::byte_table!(to_lower);

const fn to_lower(b: u8) -> u8 {
    b.to_ascii_lowercase()
}

#[inline]
fn lower(b: u8) -> u8 {
    LOWER.get(usize::from(b)).copied().unwrap_or(b)
}
