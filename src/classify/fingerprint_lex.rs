//! The template fingerprint's own pass over the SQL bytes: the shared scanner's
//! rules (`lexer.rs`: the same token boundaries, comments, quotes, dollar quotes,
//! prefixed strings, per dialect), but each token is handed on already sorted into
//! what a template does with it (`Class`), bytes are classed by one table look-up,
//! and words, numbers and spaces are taken by runs over the byte slice. The
//! fingerprint runs on every write and every miss whose text carries new constants,
//! so it cannot afford the general scanner's per-byte checks, token structs and
//! look-ahead. `fingerprint_differential.rs` holds the two lexers to the same output:
//! a rule changed in one and not in the other fails it.

use super::Dialect;

/// What a template does with a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// A bare word (keyword or identifier) of ASCII bytes: kept, folded to lower
    /// case in PostgreSQL.
    Word,
    /// A bare word with non-ASCII characters (folded by Unicode's rules).
    UnicodeWord,
    /// `(`: may open a list of placeholders.
    Open,
    /// `)`.
    Close,
    /// `,`.
    Comma,
    /// `?`: a placeholder; digits right after it are its own.
    Question,
    /// A `$` that opens no dollar quote: the sign of a `$1` placeholder (its digits
    /// follow as a number). Scans like a literal (it joins adjacent literals).
    Dollar,
    /// A number (a digit, then word bytes and dots, that [`numeric_literal`]
    /// accepts): a literal.
    Number,
    /// A string, dollar-quoted or prefixed (`E'…'`, `X'…'`) literal.
    Literal,
    /// Anything else, kept as written: operators, `;`, quoted identifiers, an
    /// unterminated prefixed string.
    Verbatim,
}

impl Class {
    /// Whether the shared scanner's text of this token is a literal: adjacent
    /// literals (`'it''s'`, `'a'$1`) make one placeholder.
    pub fn is_literal(self) -> bool {
        matches!(self, Self::Dollar | Self::Number | Self::Literal)
    }
}

/// Receives the tokens of a text, in order: each its class and its byte range.
/// The scanner calls it with the class as a constant wherever the class is known
/// (words, numbers, punctuation), so an inlined receiver does not dispatch on it.
pub(super) trait Tokens {
    fn token(&mut self, class: Class, start: usize, end: usize);
}

/// Hands the tokens of `sql` to `tokens`. Never panics: slices are taken with
/// `get`, and every token starts and ends on a character boundary (multi-byte
/// characters are word bytes; every other stop is at an ASCII byte or the end).
#[inline]
pub(super) fn scan(dialect: Dialect, sql: &str, tokens: &mut impl Tokens) {
    let text = Text {
        bytes: sql.as_bytes(),
        mysql: matches!(dialect, Dialect::MySql | Dialect::MariaDb),
    };
    let mut pos = 0;
    while let Some(&first) = text.bytes.get(pos) {
        let start = pos;
        let flags = flags(first);
        let mut emit = |class, end| {
            tokens.token(class, start, end);
            end
        };
        pos = if flags & SPACE != 0 {
            // Mostly one space between tokens: a byte at a time is cheapest.
            start + 1
        } else if flags & WORD_START != 0 {
            let rest = text.from(start);
            let len = run(rest, ASCII_WORD);
            match rest.get(len) {
                // Non-ASCII characters, or a prefix before a quote (`E'…'`).
                Some(&b) if b >= 0x80 || (b == b'\'' && len <= 2) => {
                    let (class, end) = text.word(start, first);
                    emit(class, end)
                }
                _ => emit(Class::Word, start + len),
            }
        } else if flags & DIGIT != 0 {
            let rest = text.from(start);
            let len = run(rest, NUMBER);
            // A run that is no number is a name (MySQL's `2024_orders`): kept.
            match rest.get(..len) {
                Some(number) if numeric_literal(number) => emit(Class::Number, start + len),
                _ => emit(Class::Verbatim, start + len),
            }
        } else if flags & COMMENT != 0
            && let Some(end) = text.comment_end(start)
        {
            end
        } else {
            match first {
                b'(' => emit(Class::Open, start + 1),
                b')' => emit(Class::Close, start + 1),
                b',' => emit(Class::Comma, start + 1),
                b'?' => emit(Class::Question, start + 1),
                b'\'' | b'"' | b'`' | b'$' => {
                    let (class, end) = text.quoted(start, first);
                    emit(class, end)
                }
                _ => emit(Class::Verbatim, start + 1),
            }
        };
    }
}

/// The text being scanned, and the dialect's lexical rules.
struct Text<'a> {
    bytes: &'a [u8],
    /// MySQL's rules: backticks, `#` comments, `-- ` needs a space, backslash
    /// escapes in every string, no dollar quotes, no nested comments.
    mysql: bool,
}

