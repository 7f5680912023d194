//! Transaction pooling's view of a client's session state: which statements change
//! state that must follow the client to the next connection it leases (`SET`,
//! `RESET`: tracked, then replayed), which create state that cannot move (temporary
//! tables, session advisory locks, `LISTEN`, cursors `WITH HOLD`, SQL `PREPARE`,
//! `SET SESSION AUTHORIZATION`, `set_config`: the session is pinned), and the
//! settings a connection has, so one whose settings match the client's costs no
//! round trip. Reading a statement here is deliberately coarse: a false pin costs a
//! connection, never a wrong answer.

use super::pooled_params::{self, Params};
use crate::pool::metrics::PinReason;

/// What a statement sent to the origin means for transaction pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// Nothing that outlives its transaction.
    Nothing,
    /// A lone `SET`/`RESET` of a setting: replayed on the next connections once its
    /// transaction commits.
    Track,
    /// `RESET ALL`: what was tracked is forgotten.
    ResetAll,
    /// State that cannot move: the session keeps its connection.
    Pin(PinReason),
}

/// The words of `sql`, lower-cased: runs of letters, digits and `_`.
fn words(sql: &str) -> Vec<String> {
    sql.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

fn is_temp(w: Option<&String>) -> bool {
    matches!(w.map(String::as_str), Some("temp" | "temporary"))
}

/// One statement's note (no `;` inside).
fn note_one(sql: &str) -> Note {
    let w = words(sql);
    let at = |i: usize| w.get(i).map_or("", String::as_str);
    let advisory = [
        "pg_advisory_lock",
        "pg_advisory_lock_shared",
        "pg_try_advisory_lock",
        "pg_try_advisory_lock_shared",
    ];
    if w.iter().any(|x| advisory.contains(&x.as_str())) {
        return Note::Pin(PinReason::AdvisoryLock);
    }
    if w.iter().any(|x| x == "set_config") {
        return Note::Pin(PinReason::UntrackedState);
    }
    let into_temp = w
        .windows(2)
        .any(|p| p.first().is_some_and(|x| x == "into") && is_temp(p.get(1)));
    if into_temp {
        return Note::Pin(PinReason::TempTable);
    }
    match at(0) {
        "set" => match at(1) {
            "local" | "transaction" | "constraints" => Note::Nothing,
            "session" if at(2) == "authorization" => Note::Pin(PinReason::UntrackedState),
            _ => Note::Track,
        },
        "reset" => match at(1) {
            "all" => Note::ResetAll,
            "session" if at(2) == "authorization" => Note::Pin(PinReason::UntrackedState),
            _ => Note::Track,
        },
        "listen" => Note::Pin(PinReason::Listen),
        "declare" if w.windows(2).any(|p| p == ["with", "hold"]) => {
            Note::Pin(PinReason::HoldCursor)
        }
        "prepare" if at(1) != "transaction" => Note::Pin(PinReason::SqlPrepare),
        "create" if is_temp(w.get(1)) => Note::Pin(PinReason::TempTable),
        "create" if matches!(at(1), "local" | "global") && is_temp(w.get(2)) => {
            Note::Pin(PinReason::TempTable)
        }
        _ => Note::Nothing,
    }
}

/// The statements of `sql` split at `;` outside quotes; `None` if it holds
/// dollar quoting (not split here).
fn split(sql: &str) -> Option<Vec<&str>> {
    let mut pieces = Vec::new();
    let (mut from, mut quote) = (0, None::<char>);
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let param = chars.peek().is_some_and(|(_, n)| n.is_ascii_digit());
        match (quote, c) {
            // `$1` is a parameter; `$$` or `$tag$` opens dollar quoting.
            (None, '$') if !param => return None,
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, ';') => {
                pieces.push(sql.get(from..i).unwrap_or_default());
                from = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(sql.get(from..).unwrap_or_default());
    Some(
        pieces
            .into_iter()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect(),
    )
}

/// Each statement of `sql` (one query string) with its note. A setting inside
/// dollar quoting is not followed: it pins.
pub fn notes(sql: &str) -> Vec<(Note, &str)> {
    match split(sql) {
        Some(pieces) => pieces.into_iter().map(|p| (note_one(p), p)).collect(),
        None => {
            let sets = words(sql).iter().any(|w| w == "set" || w == "reset");
            match note_one(sql) {
                Note::Nothing if !sets => vec![(Note::Nothing, sql)],
                Note::Track | Note::ResetAll | Note::Nothing => {
                    vec![(Note::Pin(PinReason::UntrackedState), sql)]
                }
                n => vec![(n, sql)],
            }
        }
    }
}

/// The strongest note of `sql`: a pin, else a setting, else nothing.
#[cfg(test)]
pub fn note(sql: &str) -> Note {
    let all = notes(sql);
    let pick = |f: fn(&Note) -> bool| all.iter().map(|(n, _)| *n).find(f);
    pick(|n| matches!(n, Note::Pin(_)))
        .or_else(|| pick(|n| *n == Note::ResetAll))
        .or_else(|| pick(|n| *n == Note::Track))
        .unwrap_or(Note::Nothing)
}

/// Which setting a tracked `SET`/`RESET` is about: its first word after `SET`
/// (`SESSION` skipped) or `RESET`.
fn setting_key(sql: &str) -> String {
    let w: Vec<String> = sql
        .split(|c: char| c.is_whitespace() || c == '=')
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let at = if w.get(1).is_some_and(|x| x == "session") {
        2
    } else {
        1
    };
    w.get(at).cloned().unwrap_or_default()
}

/// The statement name of a lone `DEALLOCATE [PREPARE] name` (not `ALL`), as the
/// client named it (a quoted name keeps its case, an unquoted one is lower-cased).
pub fn deallocated(sql: &str) -> Option<String> {
    let sql = sql.trim().trim_end_matches(';').trim();
    let mut rest = strip_word(sql, "deallocate")?;
    if let Some(r) = strip_word(rest, "prepare") {
        rest = r;
    }
    let name = rest.trim();
    if let Some(quoted) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        return (!quoted.contains('"')).then(|| quoted.to_owned());
    }
    let plain = name.chars().all(|c| c.is_alphanumeric() || c == '_');
    (plain && !name.is_empty() && !name.eq_ignore_ascii_case("all"))
        .then(|| name.to_ascii_lowercase())
}

/// `s` without its first word if that is `word` (any case), followed by a space.
fn strip_word<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let s = s.trim_start();
    let head = s.get(..word.len())?;
    let rest = s.get(word.len()..)?;
    (head.eq_ignore_ascii_case(word) && rest.starts_with(char::is_whitespace)).then_some(rest)
}

