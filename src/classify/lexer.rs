//! A small SQL scanner for text sqlparser rejects: it skips comments, string
//! literals, quoted identifiers and dollar quotes, and yields bare words and a few
//! punctuation marks. Used to judge whether unparsable text is plainly a read, and to
//! find locking clauses sqlparser does not parse (`LOCK IN SHARE MODE`,
//! `FOR NO KEY UPDATE`, `FOR KEY SHARE`).

use super::Dialect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenKind {
    /// A bare (unquoted) word: keyword or identifier.
    Word,
    Semicolon,
    LeftParen,
    /// Anything else: literals, quoted identifiers, numbers, operators.
    Other,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Token<'a> {
    pub kind: TokenKind,
    pub text: &'a str,
    pub start: usize,
    pub end: usize,
}

impl Token<'_> {
    pub fn is_word(&self, word: &str) -> bool {
        self.kind == TokenKind::Word && self.text.eq_ignore_ascii_case(word)
    }
}

/// Iterator over the tokens of a SQL text. Never panics: every byte access is
/// checked, and slices are cut only at ASCII positions.
pub(super) struct Scanner<'a> {
    dialect: Dialect,
    sql: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub fn new(dialect: Dialect, sql: &'a str) -> Self {
        Self {
            dialect,
            sql,
            bytes: sql.as_bytes(),
            pos: 0,
        }
    }

    fn at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos.checked_add(offset)?).copied()
    }

    /// MySQL's lexical rules (backticks, `#` comments, backslash escapes).
    /// How many bytes from the current position on satisfy `f` (one slice walk, not
    /// a bounds-checked look-up per byte: the scanner runs on every miss and write).
    fn run(&self, f: impl Fn(u8) -> bool) -> usize {
        self.bytes
            .get(self.pos..)
            .map_or(0, |rest| rest.iter().take_while(|b| f(**b)).count())
    }

    fn mysql(&self) -> bool {
        matches!(self.dialect, Dialect::MySql | Dialect::MariaDb)
    }

    /// Skips whitespace and comments; returns false at the end of the text.
    fn skip_trivia(&mut self) -> bool {
        loop {
            match (self.at(0), self.at(1)) {
                (None, _) => return false,
                (Some(b), _) if b.is_ascii_whitespace() => {
                    self.pos += self.run(|b| b.is_ascii_whitespace());
                }
                (Some(b'-'), Some(b'-')) if !self.mysql() || self.at(2).is_none_or(is_space) => {
                    self.skip_line()
                }
                (Some(b'#'), _) if self.mysql() => self.skip_line(),
                (Some(b'/'), Some(b'*')) => self.skip_block_comment(),
                _ => return true,
            }
        }
    }

    fn skip_line(&mut self) {
        while let Some(b) = self.at(0) {
            self.pos += 1;
            if b == b'\n' {
                break;
            }
        }
    }

    /// PostgreSQL block comments nest; MySQL's do not.
    fn skip_block_comment(&mut self) {
        self.pos += 2;
        let mut depth = 1usize;
        while depth > 0 {
            match (self.at(0), self.at(1)) {
                (None, _) => return,
                (Some(b'*'), Some(b'/')) => {
                    depth -= 1;
                    self.pos += 2;
                }
                (Some(b'/'), Some(b'*')) if !self.mysql() => {
                    depth += 1;
                    self.pos += 2;
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Skips a literal opened by `quote` at the current position. A doubled quote
    /// simply reopens the literal; a backslash escapes when `backslash` is set.
    fn skip_quoted(&mut self, quote: u8, backslash: bool) {
        self.pos += 1;
        while let Some(b) = self.at(0) {
            self.pos += 1;
            if backslash && b == b'\\' {
                self.pos += 1;
            } else if b == quote {
                return;
            }
        }
    }

    /// PostgreSQL `$tag$ … $tag$`; returns false if `$` does not open one.
    fn skip_dollar_quote(&mut self) -> bool {
        let rest = self.bytes.get(self.pos + 1..).unwrap_or_default();
        let tag_len = rest
            .iter()
            .take_while(|b| is_word_byte(**b) && **b != b'$')
            .count();
        let starts_ok = rest.first().is_some_and(|b| !b.is_ascii_digit());
        if rest.get(tag_len) != Some(&b'$') || (tag_len > 0 && !starts_ok) {
            return false;
        }
        let delimiter = self
            .bytes
            .get(self.pos..self.pos + tag_len + 2)
            .unwrap_or_default();
        let body_start = self.pos + tag_len + 2;
        let body = self.bytes.get(body_start..).unwrap_or_default();
        self.pos = match body.windows(delimiter.len()).position(|w| w == delimiter) {
            Some(found) => body_start + found + delimiter.len(),
            None => self.bytes.len(),
        };
        true
    }

    fn token(&self, kind: TokenKind, start: usize) -> Token<'a> {
        let end = self.pos.min(self.bytes.len());
        let text = self.sql.get(start..end).unwrap_or_default();
        Token {
            kind,
            text,
            start,
            end,
        }
    }
}

fn is_space(b: u8) -> bool {
    b.is_ascii_whitespace() || b.is_ascii_control()
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

impl<'a> Iterator for Scanner<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        if !self.skip_trivia() {
            return None;
        }
        let start = self.pos;
        let first = self.at(0)?;
        let kind = match first {
            b';' | b'(' => {
                self.pos += 1;
                if first == b';' {
                    TokenKind::Semicolon
                } else {
                    TokenKind::LeftParen
                }
            }
            b'\'' => {
                self.skip_quoted(b'\'', self.mysql());
                TokenKind::Other
            }
            b'"' => {
                self.skip_quoted(b'"', self.mysql());
                TokenKind::Other
            }
            b'`' if self.mysql() => {
                self.skip_quoted(b'`', false);
                TokenKind::Other
            }
            b'$' if !self.mysql() && self.skip_dollar_quote() => TokenKind::Other,
            b if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => self.word(first),
            b if b.is_ascii_digit() => {
                self.pos += self.run(|b| is_word_byte(b) || b == b'.');
                TokenKind::Other
            }
            _ => {
                self.pos += 1;
                TokenKind::Other
            }
        };
        Some(self.token(kind, start))
    }
}

