//! What a statement does to the isolation level of its session's transactions
//! (issue 11): the level a transaction it opens gets, the level of the open or the
//! next transaction, or the session's default. Read from the text's words, cheaply
//! and without copying (a copy only for the value of a variable being set); anything
//! that names isolation in a form not recognised here is reported as
//! [`IsolationChange::Unknown`], so the session stops trusting what it knew.

use super::Dialect;
use super::memo::lower_contains;

/// A transaction isolation level, as the origin applies it. PostgreSQL runs READ
/// UNCOMMITTED as READ COMMITTED, so only MySQL and MariaDB sessions see the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Dirty reads: a statement may see other transactions' uncommitted writes.
    ReadUncommitted,
    /// Every statement reads its own fresh snapshot of committed data.
    ReadCommitted,
    /// One snapshot for the whole transaction.
    RepeatableRead,
    /// One snapshot, and the origin checks the transactions' order.
    Serializable,
}

impl Isolation {
    /// A level as PostgreSQL (`read committed`) or MySQL (`READ-COMMITTED`) writes it,
    /// in any case, quoted or not; SQL Server's `SNAPSHOT` is followed as REPEATABLE
    /// READ (its READ_COMMITTED_SNAPSHOT database option changes no level: it is
    /// READ COMMITTED, a snapshot per statement).
    pub fn parse(value: &str, dialect: Dialect) -> Option<Self> {
        let words = value
            .trim()
            .trim_matches(|c| c == '\'' || c == '"' || c == '`')
            .split(|c: char| c.is_ascii_whitespace() || c == '-' || c == '_')
            .filter(|w| !w.is_empty());
        let mut two = ["", ""];
        let mut n = 0;
        for w in words {
            *two.get_mut(n)? = w;
            n += 1;
        }
        let is = |i: usize, w: &str| two.get(i).is_some_and(|x| x.eq_ignore_ascii_case(w));
        let level = if is(0, "read") && is(1, "committed") {
            Isolation::ReadCommitted
        } else if is(0, "read") && is(1, "uncommitted") {
            Isolation::ReadUncommitted
        } else if is(0, "repeatable") && is(1, "read") {
            Isolation::RepeatableRead
        } else if is(0, "serializable") && n == 1 {
            Isolation::Serializable
        } else if is(0, "snapshot") && n == 1 && dialect == Dialect::MsSql {
            // SQL Server's SNAPSHOT: one snapshot for the whole transaction, taken
            // at its first data access, as PostgreSQL's REPEATABLE READ.
            Isolation::RepeatableRead
        } else {
            return None;
        };
        Some(level.as_run_by(dialect))
    }

    /// The level the origin really runs for this one.
    fn as_run_by(self, dialect: Dialect) -> Self {
        match (self, dialect) {
            (Isolation::ReadUncommitted, Dialect::Postgres) => Isolation::ReadCommitted,
            (level, _) => level,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::ReadUncommitted => "read uncommitted",
            Isolation::ReadCommitted => "read committed",
            Isolation::RepeatableRead => "repeatable read",
            Isolation::Serializable => "serializable",
        }
    }
}

/// What one statement does to isolation, once the origin has run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationChange {
    /// `BEGIN` / `START TRANSACTION`: opens a transaction (if none is open) at this
    /// level, or at the next transaction's level when none is named.
    Begin(Option<Isolation>),
    /// PostgreSQL's `SET TRANSACTION ISOLATION LEVEL` (and `SET transaction_isolation`):
    /// the open transaction's level; outside one it does nothing.
    ThisTransaction(Isolation),
    /// MySQL's `SET TRANSACTION ISOLATION LEVEL`: the next transaction's level only;
    /// inside one it fails.
    NextTransaction(Isolation),
    /// The session's default for the transactions it opens from now on.
    Session(Isolation),
    /// Isolation may have changed in a way not followed here (`RESET ALL`, `DISCARD
    /// ALL`, a form not recognised, several statements in one text): nothing known
    /// about it holds any more.
    Unknown,
}

/// The text [`isolation_change`] reads: `sql` without surrounding blanks and
/// trailing semicolons.
fn statement_text(sql: &str) -> &str {
    sql.trim().trim_end_matches(';').trim_end()
}

/// What `sql` does to isolation, if anything.
pub fn isolation_change(sql: &str, dialect: Dialect) -> Option<IsolationChange> {
    let text = statement_text(sql);
    let several = text.contains(';');
    if !several && !leading_keyword(text) {
        // The common case (every query, on every miss): decided by the first word
        // alone, without scanning the rest of the text.
        return None;
    }
    let names_isolation = lower_contains(text, "isolation");
    if several {
        let resets = lower_contains(text, "reset") || lower_contains(text, "discard");
        return (names_isolation || resets).then_some(IsolationChange::Unknown);
    }
    let words = Words::of(text);
    match words.lower(0) {
        Some("reset") => {
            (names_isolation || words.is(1, "all")).then_some(IsolationChange::Unknown)
        }
        Some("discard") => words.is(1, "all").then_some(IsolationChange::Unknown),
        Some("begin" | "start") => begin(&words, dialect),
        Some("set") if names_isolation => Some(set(text, &words, dialect)),
        _ => None,
    }
}

