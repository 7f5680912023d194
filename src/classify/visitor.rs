//! `classify`: one SQL text → [`Classification`]. Parses with sqlparser under a
//! recursion limit, classifies each statement (see `statement` and `walker`), combines
//! multi-statement texts, and falls back to a word scan for text sqlparser rejects.
//!
//! Stack safety: sqlparser guards its own recursion and its visitor grows the stack
//! on demand, but dropping a very deep AST (a left-deep chain such as
//! `1+1+1+…`, which the parser builds in a loop) recurses once per level. Texts
//! longer than [`INLINE_MAX`] are therefore classified on a scoped thread whose stack
//! grows with the text; texts longer than [`PARSE_MAX`] are not parsed at all.

use std::collections::BTreeSet;

use sqlparser::ast::Statement;
use sqlparser::dialect::{MsSqlDialect, MySqlDialect, PostgreSqlDialect};
use sqlparser::parser::{Parser, ParserError};

use super::lexer::{self, Shape};
use super::statement::{self, Outcome, rank};
use super::{Classification, Dialect, StatementKind, Uncacheable};

/// Parser recursion budget: deep enough for generated SQL, small enough that a
/// hostile text fails fast (10 000 nested parentheses are reported as unparsable).
const RECURSION_LIMIT: usize = 200;
/// Texts up to this length are parsed on the caller's stack.
const INLINE_MAX: usize = 8 * 1024;
/// Texts longer than this are not parsed (treated as unparsable).
const PARSE_MAX: usize = 1024 * 1024;
/// Stack for a classification thread: a base plus this much per byte of text,
/// several times what dropping the deepest chain a text can hold needs.
const STACK_BASE: usize = 2 * 1024 * 1024;
const STACK_PER_BYTE: usize = 128;

/// Classifies one SQL text, possibly holding several statements. Never panics.
pub fn classify(dialect: Dialect, sql: &str) -> Classification {
    if sql.len() > PARSE_MAX {
        return unparsable(lexer::shape(dialect, sql));
    }
    if sql.len() <= INLINE_MAX {
        return guarded(dialect, sql);
    }
    let stack = STACK_BASE.saturating_add(sql.len().saturating_mul(STACK_PER_BYTE));
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("wirecache-classify".into())
            .stack_size(stack)
            .spawn_scoped(scope, || guarded(dialect, sql))
            .ok()
            .and_then(|handle| handle.join().ok())
            .unwrap_or_else(|| unparsable(lexer::shape(dialect, sql)))
    })
}

/// Classifies, turning a panic inside sqlparser into "unparsable".
fn guarded(dialect: Dialect, sql: &str) -> Classification {
    std::panic::catch_unwind(|| classify_text(dialect, sql))
        .unwrap_or_else(|_| unparsable(lexer::shape(dialect, sql)))
}

fn classify_text(dialect: Dialect, sql: &str) -> Classification {
    if dialect == Dialect::MsSql
        && let Some(stripped) = super::tsql_output::strip(sql)
    {
        return super::tsql_output::classification(&stripped, |text| parsed(dialect, text));
    }
    if matches!(dialect, Dialect::MySql | Dialect::MariaDb)
        && let Some(text) = mariadb_executable(sql)
    {
        return parsed(dialect, &text);
    }
    parsed(dialect, sql)
}

/// `sql` with MariaDB's executable comments (`/*M!100000 … */`, run by MariaDB as
/// SQL) written as MySQL's (`/*!100000 … */`), which the parser reads as SQL; `None`
/// when it has none. Their contents count as SQL for MySQL too (where they are a
/// comment): more tables or a locking clause only make a text less cacheable.
fn mariadb_executable(sql: &str) -> Option<String> {
    let bytes = sql.as_bytes();
    let at = memchr::memmem::find_iter(bytes, b"/*")
        .filter(|&at| matches!(bytes.get(at + 2..at + 4), Some([b'M' | b'm', b'!'])));
    let mut out = String::new();
    let mut from = 0;
    for at in at {
        out.push_str(sql.get(from..at + 2)?);
        from = at + 3;
    }
    if from == 0 {
        return None;
    }
    out.push_str(sql.get(from..)?);
    Some(out)
}

