//! Transaction pooling's view of a MySQL/MariaDB session's state (pure, no I/O):
//! which statements change state that follows the client to whichever connection it
//! leases (`SET` of session variables, `SET NAMES`, `USE`: tracked, replayed), which
//! create state that cannot move (user variables, temporary tables, `GET_LOCK`,
//! `LOCK TABLES`, `FLUSH … LOCK`, SQL `PREPARE`, `SQL_CALC_FOUND_ROWS`/`FOUND_ROWS()`,
//! `HANDLER`, `XA`, `SET TRANSACTION` for the next transaction: the session is
//! pinned), which read `LAST_INSERT_ID()` (the session's value is set first where
//! needed), and what a connection carries, so one
//! that already matches the session costs no round trip. Reading a statement here is deliberately coarse: a
//! false pin costs a connection, never a wrong answer.

use crate::pool::metrics::PinReason;

/// What a statement sent to the origin means for transaction pooling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// Nothing that outlives the statement's transaction.
    Nothing,
    /// A lone session `SET`: tracked once the origin says OK.
    Set(Setting),
    /// `USE db`: the session's database once the origin says OK.
    Use(Vec<u8>),
    /// Reads `LAST_INSERT_ID()` / `@@identity` / `@@last_insert_id`.
    InsertId,
    /// State that cannot move: the session keeps its connection.
    Pin(PinReason),
    /// `SELECT ROW_COUNT()` on a connection whose count is not the session's: the
    /// answer's row gets the session's (`pooled_diag`).
    RowCount(i64),
}

/// One tracked `SET`, as replayed: `key` says which setting it is about (its
/// variable, or the whole text for a list), so only the last word on one is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    pub sql: String,
}

/// Where a quoted string or identifier opened at `i` (by `q`) ends.
fn after_quote(b: &[u8], mut i: usize, q: u8) -> usize {
    i += 1;
    while let Some(&d) = b.get(i) {
        i += 1;
        if d == b'\\' && q != b'`' {
            i += 1;
        } else if d == q {
            if b.get(i) != Some(&q) {
                break;
            }
            i += 1;
        }
    }
    i
}

/// Where the comment or comment marker at `i` ends, if one starts there (`#` is the
/// caller's): `-- ` to the end of the line, `/* … */` whole, and only the markers of an
/// executable comment `/*!NNNNN … */` (its code runs).
fn after_comment(b: &[u8], mut i: usize) -> Option<usize> {
    let next = |k: usize| b.get(i + k).copied();
    match (next(0)?, next(1), next(2)) {
        (b'-', Some(b'-'), None) => Some(b.len()),
        (b'-', Some(b'-'), Some(w)) if w.is_ascii_whitespace() => {
            while b.get(i).is_some_and(|d| *d != b'\n') {
                i += 1;
            }
            Some(i)
        }
        (b'/', Some(b'*'), Some(b'!')) => {
            i += 3;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            Some(i)
        }
        (b'/', Some(b'*'), _) => {
            i += 2;
            while i < b.len() && !(b.get(i) == Some(&b'*') && b.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            Some(i + 2)
        }
        (b'*', Some(b'/'), _) => Some(i + 2),
        _ => None,
    }
}

/// A statement's code outside quotes and comments (`/*! … */` kept: it runs),
/// lower-cased, with quoted strings and identifiers replaced by a space; and whether
/// more than one statement is in it.
pub(super) fn code(sql: &str) -> (String, bool) {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    let (mut multi, mut semicolon) = (false, false);
    while let Some(&c) = b.get(i) {
        if c == b'#' {
            // To the end of the line.
            while b.get(i).is_some_and(|d| *d != b'\n') {
                i += 1;
            }
            continue;
        }
        if let Some(end) = after_comment(b, i) {
            out.push(' ');
            i = end;
            continue;
        }
        match c {
            b'\'' | b'"' | b'`' => {
                multi |= semicolon;
                i = after_quote(b, i, c);
                out.push(' ');
                continue;
            }
            b';' => semicolon = true,
            // Code after a `;`: a second statement.
            _ => multi |= semicolon && !c.is_ascii_whitespace(),
        }
        out.push(if c == b';' {
            ' '
        } else {
            char::from(c.to_ascii_lowercase())
        });
        i += 1;
    }
    // Non-ASCII bytes were pushed one by one: harmless for the ASCII words looked for.
    (out, multi)
}

/// Runs of letters, digits, `_`, `@` and `.` in `code`.
pub(super) fn words(code: &str) -> Vec<&str> {
    code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '@' || c == '.'))
        .filter(|w| !w.is_empty())
        .collect()
}