/// The settings a client's session has, as replayed on a leased connection.
#[derive(Debug, Default, Clone)]
pub struct Tracked {
    /// Its startup parameters.
    pub want: Params,
    /// Its committed `SET`/`RESET` statements, in order.
    pub sets: Vec<String>,
    /// Those of the open transaction, kept if it commits.
    pending: Vec<String>,
    /// `RESET ALL` in the open transaction.
    pending_reset: bool,
    /// An error since the last ReadyForQuery: the transaction's settings are lost.
    failed: bool,
}

impl Tracked {
    pub fn new(want: Params) -> Self {
        Tracked {
            want,
            ..Tracked::default()
        }
    }

    /// A tracked statement was sent.
    pub fn sent(&mut self, sql: &str, note: Note) {
        match note {
            Note::Track => self
                .pending
                .push(sql.trim().trim_end_matches(';').to_owned()),
            Note::ResetAll => {
                self.pending.clear();
                self.pending_reset = true;
            }
            Note::Nothing | Note::Pin(_) => {}
        }
    }

    pub fn error(&mut self) {
        self.failed = true;
    }

    /// ReadyForQuery: outside a transaction (`idle`), what the transaction set is
    /// kept if it `committed` without an error. Returns true if the connection's
    /// settings may now differ from what is tracked (a `RESET ALL` ran, or settings
    /// were dropped on an error: the connection is replayed on its next lease).
    pub fn ready(&mut self, idle: bool, committed: bool) -> bool {
        if !idle {
            return false;
        }
        let dropped = self.failed || !committed;
        let reset = std::mem::take(&mut self.pending_reset);
        let pending = std::mem::take(&mut self.pending);
        self.failed = false;
        if dropped {
            return reset || !pending.is_empty();
        }
        if reset {
            self.sets.clear();
        }
        for sql in pending {
            // The last word on a setting is all that is replayed of it.
            let key = setting_key(&sql);
            self.sets.retain(|s| setting_key(s) != key);
            self.sets.push(sql);
        }
        reset
    }

    /// Whether a connection in state `conn` needs the replay.
    pub fn differs(&self, conn: &ConnState, applied: &Params) -> bool {
        conn.dirty || conn.sets != self.sets || *applied != self.want
    }

    /// The replay: every setting back to its default, then the client's.
    pub fn replay_sql(&self) -> String {
        let mut sql = String::from("RESET ALL;");
        sql.push_str(&pooled_params::diff(&self.want, &[]));
        for s in &self.sets {
            sql.push_str(s);
            sql.push(';');
        }
        sql
    }
}