impl Scanner<'_> {
    /// A bare word, or a prefixed string such as PostgreSQL `E'…'` (backslash
    /// escapes) or `X'…'`.
    fn word(&mut self, first: u8) -> TokenKind {
        let start = self.pos;
        self.pos += self.run(is_word_byte);
        if self.at(0) == Some(b'\'') && self.pos - start <= 2 {
            let escapes = self.mysql() || first.eq_ignore_ascii_case(&b'e');
            self.skip_quoted(b'\'', escapes);
            return TokenKind::Other;
        }
        TokenKind::Word
    }
}

/// What unparsable text plainly is, judged from its words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// One statement that can only read (SELECT, WITH, TABLE, VALUES, SHOW).
    Read,
    /// EXPLAIN without ANALYZE: plans, runs nothing.
    Explain,
    /// Anything that might write.
    MaybeWrite,
    /// Might write and change the schema: it holds the word CREATE, ALTER, DROP or
    /// RENAME outside strings and comments, or in a MySQL executable comment (a
    /// trigger, view or rule sqlparser cannot read; mysqldump writes triggers as
    /// `/*!50003 CREATE*/ … /*!50003 TRIGGER … */`).
    MaybeDdl,
}

/// Words that begin a change of the schema.
const DDL_WORDS: [&str; 4] = ["CREATE", "ALTER", "DROP", "RENAME"];

pub(super) fn shape(dialect: Dialect, sql: &str) -> Shape {
    let mysql = matches!(dialect, Dialect::MySql | Dialect::MariaDb);
    if mysql
        && (sql.contains("/*!") || sql.contains("/*M!"))
        && sql
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|w| DDL_WORDS.iter().any(|d| w.eq_ignore_ascii_case(d)))
    {
        // Executable comments run as SQL, but the scanner skips them as comments:
        // a DDL word anywhere in such a text counts.
        return Shape::MaybeDdl;
    }
    let tokens: Vec<Token<'_>> = Scanner::new(dialect, sql).collect();
    let second_statement = tokens
        .iter()
        .position(|t| t.kind == TokenKind::Semicolon)
        .is_some_and(|i| {
            tokens
                .iter()
                .skip(i + 1)
                .any(|t| t.kind != TokenKind::Semicolon)
        });
    let maybe_write = || {
        let ddl = tokens
            .iter()
            .any(|t| DDL_WORDS.iter().any(|w| t.is_word(w)));
        if ddl {
            Shape::MaybeDdl
        } else {
            Shape::MaybeWrite
        }
    };
    let Some(first) = tokens.iter().find(|t| t.kind != TokenKind::LeftParen) else {
        return maybe_write();
    };
    if second_statement || first.kind != TokenKind::Word {
        return maybe_write();
    }
    let keyword = first.text.to_ascii_uppercase();
    match keyword.as_str() {
        "SELECT" | "WITH" | "TABLE" | "VALUES" | "SHOW" if !writes_words(dialect, &tokens) => {
            Shape::Read
        }
        "EXPLAIN" | "DESCRIBE" | "DESC" if !tokens.iter().any(|t| t.is_word("ANALYZE")) => {
            Shape::Explain
        }
        _ => maybe_write(),
    }
}