impl<'a> Text<'a> {
    /// The bytes from `at` on (empty past the end).
    fn from(&self, at: usize) -> &'a [u8] {
        self.bytes.get(at..).unwrap_or_default()
    }

    /// Where the comment starting at `start` ends, if one starts there: `-- …` (in
    /// MySQL only when a space, a control character or the end follows), `# …`
    /// (MySQL), `/* … */`.
    fn comment_end(&self, start: usize) -> Option<usize> {
        let rest = self.from(start);
        match (rest.first(), rest.get(1)) {
            (Some(b'-'), Some(b'-')) if !self.mysql || rest.get(2).is_none_or(|b| is_space(*b)) => {
                Some(self.line_end(start))
            }
            (Some(b'#'), _) if self.mysql => Some(self.line_end(start)),
            (Some(b'/'), Some(b'*')) => Some(self.block_comment_end(start)),
            _ => None,
        }
    }

    /// Just after the next newline from `start`, or the end.
    fn line_end(&self, start: usize) -> usize {
        let rest = self.from(start);
        start
            + rest
                .iter()
                .position(|b| *b == b'\n')
                .map_or(rest.len(), |i| i + 1)
    }

    /// The end of the block comment opened at `start`. PostgreSQL's nest; MySQL's do
    /// not.
    fn block_comment_end(&self, start: usize) -> usize {
        let mut pos = start + 2;
        let mut depth = 1usize;
        while depth > 0 {
            let rest = self.from(pos);
            let Some(i) = rest.iter().position(|b| *b == b'*' || *b == b'/') else {
                return self.bytes.len();
            };
            pos += i;
            match (rest.get(i), rest.get(i + 1)) {
                (Some(b'*'), Some(b'/')) => {
                    depth -= 1;
                    pos += 2;
                }
                (Some(b'/'), Some(b'*')) if !self.mysql => {
                    depth += 1;
                    pos += 2;
                }
                _ => pos += 1,
            }
        }
        pos
    }

    /// The end of a literal whose opening `quote` is at `open`: just after the
    /// closing quote (a doubled quote simply reopens the literal), or the end of the
    /// text. A backslash escapes the next byte when `backslash` is set.
    fn quoted_end(&self, open: usize, quote: u8, backslash: bool) -> usize {
        let mut at = open + 1;
        loop {
            let rest = self.from(at);
            match rest
                .iter()
                .position(|b| *b == quote || (backslash && *b == b'\\'))
            {
                None => return self.bytes.len(),
                Some(i) if rest.get(i) == Some(&quote) => return at + i + 1,
                Some(i) => at += i + 2,
            }
        }
    }

    /// The token opened at `start` by a quote or a `$`: a string (a literal), a
    /// quoted identifier (kept), a MySQL backtick name, a PostgreSQL dollar quote or
    /// a lone `$`.
    fn quoted(&self, start: usize, first: u8) -> (Class, usize) {
        match first {
            b'\'' => (Class::Literal, self.quoted_end(start, b'\'', self.mysql)),
            b'"' => (Class::Verbatim, self.quoted_end(start, b'"', self.mysql)),
            b'`' if self.mysql => {
                let end = self.quoted_end(start, b'`', false);
                // Only an unterminated one can end in a quote; the shared scanner's
                // text then reads as a prefixed string.
                (self.prefixed_class(start, end), end)
            }
            b'$' if !self.mysql => match self.dollar_quote_end(start) {
                Some(end) => (Class::Literal, end),
                None => (Class::Dollar, start + 1),
            },
            b'$' => (Class::Dollar, start + 1),
            _ => (Class::Verbatim, start + 1),
        }
    }

    /// The end of a PostgreSQL `$tag$ … $tag$` opened at `open`, or `None` if that
    /// `$` opens none (`$1`, a lone `$`).
    fn dollar_quote_end(&self, open: usize) -> Option<usize> {
        let rest = self.from(open + 1);
        let tag_len = rest
            .iter()
            .take_while(|b| is_word_byte(**b) && **b != b'$')
            .count();
        let starts_ok = rest.first().is_some_and(|b| !b.is_ascii_digit());
        if rest.get(tag_len) != Some(&b'$') || (tag_len > 0 && !starts_ok) {
            return None;
        }
        let delimiter = self.bytes.get(open..open + tag_len + 2).unwrap_or_default();
        let body_start = open + tag_len + 2;
        let body = self.from(body_start);
        Some(
            match body.windows(delimiter.len()).position(|w| w == delimiter) {
                Some(found) => body_start + found + delimiter.len(),
                None => self.bytes.len(),
            },
        )
    }

    /// A bare word starting at `start` with non-ASCII characters, or a prefixed
    /// string (`E'…'`, `N'…'`; `U&'…'` reads as `U`, `&`, string) when one or two
    /// bytes of word are followed by a quote.
    fn word(&self, start: usize, first: u8) -> (Class, usize) {
        let rest = self.from(start);
        let mut len = run(rest, ASCII_WORD);
        let mut class = Class::Word;
        if rest.get(len).is_some_and(|b| *b >= 0x80) {
            len += run(rest.get(len..).unwrap_or_default(), WORD);
            class = Class::UnicodeWord;
        }
        if len <= 2 && rest.get(len) == Some(&b'\'') {
            let escapes = self.mysql || first.eq_ignore_ascii_case(&b'e');
            let end = self.quoted_end(start + len, b'\'', escapes);
            return (self.prefixed_class(start, end), end);
        }
        (class, start + len)
    }

    /// A prefixed string is a literal only when it is one as the shared scanner's
    /// text: closed (ending in a quote) and longer than its prefix and quote. An
    /// unterminated one (`E'abc`) is kept as written.
    fn prefixed_class(&self, start: usize, end: usize) -> Class {
        let text = self.bytes.get(start..end).unwrap_or_default();
        if text.len() >= 3 && text.ends_with(b"'") {
            Class::Literal
        } else {
            Class::Verbatim
        }
    }
}