/// A user variable (`@x`, not `@@x`) appears in `code`.
fn user_variable(code: &str) -> bool {
    let b = code.as_bytes();
    b.iter().enumerate().any(|(i, c)| {
        *c == b'@'
            && b.get(i + 1).is_some_and(|n| *n != b'@')
            && (i == 0 || b.get(i - 1) != Some(&b'@'))
    })
}

/// `code` reads the connection's last insert id: `LAST_INSERT_ID()` (not
/// `LAST_INSERT_ID(expr)`, which sets it: the OK reports the value), `@@identity`,
/// `@@last_insert_id`.
fn reads_insert_id(code: &str, w: &[&str]) -> bool {
    let read_call = code.match_indices("last_insert_id").any(|(at, name)| {
        let rest = code.get(at + name.len()..).unwrap_or_default().trim_start();
        let args = rest.strip_prefix('(').map(str::trim_start);
        let ident = at > 0
            && code
                .as_bytes()
                .get(at - 1)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'@');
        !ident && args.is_some_and(|a| a.starts_with(')'))
    });
    read_call
        || w.iter()
            .any(|x| *x == "@@identity" || *x == "@@last_insert_id")
}

/// The note of one query text.
pub fn note(sql: &str) -> Note {
    let (code, multi) = code(sql);
    let w = words(&code);
    let at = |i: usize| w.get(i).copied().unwrap_or("");
    let has = |x: &str| w.contains(&x);
    if user_variable(&code) {
        return Note::Pin(PinReason::UserVariables);
    }
    if has("get_lock") {
        return Note::Pin(PinReason::NamedLock);
    }
    if has("sql_calc_found_rows") || has("found_rows") {
        return Note::Pin(PinReason::FoundRows);
    }
    match at(0) {
        "lock" => return Note::Pin(PinReason::TableLock),
        "prepare" => return Note::Pin(PinReason::SqlPrepare),
        // An XA transaction outlives its status flags (prepared, it stays with
        // the connection); a global read lock stays with it too.
        "handler" | "xa" => return Note::Pin(PinReason::UntrackedState),
        "flush" if has("lock") => return Note::Pin(PinReason::TableLock),
        "create" if w.iter().take(4).any(|x| *x == "temporary") => {
            return Note::Pin(PinReason::TempTable);
        }
        _ => {}
    }
    if reads_insert_id(&code, &w) {
        return Note::InsertId;
    }
    let state = match at(0) {
        "use" => use_database(sql).map_or(Note::Pin(PinReason::UntrackedState), Note::Use),
        "set" => set_note(&w, sql),
        _ => return Note::Nothing,
    };
    if multi {
        return Note::Pin(PinReason::UntrackedState);
    }
    state
}

/// What a `SET` statement (its words `w`) does to the session.
fn set_note(w: &[&str], sql: &str) -> Note {
    let at = |i: usize| w.get(i).copied().unwrap_or("");
    let (first, rest) = (at(1), w.get(2..).unwrap_or_default());
    let global = |x: &str| x == "global" || x.starts_with("@@global.");
    if global(first) || rest.first().copied().is_some_and(global) && first == "session" {
        return Note::Nothing;
    }
    match first {
        // The next transaction only: it may start on another connection.
        "transaction" => return Note::Pin(PinReason::UntrackedState),
        "password" | "statement" => return Note::Nothing,
        _ => {}
    }
    let sql = sql.trim().trim_end_matches(';').trim().to_owned();
    let key = match first {
        "names" | "charset" | "character" => "names".to_owned(),
        "session" if at(2) == "transaction" => "session transaction".to_owned(),
        "session" | "local" => var_name(at(2)),
        _ => var_name(first),
    };
    // A list (`SET a = 1, b = 2`) is one setting of its own.
    let key = if sql.contains(',') && key != "names" {
        sql.to_ascii_lowercase()
    } else {
        key
    };
    Note::Set(Setting { key, sql })
}