/// What a pooled connection carries between transaction-pooled sessions.
#[derive(Debug, Default, Clone)]
pub struct ConnState {
    /// The `SET`s replayed on it after its startup parameters.
    pub sets: Vec<String>,
    /// Its settings are not known: replay before the next use.
    pub dirty: bool,
    /// The server-side statements (`pooled_stmts`) prepared on it.
    pub prepared: super::pooled_cap::ConnStmts,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_noted() {
        let cases: &[(&str, Note)] = &[
            ("SELECT 1", Note::Nothing),
            ("set search_path = a, public", Note::Track),
            ("SET SESSION TimeZone TO 'UTC';", Note::Track),
            ("SET LOCAL work_mem = '1MB'", Note::Nothing),
            (
                "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                Note::Nothing,
            ),
            ("RESET search_path", Note::Track),
            ("reset all", Note::ResetAll),
            ("SET a.b = 1; SELECT 1", Note::Track),
            ("SELECT ';'; SET a.b = 'x;y'", Note::Track),
            ("UPDATE t SET a = $1 WHERE b = $2", Note::Nothing),
            ("SELECT $$a$$", Note::Nothing),
            (
                "DO $$BEGIN SET a.b = 1; END$$; SET x.y = 2",
                Note::Pin(PinReason::UntrackedState),
            ),
            ("BEGIN; SELECT 1; COMMIT", Note::Nothing),
            (
                "SET SESSION AUTHORIZATION bob",
                Note::Pin(PinReason::UntrackedState),
            ),
            (
                "select set_config('a.b', '1', false)",
                Note::Pin(PinReason::UntrackedState),
            ),
            (
                "CREATE TEMP TABLE t (a int)",
                Note::Pin(PinReason::TempTable),
            ),
            (
                "create local temporary table t (a int)",
                Note::Pin(PinReason::TempTable),
            ),
            (
                "SELECT * INTO TEMP t FROM x",
                Note::Pin(PinReason::TempTable),
            ),
            ("SELECT temp FROM weather", Note::Nothing),
            (
                "SELECT pg_advisory_lock(1)",
                Note::Pin(PinReason::AdvisoryLock),
            ),
            ("SELECT pg_advisory_xact_lock(1)", Note::Nothing),
            ("LISTEN chan", Note::Pin(PinReason::Listen)),
            (
                "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
                Note::Pin(PinReason::HoldCursor),
            ),
            ("DECLARE c CURSOR FOR SELECT 1", Note::Nothing),
            ("PREPARE q AS SELECT 1", Note::Pin(PinReason::SqlPrepare)),
            ("PREPARE TRANSACTION 'x'", Note::Nothing),
        ];
        for (sql, want) in cases {
            assert_eq!(note(sql), *want, "{sql}");
        }
    }

    #[test]
    fn deallocate_names_a_statement() {
        assert_eq!(deallocated("DEALLOCATE s1"), Some("s1".into()));
        assert_eq!(deallocated("deallocate prepare S1;"), Some("s1".into()));
        assert_eq!(deallocated("DEALLOCATE \"_pg3_0\""), Some("_pg3_0".into()));
        assert_eq!(deallocated("DEALLOCATE ALL"), None);
        assert_eq!(deallocated("DEALLOCATE s1; SELECT 1"), None);
        assert_eq!(deallocated("DEALLOCATEx s1"), None);
    }

    #[test]
    fn settings_are_kept_only_when_their_transaction_commits() {
        let mut t = Tracked::new(Vec::new());
        t.sent("SET a.b = 1;", Note::Track);
        assert!(!t.ready(false, true));
        assert!(!t.ready(true, true));
        assert_eq!(t.sets, ["SET a.b = 1"]);
        t.sent("SET a.b = 5", Note::Track);
        t.sent("SET SESSION search_path = x", Note::Track);
        t.ready(true, true);
        t.sent("RESET search_path", Note::Track);
        t.sent("SET a.b=1", Note::Track);
        t.ready(true, true);
        assert_eq!(t.sets, ["RESET search_path", "SET a.b=1"]);
        t.sent("SET a.c = 2", Note::Track);
        assert!(
            t.ready(true, false),
            "a rollback leaves the connection unsure"
        );
        assert_eq!(t.sets, ["RESET search_path", "SET a.b=1"]);
        t.sent("SET a.d = 3", Note::Track);
        t.error();
        t.ready(true, true);
        assert_eq!(t.sets, ["RESET search_path", "SET a.b=1"]);
        t.sent("RESET ALL", Note::ResetAll);
        assert!(t.ready(true, true));
        assert!(t.sets.is_empty());
        let conn = ConnState::default();
        assert!(!t.differs(&conn, &Vec::new()));
        t.sets.push("SET x.y = 1".into());
        assert!(t.differs(&conn, &Vec::new()));
        assert_eq!(t.replay_sql(), "RESET ALL;SET x.y = 1;");
        let pieces: Vec<&str> = notes("BEGIN; SET a.b = 'x;y'; COMMIT")
            .into_iter()
            .filter(|(n, _)| *n == Note::Track)
            .map(|(_, p)| p)
            .collect();
        assert_eq!(pieces, ["SET a.b = 'x;y'"]);
    }
}