/// Whether the first word of `text` is one a lone statement changing isolation can
/// start with (the words `Words::lower(0)` is matched against below).
fn leading_keyword(text: &str) -> bool {
    first_word(text).is_some_and(|w| {
        ["reset", "discard", "begin", "start", "set"]
            .iter()
            .any(|k| w.eq_ignore_ascii_case(k))
    })
}

fn first_word(text: &str) -> Option<&str> {
    text.split(|c: char| c.is_ascii_whitespace() || c == ',' || c == '=')
        .find(|w| !w.is_empty())
}

/// Whether `sql` may begin a transaction (its first word is `BEGIN` or `START`):
/// every text [`isolation_change`] finds an [`IsolationChange::Begin`] in passes,
/// without a scan of the rest of the text. A PostgreSQL session asks on every miss
/// until it knows its default level, and most texts are neither.
pub fn may_begin(sql: &str) -> bool {
    if let [first, second, ..] = sql.as_bytes()
        && first.is_ascii_alphanumeric()
    {
        // The text starts with its first word: the common case is decided by two
        // bytes, without trimming or splitting the text.
        let pair = (first.to_ascii_lowercase(), second.to_ascii_lowercase());
        if pair != (b'b', b'e') && pair != (b's', b't') {
            return false;
        }
    }
    first_word(statement_text(sql))
        .is_some_and(|w| w.eq_ignore_ascii_case("begin") || w.eq_ignore_ascii_case("start"))
}

/// `BEGIN [WORK | TRANSACTION] [modes]`, `START TRANSACTION [modes]`: a transaction,
/// at the level its modes name (PostgreSQL), if they name one.
fn begin(words: &Words<'_>, dialect: Dialect) -> Option<IsolationChange> {
    let starts = if words.is(0, "start") {
        words.is(1, "transaction")
    } else {
        // Not MariaDB's `BEGIN NOT ATOMIC …` compound statement.
        !words.is(1, "not")
    };
    if !starts {
        return None;
    }
    match words.position("isolation") {
        None => Some(IsolationChange::Begin(None)),
        Some(at) => Some(
            words
                .level_after(at, dialect)
                .map_or(IsolationChange::Unknown, |l| {
                    IsolationChange::Begin(Some(l))
                }),
        ),
    }
}

/// A `SET` that names isolation.
fn set(text: &str, words: &Words<'_>, dialect: Dialect) -> IsolationChange {
    let scope = words.lower(1).unwrap_or_default();
    let (scoped, name_at) = match scope {
        "session" | "local" | "global" => (scope, 2),
        _ => ("", 1),
    };
    if words.is(name_at, "transaction")
        || (words.is(name_at, "characteristics") && words.is(name_at + 2, "transaction"))
    {
        let level = words
            .position("isolation")
            .and_then(|at| words.level_after(at, dialect));
        let Some(level) = level else {
            return IsolationChange::Unknown;
        };
        return match (dialect, scoped, words.is(name_at, "characteristics")) {
            (_, "global", _) => IsolationChange::Unknown,
            (Dialect::Postgres, "session", true) => IsolationChange::Session(level),
            (Dialect::Postgres, "" | "session" | "local", false) => {
                IsolationChange::ThisTransaction(level)
            }
            (Dialect::MySql | Dialect::MariaDb, "", false) => {
                IsolationChange::NextTransaction(level)
            }
            (Dialect::MySql | Dialect::MariaDb, _, false) => IsolationChange::Session(level),
            // T-SQL: the session's level from now on (there is no scope word).
            (Dialect::MsSql, "", false) => IsolationChange::Session(level),
            _ => IsolationChange::Unknown,
        };
    }
    variable(text, words, scoped, name_at, dialect)
}

/// `SET [SESSION] <variable> {= | TO} <level>` for the isolation variables.
fn variable(
    text: &str,
    words: &Words<'_>,
    scoped: &str,
    name_at: usize,
    dialect: Dialect,
) -> IsolationChange {
    let Some(name) = words.get(name_at) else {
        return IsolationChange::Unknown;
    };
    // Only one assignment, its value after the first `=` or `TO`.
    let value = match text.split_once('=') {
        Some((_, v)) => v,
        None if words.is(name_at + 1, "to") => words.rest_after(name_at + 1),
        None => return IsolationChange::Unknown,
    };
    if value.contains(',') {
        return IsolationChange::Unknown;
    }
    let name = name.split('=').next().unwrap_or_default();
    let (at_scope, bare) = match name.rsplit_once('.') {
        Some((s, b)) => (s.trim_start_matches('@'), b),
        None => ("", name),
    };
    let Some(level) = Isolation::parse(value, dialect) else {
        return IsolationChange::Unknown;
    };
    let is = |n: &str| bare.eq_ignore_ascii_case(n);
    let session_scope = scoped.eq_ignore_ascii_case("session")
        || at_scope.eq_ignore_ascii_case("session")
        || at_scope.eq_ignore_ascii_case("local");
    match dialect {
        Dialect::Postgres if scoped.is_empty() || scoped == "session" => {
            if is("default_transaction_isolation") {
                IsolationChange::Session(level)
            } else if is("transaction_isolation") {
                IsolationChange::ThisTransaction(level)
            } else {
                IsolationChange::Unknown
            }
        }
        Dialect::MySql | Dialect::MariaDb
            if (is("transaction_isolation") || is("tx_isolation"))
                && !bare.starts_with('@')
                && (session_scope || (scoped.is_empty() && at_scope.is_empty())) =>
        {
            IsolationChange::Session(level)
        }
        _ => IsolationChange::Unknown,
    }
}