/// How many leading bytes of `bytes` have one of the `class` flags.
/// Whether a run that starts with a digit (digits, word bytes, dots) is a number:
/// decimal (`12`, `1.5`, `2.`, `1e10`, `3.0E2`), or `0x`/`0b`/`0o` followed by
/// digits of that base. Anything else starting with a digit is a name: MySQL and
/// MariaDB take `2024_orders` and `1st` as identifiers, so two such names must not
/// share a template (nor the tables it was found to read). Exotic literals this
/// refuses (`1e` of `1e+5`, PostgreSQL 16's `1_000`) are kept as written: a template
/// per text, never a wrong one.
pub(super) fn numeric_literal(run: &[u8]) -> bool {
    let digits = |from: usize, ok: fn(&u8) -> bool| {
        from + run
            .get(from..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| ok(b))
            .count()
    };
    if let [b'0', base, rest @ ..] = run {
        let ok: Option<fn(&u8) -> bool> = match base {
            b'x' | b'X' => Some(u8::is_ascii_hexdigit),
            b'b' | b'B' => Some(|b| matches!(b, b'0' | b'1')),
            b'o' | b'O' => Some(|b| matches!(b, b'0'..=b'7')),
            _ => None,
        };
        if let Some(ok) = ok {
            return !rest.is_empty() && rest.iter().all(ok);
        }
    }
    let mut at = digits(0, u8::is_ascii_digit);
    if run.get(at) == Some(&b'.') {
        at = digits(at + 1, u8::is_ascii_digit);
    }
    if matches!(run.get(at), Some(b'e' | b'E')) {
        let exponent = digits(at + 1, u8::is_ascii_digit);
        if exponent == at + 1 {
            return false;
        }
        at = exponent;
    }
    at == run.len()
}

#[inline]
fn run(bytes: &[u8], class: u8) -> usize {
    bytes
        .iter()
        .position(|b| flags(*b) & class == 0)
        .unwrap_or(bytes.len())
}

/// Byte classes, as bit flags: one table look-up per byte in the runs that make up
/// most of a text (words, numbers, spaces) instead of a chain of comparisons.
static BYTES: [u8; 256] = super::byte_table!(byte_class);

/// `is_ascii_whitespace`: space, tab, newline, form feed, carriage return.
const SPACE: u8 = 1;
/// Starts a bare word: ASCII letter, `_`, any byte of a multi-byte character.
const WORD_START: u8 = 2;
/// Continues a bare word: a word start, a digit or `$`.
const WORD: u8 = 4;
/// Continues a number: a word byte or `.`.
const NUMBER: u8 = 8;
/// An ASCII word byte.
const ASCII_WORD: u8 = 16;
/// May open a comment: `-`, `#`, `/`.
const COMMENT: u8 = 32;
/// An ASCII digit: starts a number.
const DIGIT: u8 = 64;

const fn byte_class(b: u8) -> u8 {
    let word_start = b.is_ascii_alphabetic() || b == b'_' || b >= 0x80;
    let word = word_start || b.is_ascii_digit() || b == b'$';
    let mut class = 0;
    if b.is_ascii_whitespace() {
        class |= SPACE;
    }
    if word_start {
        class |= WORD_START;
    }
    if word {
        class |= WORD | NUMBER;
    }
    if b == b'.' {
        class |= NUMBER;
    }
    if word && b < 0x80 {
        class |= ASCII_WORD;
    }
    if matches!(b, b'-' | b'#' | b'/') {
        class |= COMMENT;
    }
    if b.is_ascii_digit() {
        class |= DIGIT;
    }
    class
}

#[inline]
fn flags(b: u8) -> u8 {
    BYTES.get(usize::from(b)).copied().unwrap_or(0)
}

fn is_space(b: u8) -> bool {
    b.is_ascii_whitespace() || b.is_ascii_control()
}

fn is_word_byte(b: u8) -> bool {
    flags(b) & WORD != 0
}
