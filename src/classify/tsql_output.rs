//! T-SQL's `OUTPUT` clause (issue 17): an `INSERT`, `UPDATE`, `DELETE` or `MERGE`
//! may return the rows it changed (`OUTPUT inserted.id, deleted.*, $action`) and may
//! write them into a table (`OUTPUT … INTO dbo.audit (cols)`), a table variable
//! (`INTO @tv`) or a temporary table (`INTO #tmp`).
//!
//! sqlparser 0.63 parses most forms, but drops the `INTO` target from what a
//! statement writes (its column list even reads as a function call), and rejects some
//! (`DELETE t OUTPUT …` without `FROM`). So, for classification, this pre-pass finds
//! each clause with sqlparser's tokenizer (strings, comments and bracketed names are
//! single tokens, so they cannot fake one), cuts it out of the text, and keeps its
//! `INTO` target: the statement then writes its own table, and the target too when
//! that is a real table. An `OUTPUT` that is not a DML statement's clause (a procedure
//! call's `@x OUTPUT` parameter, a declaration's) is left alone.

use sqlparser::dialect::MsSqlDialect;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer, Word};

use super::memo::lower_contains;
use super::{Classification, StatementKind, Uncacheable};

/// A text with its `OUTPUT` clauses cut out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stripped {
    /// The text without the clauses (each replaced by a space).
    pub text: String,
    /// The `INTO` targets that are real tables, as written (`dbo.audit`, `[a b]`).
    pub into_tables: Vec<String>,
}

/// Words that start a statement other than a DML one: an `OUTPUT` after them (at the
/// top level) belongs to a parameter or declaration, not to a clause.
const OTHER_STATEMENTS: [&str; 24] = [
    "select",
    "exec",
    "execute",
    "declare",
    "create",
    "alter",
    "drop",
    "if",
    "while",
    "return",
    "print",
    "begin",
    "commit",
    "rollback",
    "save",
    "use",
    "grant",
    "revoke",
    "truncate",
    "fetch",
    "open",
    "close",
    "raiserror",
    "throw",
];

/// Words that end a clause's column list at the top level.
const CLAUSE_ENDS: [&str; 14] = [
    "into", "values", "select", "default", "exec", "execute", "from", "where", "option", "output",
    "insert", "update", "delete", "merge",
];

