//! A text's *shape*: the text with each number replaced by one marker byte, for texts
//! simple enough that their shape decides their template. Two texts of one shape
//! have the same template (and the same `literals`), so the classifier's memo can
//! find a text with new numbers by its shape (one pass over the bytes, a hash and a
//! look-up) instead of writing its template (`fingerprint`, several times that).
//! That is the miss path of a lookup by a unique key (`WHERE id = 48213`) and every
//! write with new values.
//!
//! Why the shape decides the template: a text qualifies only if every byte is
//! printable ASCII or a tab, newline or carriage return, and it holds no quote of
//! any kind (`'`, `"`, `` ` ``), no `$`, no backslash, no `#`, no brackets and no
//! `--` or `/*`. In such a text the fingerprint's scanner (`fingerprint_lex.rs`)
//! starts each token by its first byte alone: a letter or `_` starts a word (a run of
//! letters, digits and `_`), a digit starts a number (a run of letters, digits, `_`
//! and `.`), a space is skipped, and anything else is one byte of punctuation. No
//! string, quoted name, comment or dollar quote can start, so nothing depends on
//! what came before. This pass cuts the text into the same runs by the same rules
//! and replaces each run that is a number (`fingerprint_lex::numeric_literal`; a
//! run such as `2024_orders` is a name, kept as written by both) with [`MARK`] (a
//! byte no qualifying text holds), keeping every other byte. Equal shapes
//! therefore mean the same tokens in the same order, equal but for the numbers'
//! contents; the template writes every number as `?` whatever its contents
//! (`fingerprint_write.rs`), and no two numbers can touch (they would be one run),
//! so the templates are equal. `shape_tests.rs` holds this
//! to the fingerprint with a proptest.

/// What replaces each number in a shape.
pub const MARK: u8 = 0x01;

/// Longest text given a shape; longer ones take the template path.
pub const MAX_LEN: usize = 2048;

/// What [`shape`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The text qualifies and holds numbers: its shape is in the buffer.
    Numbers,
    /// The text qualifies but holds no number: it is its own shape (the memo by
    /// text serves it).
    NoNumbers,
    /// The text does not qualify (or is longer than [`MAX_LEN`]).
    Unsupported,
}

/// Byte classes for the one pass.
const OTHER: u8 = 0;
/// Letters and `_`: start a word.
const LETTER: u8 = 1;
/// `0`–`9`: start a number (and continue words and numbers).
const DIGIT: u8 = 2;
/// `.`: continues a number.
const DOT: u8 = 3;
/// Bytes that disqualify the text.
const BAD: u8 = 4;
/// `-` and `/`: disqualify the text when followed by `-` and `*` respectively.
const MAYBE_COMMENT: u8 = 5;

static CLASSES: [u8; 256] = super::byte_table!(class_of);

const fn class_of(b: u8) -> u8 {
    if b.is_ascii_alphabetic() || b == b'_' {
        LETTER
    } else if b.is_ascii_digit() {
        DIGIT
    } else if b == b'.' {
        DOT
    } else if b == b'-' || b == b'/' {
        MAYBE_COMMENT
    } else if matches!(
        b,
        b'\'' | b'"' | b'`' | b'$' | b'\\' | b'#' | b'[' | b']' | 0x7f..=0xff
    ) || (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
    {
        BAD
    } else {
        OTHER
    }
}

#[inline]
fn class(b: u8) -> u8 {
    CLASSES.get(usize::from(b)).copied().unwrap_or(BAD)
}

/// Where the pass is: in a word or a number, whose bytes it skips, or between.
#[derive(Clone, Copy, PartialEq, Eq)]
enum In {
    Between,
    Word,
    Number,
}

/// The shape of `sql`, written into `out` (cleared first) when the text holds
/// numbers. Never panics. One pass over the bytes; the bytes between numbers are
/// copied a run at a time.
pub fn shape(sql: &str, out: &mut Vec<u8>) -> Shape {
    out.clear();
    let bytes = sql.as_bytes();
    if bytes.len() > MAX_LEN {
        return Shape::Unsupported;
    }
    // `copied`: where the bytes not yet copied into `out` start; `number`: where the
    // run being skipped began, if it began with a digit.
    let (mut at, mut copied, mut number, mut marked) = (In::Between, 0, 0, false);
    for (i, &b) in bytes.iter().enumerate() {
        let c = class(b);
        match (at, c) {
            // A word goes on with letters, digits and `_` (its digits are no number);
            // a number with those and `.`, whatever follows its first digit.
            (In::Word, LETTER | DIGIT) | (In::Number, LETTER | DIGIT | DOT) => continue,
            (In::Number, _) => mark(bytes, &mut copied, number, i, out, &mut marked),
            _ => {}
        }
        at = match c {
            LETTER => In::Word,
            DIGIT => {
                number = i;
                In::Number
            }
            BAD => return Shape::Unsupported,
            MAYBE_COMMENT
                if matches!(
                    (b, bytes.get(i + 1)),
                    (b'-', Some(b'-')) | (b'/', Some(b'*'))
                ) =>
            {
                return Shape::Unsupported;
            }
            _ => In::Between,
        };
    }
    if at == In::Number {
        mark(bytes, &mut copied, number, bytes.len(), out, &mut marked);
    }
    if !marked {
        return Shape::NoNumbers;
    }
    out.extend_from_slice(bytes.get(copied..).unwrap_or_default());
    Shape::Numbers
}

/// The run `number..end` that began with a digit has ended: a number is replaced by
/// [`MARK`] (the bytes before it copied first); anything else (a name such as
/// `2024_orders`, which the template keeps) is left to be copied as it is.
fn mark(
    bytes: &[u8],
    copied: &mut usize,
    number: usize,
    end: usize,
    out: &mut Vec<u8>,
    marked: &mut bool,
) {
    let run = bytes.get(number..end).unwrap_or_default();
    if super::fingerprint_lex::numeric_literal(run) {
        out.extend_from_slice(bytes.get(*copied..number).unwrap_or_default());
        out.push(MARK);
        *copied = end;
        *marked = true;
    }
}