/// The first words of a statement, split at white space, commas and `=`.
struct Words<'a> {
    text: &'a str,
    slots: [&'a str; 12],
    n: usize,
}

impl<'a> Words<'a> {
    fn of(text: &'a str) -> Self {
        let mut slots = [""; 12];
        let mut n = 0;
        let split = text
            .split(|c: char| c.is_ascii_whitespace() || c == ',' || c == '=')
            .filter(|w| !w.is_empty());
        for (slot, word) in slots.iter_mut().zip(split) {
            *slot = word;
            n += 1;
        }
        Words { text, slots, n }
    }

    fn get(&self, i: usize) -> Option<&'a str> {
        self.slots.get(..self.n)?.get(i).copied()
    }

    fn is(&self, i: usize, w: &str) -> bool {
        self.get(i).is_some_and(|x| x.eq_ignore_ascii_case(w))
    }

    /// Word `i` if it is one of the few keywords matched here, lower-cased.
    fn lower(&self, i: usize) -> Option<&'static str> {
        let w = self.get(i)?;
        [
            "reset", "discard", "begin", "start", "set", "session", "local", "global",
        ]
        .into_iter()
        .find(|k| w.eq_ignore_ascii_case(k))
    }

    fn position(&self, w: &str) -> Option<usize> {
        (0..self.n).find(|&i| self.is(i, w))
    }

    /// The level named after `ISOLATION` at `at`: `LEVEL` and one or two words.
    fn level_after(&self, at: usize, dialect: Dialect) -> Option<Isolation> {
        if !self.is(at + 1, "level") {
            return None;
        }
        let first = self.get(at + 2)?;
        let two = self.get(at + 3).and_then(|second| {
            let from = self.offset(first);
            let to = self.offset(second) + second.len();
            Isolation::parse(self.text.get(from..to)?, dialect)
        });
        two.or_else(|| Isolation::parse(first, dialect))
    }

    /// Where word `w` (a slice of the text) starts in the text.
    fn offset(&self, w: &str) -> usize {
        (w.as_ptr() as usize).saturating_sub(self.text.as_ptr() as usize)
    }

    /// The text after word `i`.
    fn rest_after(&self, i: usize) -> &'a str {
        let Some(w) = self.get(i) else {
            return "";
        };
        self.text
            .get(self.offset(w) + w.len()..)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_begin_passes_the_first_word_check() {
        for sql in [
            "BEGIN",
            "begin;",
            "  Begin ISOLATION LEVEL SERIALIZABLE",
            "START TRANSACTION ISOLATION LEVEL REPEATABLE READ",
            "start transaction read only",
            "\u{a0}BEGIN TRANSACTION",
            "BEGIN\tWORK",
        ] {
            for dialect in [Dialect::Postgres, Dialect::MySql] {
                if matches!(
                    isolation_change(sql, dialect),
                    Some(IsolationChange::Begin(_))
                ) {
                    assert!(may_begin(sql), "{sql:?}");
                }
            }
            assert!(may_begin(sql), "{sql:?}");
        }
        for sql in [
            "SELECT 1",
            "SET x = 1",
            "beginning",
            "",
            "  ",
            "/* */ BEGIN",
            "END",
        ] {
            assert!(!may_begin(sql), "{sql:?}");
        }
    }

    proptest::proptest! {
        /// The two-byte shortcut answers as the whole first-word check does, and
        /// so still passes every text `isolation_change` finds a BEGIN in.
        #[test]
        fn the_shortcut_changes_no_answer(
            sql in "[ \t;,=bBeEgGiInNsStTaArRlLcC\u{a0}]{0,12}( (transaction|work|isolation|level|not))*",
        ) {
            let slow = first_word(statement_text(&sql))
                .is_some_and(|w| w.eq_ignore_ascii_case("begin") || w.eq_ignore_ascii_case("start"));
            proptest::prop_assert_eq!(may_begin(&sql), slow);
            for dialect in [Dialect::Postgres, Dialect::MySql] {
                if matches!(isolation_change(&sql, dialect), Some(IsolationChange::Begin(_))) {
                    proptest::prop_assert!(may_begin(&sql));
                }
            }
        }
    }
}