/// A variable's name without `@@session.` / `@@local.` / `@@`.
fn var_name(w: &str) -> String {
    let w = w.trim_start_matches('@');
    let w = w
        .strip_prefix("session.")
        .or_else(|| w.strip_prefix("local."))
        .unwrap_or(w);
    w.to_owned()
}

/// The database of `USE db` (backquoted or not, one trailing `;`).
pub fn use_database(sql: &str) -> Option<Vec<u8>> {
    let s = sql.trim().trim_end_matches(';').trim();
    let head = s.get(..3)?;
    if !head.eq_ignore_ascii_case("use") {
        return None;
    }
    let name = s.get(3..)?;
    if !name.starts_with(char::is_whitespace) {
        return None;
    }
    let name = name.trim();
    if let Some(q) = name.strip_prefix('`').and_then(|n| n.strip_suffix('`')) {
        return (!q.is_empty() && !q.contains('`')).then(|| q.as_bytes().to_vec());
    }
    let plain = name
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '$');
    (plain && !name.is_empty()).then(|| name.as_bytes().to_vec())
}

/// The settings a client's session wants on whichever connection it leases.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub db: Option<Vec<u8>>,
    /// Its `SET`s, the last on each setting, in order.
    pub sets: Vec<Setting>,
}

impl Tracked {
    /// A `SET` the origin accepted.
    pub fn set(&mut self, s: Setting) {
        self.sets.retain(|x| x.key != s.key);
        self.sets.push(s);
    }