/// True if a word that can only come from a data-modifying statement appears:
/// INSERT, DELETE, MERGE, UPDATE (except in `FOR [NO KEY] UPDATE`), and in
/// PostgreSQL INTO (`SELECT … INTO` creates a table).
fn writes_words(dialect: Dialect, tokens: &[Token<'_>]) -> bool {
    let mut previous: Option<&Token<'_>> = None;
    for token in tokens {
        let writes = token.is_word("INSERT")
            || token.is_word("DELETE")
            || token.is_word("MERGE")
            || (token.is_word("INTO") && matches!(dialect, Dialect::Postgres | Dialect::MsSql))
            || (token.is_word("UPDATE")
                && !previous.is_some_and(|p| p.is_word("FOR") || p.is_word("KEY")));
        if writes {
            return true;
        }
        previous = Some(token);
    }
    false
}

/// Locking clauses in a text sqlparser rejected.
#[derive(Debug, Default)]
pub(super) struct Locking {
    /// FOR UPDATE / FOR SHARE / FOR NO KEY UPDATE / FOR KEY SHARE / LOCK IN SHARE MODE.
    pub found: bool,
    /// The text with the clauses sqlparser cannot parse replaced by ones it can
    /// (`LOCK IN SHARE MODE` → `FOR SHARE`, `FOR NO KEY UPDATE` → `FOR UPDATE`,
    /// `FOR KEY SHARE` → `FOR SHARE`), if any was replaced.
    pub rewritten: Option<String>,
}

pub(super) fn locking(dialect: Dialect, sql: &str) -> Locking {
    let tokens: Vec<Token<'_>> = Scanner::new(dialect, sql).collect();
    let word = |i: usize, text: &str| tokens.get(i).is_some_and(|t| t.is_word(text));
    let span = |from: usize, to: usize| Some((tokens.get(from)?.start, tokens.get(to)?.end));
    let mut found = false;
    let mut edits: Vec<((usize, usize), &'static str)> = Vec::new();
    for i in 0..tokens.len() {
        let edit = if word(i, "LOCK")
            && word(i + 1, "IN")
            && word(i + 2, "SHARE")
            && word(i + 3, "MODE")
        {
            span(i, i + 3).map(|s| (s, "FOR SHARE"))
        } else if word(i, "FOR") && word(i + 1, "NO") && word(i + 2, "KEY") && word(i + 3, "UPDATE")
        {
            span(i + 1, i + 2).map(|s| (s, ""))
        } else if word(i, "FOR") && word(i + 1, "KEY") && word(i + 2, "SHARE") {
            span(i + 1, i + 1).map(|s| (s, ""))
        } else {
            found |= word(i, "FOR") && (word(i + 1, "UPDATE") || word(i + 1, "SHARE"));
            None
        };
        if let Some(edit) = edit {
            found = true;
            edits.push(edit);
        }
    }
    Locking {
        found,
        rewritten: apply(sql, &edits),
    }
}

/// Replaces byte ranges (ordered, disjoint, on ASCII boundaries) of `sql`.
fn apply(sql: &str, edits: &[((usize, usize), &str)]) -> Option<String> {
    if edits.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(sql.len());
    let mut done = 0;
    for ((start, end), replacement) in edits {
        out.push_str(sql.get(done..*start)?);
        out.push_str(replacement);
        out.push(' ');
        done = *end;
    }
    out.push_str(sql.get(done..)?);
    Some(out)
}