/// The clauses of `sql`, cut out; `None` when it has none (or cannot be tokenized,
/// or a clause is not well formed: then the parser judges the text as written).
pub(super) fn strip(sql: &str) -> Option<Stripped> {
    if !lower_contains(sql, "output") {
        return None;
    }
    let tokens = Tokenizer::new(&MsSqlDialect {}, sql)
        .with_unescape(false)
        .tokenize_with_location()
        .ok()?;
    let code: Vec<&TokenWithSpan> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let offsets = Offsets::of(sql);
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut into_tables = Vec::new();
    let mut depth = 0usize;
    let mut dml = false;
    let mut i = 0;
    while let Some(t) = code.get(i) {
        match &t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::SemiColon if depth == 0 => dml = false,
            Token::Word(w) if depth == 0 => {
                if is(w, "output") && dml {
                    let clause = clause(&code, i)?;
                    let from = offsets.at(t.span.start)?;
                    let to = match code.get(clause.end) {
                        Some(next) => offsets.at(next.span.start)?,
                        None => sql.len(),
                    };
                    cuts.push((from, to));
                    if let Some((a, b)) = clause.into {
                        let target = target_text(sql, &offsets, &code, a, b)?;
                        if is_real_table(&target) {
                            into_tables.push(target);
                        }
                    }
                    i = clause.end;
                    continue;
                }
                if ["insert", "update", "delete", "merge"]
                    .iter()
                    .any(|k| is(w, k))
                {
                    dml = true;
                } else if OTHER_STATEMENTS.iter().any(|k| is(w, k)) {
                    dml = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if cuts.is_empty() {
        return None;
    }
    Some(Stripped {
        text: cut(sql, &cuts)?,
        into_tables,
    })
}

/// `sql` without the byte ranges `cuts` (in order), each replaced by a space.
fn cut(sql: &str, cuts: &[(usize, usize)]) -> Option<String> {
    let mut text = String::with_capacity(sql.len());
    let mut at = 0;
    for &(from, to) in cuts {
        text.push_str(sql.get(at..from)?);
        text.push(' ');
        at = to;
    }
    text.push_str(sql.get(at..)?);
    Some(text)
}

/// One clause: where it ends (the index of the first token after it, in `code`),
/// and its `INTO` target's tokens (first, last), if any.
struct Clause {
    end: usize,
    into: Option<(usize, usize)>,
}

/// The clause whose `OUTPUT` is at `at`: a column list up to a top-level end word,
/// then optionally `INTO target [(columns)]`.
fn clause(code: &[&TokenWithSpan], at: usize) -> Option<Clause> {
    let mut depth = 0usize;
    let mut j = at + 1;
    while let Some(t) = code.get(j) {
        match &t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.checked_sub(1)?,
            Token::SemiColon if depth == 0 => break,
            Token::Word(w) if depth == 0 && CLAUSE_ENDS.iter().any(|k| is(w, k)) => break,
            _ => {}
        }
        j += 1;
    }
    if j == at + 1 || depth != 0 {
        // No column at all, or unbalanced: not a clause this pass understands.
        return None;
    }
    let into_word =
        matches!(code.get(j), Some(t) if matches!(&t.token, Token::Word(w) if is(w, "into")));
    if !into_word {
        return Some(Clause { end: j, into: None });
    }
    // A name: words joined by periods.
    let first = j + 1;
    let mut k = first;
    loop {
        match code.get(k).map(|t| &t.token) {
            Some(Token::Word(_)) => k += 1,
            _ => return None,
        }
        match code.get(k).map(|t| &t.token) {
            Some(Token::Period) => k += 1,
            _ => break,
        }
    }
    let last = k - 1;
    if matches!(code.get(k).map(|t| &t.token), Some(Token::LParen)) {
        // Its column list.
        while !matches!(code.get(k).map(|t| &t.token), Some(Token::RParen)) {
            code.get(k)?;
            k += 1;
        }
        k += 1;
    }
    Some(Clause {
        end: k,
        into: Some((first, last)),
    })
}

/// The target's text as written, from its first token to its last.
fn target_text(
    sql: &str,
    offsets: &Offsets<'_>,
    code: &[&TokenWithSpan],
    first: usize,
    last: usize,
) -> Option<String> {
    let from = offsets.at(code.get(first)?.span.start)?;
    let to = offsets.at(code.get(last)?.span.end)?;
    sql.get(from..to).map(str::to_string)
}

/// Not a table variable (`@tv`), a temporary table (`#t`, `##t`, even bracketed) or a
/// table of `tempdb`: none of these is ever cached.
fn is_real_table(target: &str) -> bool {
    let parts: Vec<&str> = target
        .split('.')
        .map(|p| p.trim_matches(['[', ']', '"']))
        .collect();
    let temp = parts.last().is_none_or(|last| last.starts_with(['@', '#']));
    let tempdb = parts.len() >= 3
        && parts
            .first()
            .is_some_and(|d| d.eq_ignore_ascii_case("tempdb"));
    !temp && !tempdb
}

/// The classification of a text whose clauses were cut: `stripped`'s, as
/// `classify` judged it, plus the `INTO` targets among the writes. Never cached
/// (a write that returns rows); a target whose name cannot be read makes the write
/// one of the whole database.
pub(super) fn classification(
    stripped: &Stripped,
    classify: impl Fn(&str) -> Classification,
) -> Classification {
    let mut c = classify(&stripped.text);
    for target in &stripped.into_tables {
        let named = classify(&format!("DELETE FROM {target}"));
        if named.writes.is_empty() || named.writes_unknown {
            c.writes_unknown = true;
        }
        c.writes.extend(named.writes);
    }
    c.writes.sort();
    c.writes.dedup();
    if c.kind == StatementKind::Read {
        c.kind = StatementKind::Write;
    }
    c.uncacheable.get_or_insert(Uncacheable::NotARead);
    c
}

fn is(w: &Word, k: &str) -> bool {
    w.quote_style.is_none() && w.value.eq_ignore_ascii_case(k)
}

/// Byte offsets of the tokenizer's locations (line and column, both from 1, the
/// column counted in characters).
pub(super) struct Offsets<'a> {
    sql: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Offsets<'a> {
    pub(super) fn of(sql: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
        Offsets { sql, line_starts }
    }

    pub(super) fn at(&self, loc: Location) -> Option<usize> {
        let line = usize::try_from(loc.line).ok()?.checked_sub(1)?;
        let column = usize::try_from(loc.column).ok()?.checked_sub(1)?;
        let start = *self.line_starts.get(line)?;
        let rest = self.sql.get(start..)?;
        match rest.char_indices().nth(column) {
            Some((i, _)) => Some(start + i),
            None if rest.chars().count() == column => Some(self.sql.len()),
            None => None,
        }
    }
}
