//! Transaction pooling's view of a client's session state: which statements change
//! state that must follow the client to the next connection it leases (`SET`,
//! `RESET`: tracked, then replayed), which create state that cannot move (temporary
//! tables, session advisory locks, `LISTEN`, cursors `WITH HOLD`, SQL `PREPARE`,
//! `SET SESSION AUTHORIZATION`, `set_config`: the session is pinned), and the
//! settings a connection has, so one whose settings match the client's costs no
//! round trip. Reading a statement here is deliberately coarse: a false pin costs a
//! connection, never a wrong answer.

pub use super::pooled_notes::{Note, notes};
use super::pooled_params::{self, Params};

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
