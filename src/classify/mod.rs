//! SQL classification: what a statement does, which tables it reads and writes,
//! and why a read may not be cached. Pure functions over the SQL text (sqlparser with a
//! visitor), memoized by text so a cache hit never pays for parsing.
//!
//! The engine asks the catalog about names this module cannot judge from text alone
//! (user functions, views, temporary tables); see `Classification::unknown_functions`.

/// A `[u8; 256]` of `$f(byte)` for every byte, built at compile time (`$f` a
/// `const fn(u8) -> u8`): the byte tables of the scanners.
macro_rules! byte_table {
    ($f:expr) => {{
        let mut table = [0u8; 256];
        let mut rest: &mut [u8] = &mut table;
        let mut b = 0u8;
        while let Some((slot, tail)) = rest.split_first_mut() {
            *slot = $f(b);
            rest = tail;
            b = b.wrapping_add(1);
        }
        table
    }};
}
use byte_table;

mod analysis;
mod control;
mod facts;
mod fingerprint;
#[cfg(test)]
mod fingerprint_differential;
mod fingerprint_lex;
#[cfg(test)]
mod fingerprint_reference;
mod fingerprint_write;
mod functions;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
mod isolation;
mod lexer;
mod memo;
mod memo_maps;
mod names;
mod shape;
#[cfg(test)]
mod shape_tests;
mod statement;
mod tsql;
mod tsql_output;
#[cfg(test)]
mod tsql_output_tests;
mod tsql_view;
mod visitor;
mod walker;

#[cfg(test)]
mod tests;

pub use analysis::{Analysis, Resolved, SessionFacts};
pub use control::{Control, TxnEnd, control};
pub use fingerprint::{Template, template};
pub use isolation::{Isolation, IsolationChange, isolation_change, may_begin};
pub use memo::{Classifier, lower_contains};
pub use tsql_view::view_query;
pub use visitor::classify;

/// SQL dialect, chosen by the cache's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Postgres,
    MySql,
    MariaDb,
    /// SQL Server's T-SQL.
    MsSql,
}

/// What a statement (or a whole multi-statement text) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatementKind {
    /// A query that only reads (SELECT, VALUES, TABLE, SHOW-like reads of data).
    Read,
    /// INSERT, UPDATE, DELETE, MERGE, COPY FROM, writable CTEs, …
    Write,
    /// CREATE, ALTER, DROP, TRUNCATE, GRANT, REVOKE, COMMENT, …
    Ddl,
    /// BEGIN, START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, …
    Transaction,
    /// SET, RESET, USE, DISCARD, SET ROLE, …
    Session,
    /// Anything else (EXPLAIN, LISTEN, VACUUM, CALL handled as write, …).
    Other,
}

impl StatementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Ddl => "ddl",
            Self::Transaction => "transaction",
            Self::Session => "session",
            Self::Other => "other",
        }
    }
}

/// Why a statement is not cacheable, as far as the text alone tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Uncacheable {
    /// Not a read at all (write, DDL, transaction control, session command, …).
    NotARead,
    /// More than one statement in one text.
    MultiStatement,
    /// FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE.
    LockingClause,
    /// Calls a function not known to be immutable (now(), random(), …).
    NonImmutableFunction,
    /// Reads pg_catalog / information_schema / mysql / performance_schema / sys.
    SystemCatalog,
    /// Reads a temporary table (known from the text, e.g. pg_temp.x).
    TemporaryTable,
    /// SELECT … INTO.
    SelectInto,
    /// Uses a user or session variable (@x, @@x).
    SessionVariable,
    /// sqlparser could not parse it.
    Unparsable,
}

impl Uncacheable {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotARead => "not_a_read",
            Self::MultiStatement => "multi_statement",
            Self::LockingClause => "locking_clause",
            Self::NonImmutableFunction => "non_immutable_function",
            Self::SystemCatalog => "system_catalog",
            Self::TemporaryTable => "temporary_table",
            Self::SelectInto => "select_into",
            Self::SessionVariable => "session_variable",
            Self::Unparsable => "unparsable",
        }
    }
}

/// A table or view named by a statement, folded the way the dialect folds
/// identifiers (PostgreSQL: unquoted to lower case; quoted kept as written).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableRef {
    /// Schema (PostgreSQL) or database (MySQL) if the statement qualified the name.
    pub schema: Option<String>,
    pub name: String,
}

/// The result of classifying one SQL text (possibly several statements).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// The kind of the text as a whole: `Read` only if every statement is a read;
    /// otherwise the "strongest" kind present (Ddl > Write > Transaction > Session > Other).
    pub kind: StatementKind,
    /// Number of statements in the text (0 for an empty query).
    pub statements: usize,
    /// Relations read (deduplicated, sorted). CTE names and table functions excluded.
    pub reads: Vec<TableRef>,
    /// Relations written (deduplicated, sorted), including inside writable CTEs.
    pub writes: Vec<TableRef>,
    /// Function names (folded, without schema unless qualified as `schema.fn`) that are
    /// neither on the immutable allow-list nor on the known non-immutable list: the
    /// catalog must say whether they are immutable, stable or may write.
    pub unknown_functions: Vec<String>,
    /// True when the text may write something whose extent the text cannot tell:
    /// DDL, TRUNCATE, CALL, DO, EXECUTE of a prepared statement, unparsable text that is
    /// not plainly a read, LOCK, etc. The engine invalidates the whole database.
    pub writes_unknown: bool,
    /// Why the text is not cacheable, if the text alone tells. `None` means it is a
    /// single read that may be cached provided `unknown_functions` turn out immutable.
    pub uncacheable: Option<Uncacheable>,
}