    /// The commands that bring a connection carrying `conn` to this state (each a
    /// payload, command byte first), and whether they reset it first (its prepared
    /// statements are then gone); `None` when the connection cannot be brought there
    /// (it has a database and the session wants none).
    pub fn replay(&self, conn: &Tracked) -> Option<(Vec<Vec<u8>>, bool)> {
        use super::command::{COM_INIT_DB, COM_QUERY, COM_RESET_CONNECTION};
        if self.db.is_none() && conn.db.is_some() {
            return None;
        }
        let mut out = Vec::new();
        let reset = self.sets != conn.sets;
        if reset {
            out.push(vec![COM_RESET_CONNECTION]);
        }
        if let Some(db) = &self.db
            && (reset || conn.db.as_ref() != Some(db))
        {
            let mut init = vec![COM_INIT_DB];
            init.extend_from_slice(db);
            out.push(init);
        }
        if reset {
            for s in &self.sets {
                let mut q = vec![COM_QUERY];
                q.extend_from_slice(s.sql.as_bytes());
                out.push(q);
            }
        }
        Some((out, reset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(key: &str, sql: &str) -> Note {
        Note::Set(Setting {
            key: key.into(),
            sql: sql.into(),
        })
    }

    #[test]
    fn statements_are_noted() {
        let pin = Note::Pin;
        let cases: Vec<(&str, Note)> = vec![
            ("SELECT 1", Note::Nothing),
            ("SELECT 'a@b.com', `x@y`", Note::Nothing),
            ("SELECT @@sql_mode", Note::Nothing),
            ("SET @x = 1", pin(PinReason::UserVariables)),
            ("select @x", pin(PinReason::UserVariables)),
            ("SELECT a INTO @v FROM t", pin(PinReason::UserVariables)),
            ("SELECT GET_LOCK('a', 1)", pin(PinReason::NamedLock)),
            ("LOCK TABLES t WRITE", pin(PinReason::TableLock)),
            ("UNLOCK TABLES", Note::Nothing),
            ("PREPARE s FROM 'SELECT 1'", pin(PinReason::SqlPrepare)),
            ("XA PREPARE 'x'", pin(PinReason::UntrackedState)),
            ("FLUSH TABLES WITH READ LOCK", pin(PinReason::TableLock)),
            ("FLUSH PRIVILEGES", Note::Nothing),
            (
                "CREATE TEMPORARY TABLE t (a INT)",
                pin(PinReason::TempTable),
            ),
            ("create table temporary_x (a int)", Note::Nothing),
            (
                "SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 1",
                pin(PinReason::FoundRows),
            ),
            ("SELECT FOUND_ROWS()", pin(PinReason::FoundRows)),
            ("SELECT LAST_INSERT_ID()", Note::InsertId),
            ("select @@identity", Note::InsertId),
            ("SELECT last_insert_id ( )", Note::InsertId),
            (
                "INSERT INTO c (p) VALUES (LAST_INSERT_ID())",
                Note::InsertId,
            ),
            (
                "UPDATE s SET v = LAST_INSERT_ID(v + 1) WHERE id = 1",
                Note::Nothing,
            ),
            ("SELECT my_last_insert_id()", Note::Nothing),
            (
                "SET sql_mode = 'ANSI'",
                set("sql_mode", "SET sql_mode = 'ANSI'"),
            ),
            (
                "SET SESSION time_zone = '+02:00';",
                set("time_zone", "SET SESSION time_zone = '+02:00'"),
            ),
            (
                "SET @@session.autocommit=0",
                set("autocommit", "SET @@session.autocommit=0"),
            ),
            ("SET NAMES latin1", set("names", "SET NAMES latin1")),
            (
                "SET CHARACTER SET utf8mb4",
                set("names", "SET CHARACTER SET utf8mb4"),
            ),
            (
                "SET a = 1, b = 2",
                set("set a = 1, b = 2", "SET a = 1, b = 2"),
            ),
            ("SET GLOBAL max_connections = 10", Note::Nothing),
            ("SET @@global.x = 1", Note::Nothing),
            (
                "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                pin(PinReason::UntrackedState),
            ),
            (
                "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                set(
                    "session transaction",
                    "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                ),
            ),
            (
                "SET STATEMENT max_statement_time=1 FOR SELECT 1",
                Note::Nothing,
            ),
            (
                "SET sql_mode = ''; SELECT 1",
                pin(PinReason::UntrackedState),
            ),
            (
                "SET sql_mode = ''; -- done",
                set("sql_mode", "SET sql_mode = ''; -- done"),
            ),
            (
                "SET sql_mode = 'a;b';",
                set("sql_mode", "SET sql_mode = 'a;b'"),
            ),
            ("USE `my db`", Note::Use(b"my db".to_vec())),
            ("use shop;", Note::Use(b"shop".to_vec())),
            ("/*!40101 SET @x = 1 */", pin(PinReason::UserVariables)),
            ("/* @x */ SELECT 1", Note::Nothing),
            ("SELECT 1 -- @x", Note::Nothing),
            ("HANDLER t OPEN", pin(PinReason::UntrackedState)),
        ];
        for (sql, want) in cases {
            assert_eq!(note(sql), want, "{sql}");
        }
        for cut in 0.."SELECT 'a\\'b' /* c".len() {
            let _ = note(&"SELECT 'a\\'b' /* c"[..cut]);
        }
    }

    #[test]
    fn replay_brings_a_connection_to_the_session() {
        let mut want = Tracked {
            db: Some(b"shop".to_vec()),
            sets: Vec::new(),
        };
        let conn = want.clone();
        assert_eq!(want.replay(&conn), Some((vec![], false)));
        let other_db = Tracked {
            db: Some(b"x".to_vec()),
            sets: Vec::new(),
        };
        assert_eq!(
            want.replay(&other_db),
            Some((vec![b"\x02shop".to_vec()], false))
        );
        want.set(Setting {
            key: "sql_mode".into(),
            sql: "SET sql_mode = 'ANSI'".into(),
        });
        want.set(Setting {
            key: "sql_mode".into(),
            sql: "SET sql_mode = ''".into(),
        });
        assert_eq!(want.sets.len(), 1);
        let (cmds, reset) = want.replay(&conn).unwrap();
        assert!(reset);
        assert_eq!(
            cmds,
            vec![
                vec![0x1F],
                b"\x02shop".to_vec(),
                b"\x03SET sql_mode = ''".to_vec()
            ]
        );
        let none = Tracked::default();
        assert_eq!(none.replay(&other_db), None);
    }
}