fn parsed(dialect: Dialect, sql: &str) -> Classification {
    match parse(dialect, sql) {
        Ok(statements) => combine(dialect, &statements, false),
        Err(_) => recover(dialect, sql),
    }
}

fn parse(dialect: Dialect, sql: &str) -> Result<Vec<Statement>, ParserError> {
    match dialect {
        Dialect::Postgres => parse_with(&PostgreSqlDialect {}, sql),
        Dialect::MySql | Dialect::MariaDb => parse_with(&MySqlDialect {}, sql),
        Dialect::MsSql => parse_with(&MsSqlDialect {}, sql),
    }
}

fn parse_with(
    dialect: &dyn sqlparser::dialect::Dialect,
    sql: &str,
) -> Result<Vec<Statement>, ParserError> {
    Parser::new(dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(sql)?
        .parse_statements()
}

/// Text sqlparser rejected. Locking clauses it cannot parse are rewritten into
/// ones it can and the text parsed again; a plain read with a locking clause is
/// never reported as a possible write.
fn recover(dialect: Dialect, sql: &str) -> Classification {
    let shape = lexer::shape(dialect, sql);
    let locking = lexer::locking(dialect, sql);
    if locking.found {
        if let Some(statements) = locking
            .rewritten
            .and_then(|text| parse(dialect, &text).ok())
        {
            return combine(dialect, &statements, true);
        }
        if shape == Shape::Read {
            return Classification {
                uncacheable: Some(Uncacheable::LockingClause),
                ..unparsable(shape)
            };
        }
    }
    unparsable(shape)
}

/// Unparsable text: forwarded, never cached; a possible write invalidates the
/// whole database.
fn unparsable(shape: Shape) -> Classification {
    let (kind, writes_unknown) = match shape {
        Shape::Read => (StatementKind::Read, false),
        Shape::Explain => (StatementKind::Other, false),
        Shape::MaybeWrite => (StatementKind::Other, true),
        Shape::MaybeDdl => (StatementKind::Ddl, true),
    };
    Classification {
        kind,
        statements: 1,
        reads: Vec::new(),
        writes: Vec::new(),
        unknown_functions: Vec::new(),
        writes_unknown,
        uncacheable: Some(Uncacheable::Unparsable),
    }
}

/// Combines the statements of one text: the strongest kind, everything unioned.
/// `locking` forces the locking-clause fact (the text held a clause sqlparser could
/// only parse once rewritten).
fn combine(dialect: Dialect, statements: &[Statement], locking: bool) -> Classification {
    let mut outcomes: Vec<Outcome> = statements
        .iter()
        .map(|s| statement::classify_statement(dialect, s))
        .collect();
    for outcome in &mut outcomes {
        outcome.facts.locking |= locking;
    }
    let kind = outcomes
        .iter()
        .map(|o| o.kind)
        .max_by_key(|kind| rank(*kind))
        .unwrap_or(StatementKind::Other);
    let uncacheable = match outcomes.as_slice() {
        [] => Some(Uncacheable::NotARead),
        [single] => single.reason(),
        _ => Some(Uncacheable::MultiStatement),
    };
    Classification {
        kind,
        statements: outcomes.len(),
        reads: union(outcomes.iter().map(|o| &o.facts.reads)),
        writes: union(outcomes.iter().map(|o| &o.facts.writes)),
        unknown_functions: union(outcomes.iter().map(|o| &o.facts.unknown_functions)),
        writes_unknown: outcomes.iter().any(|o| o.facts.writes_unknown),
        uncacheable,
    }
}

fn union<'a, T: Ord + Clone + 'a>(sets: impl Iterator<Item = &'a BTreeSet<T>>) -> Vec<T> {
    let mut all = BTreeSet::new();
    for set in sets {
        all.extend(set.iter().cloned());
    }
    all.into_iter().collect()
}
