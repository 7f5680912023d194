//! Transaction pooling and the previous statement's diagnostics (`SHOW WARNINGS`,
//! `SHOW ERRORS`, `SHOW COUNT(*) …`, `@@warning_count`, `@@error_count`,
//! `GET DIAGNOSTICS`, `ROW_COUNT()`): they live on the connection that ran the
//! statement, and a session leases connections per statement. What a dedicated
//! connection would show is rebuilt from the session's own answers, never read from
//! another session's leftovers.
//!
//! What MariaDB 10.11 does (checked against a real server): a statement that raises a
//! condition replaces the diagnostics area (DA) with its own; one that uses a table
//! (a derived table counts) clears it; one that does neither (`SELECT 1`, `SET`,
//! `DO 1`, COM_PING, COM_INIT_DB, the diagnostics reads themselves) leaves it as it
//! was. `ROW_COUNT()` is set by every statement: the OK's affected rows, -1 after a
//! result set or an error (COM_PING, COM_INIT_DB and `SET` report 0).
//!
//! So the session keeps:
//! - its conditions: none (its DA is empty), here (it may hold conditions, on the
//!   connection it holds), or maybe (a clean statement ran after some: it may have
//!   cleared them). While not none the session keeps its connection (counted as
//!   `diagnostics` in `wirecache_pool_pinned_sessions`); "maybe" is settled at the
//!   release by asking the connection (`SELECT @@warning_count`, which keeps them).
//! - its row count, from its last answer. A connection a read runs on is brought to
//!   it where it can be (`SELECT 1` for -1, `DO 0` for 0: neither touches the DA);
//!   `SELECT ROW_COUNT()` (with an alias or not) gets the session's value in the
//!   origin's own result (the row is rewritten; column definitions are the origin's);
//!   any other read of a count that cannot be rebuilt (another value, or a multi-result
//!   answer's) is refused with an error saying so. The session never keeps its
//!   connection for a count: a client that writes and then idles would hold it.
//!
//! A read of conditions by a session whose DA is empty, on a connection that may hold
//! another session's, first clears them there (`DO (SELECT 1 FROM (SELECT 1) AS t)`:
//! a derived table, no condition).

use bytes::Bytes;

use super::codec::{self, Packet, Reader};
use super::command::COM_QUERY;
use super::errors::MyError;
use super::pooled_state::{Note, code, words};
use super::response::{Event, SERVER_MORE_RESULTS_EXISTS, Shape};
use super::session::{After, Session};
use crate::classify::lower_contains;

/// What the session's diagnostics area holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Conditions {
    /// Nothing: empty on a dedicated connection.
    #[default]
    None,
    /// Conditions of its own, on the connection it holds.
    Here,
    /// A statement without conditions ran since: they may be gone.
    Maybe,
}

/// The session's view of its diagnostics (in its lender).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDiag {
    pub conditions: Conditions,
    /// `ROW_COUNT()` after its last statement (`None`: not known).
    pub row_count: Option<i64>,
    /// The statement now answered reads conditions (so does not clear them).
    pub reading: bool,
    /// The answer now arriving had more than one result.
    pub multi: bool,
}

impl Default for SessionDiag {
    fn default() -> Self {
        SessionDiag {
            conditions: Conditions::None,
            // A fresh connection's.
            row_count: Some(0),
            reading: false,
            multi: false,
        }
    }
}

/// A pooled connection's diagnostics, as far as wirecache knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnDiag {
    /// Its DA may hold conditions (of whichever session ran there).
    pub dirty: bool,
    /// `ROW_COUNT()` there now (`None`: not known).
    pub row_count: Option<i64>,
}

impl Default for ConnDiag {
    fn default() -> Self {
        ConnDiag {
            dirty: false,
            row_count: Some(0),
        }
    }
}

impl SessionDiag {
    /// Whether the session must keep the connection its diagnostics are on.
    pub fn bound(&self) -> bool {
        self.conditions != Conditions::None
    }
}

/// What a statement reads of the previous one's diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reads {
    /// Warnings, errors or their counts.
    pub conditions: bool,
    /// `ROW_COUNT()`.
    pub row_count: bool,
    /// It is `SELECT ROW_COUNT()` alone (an alias allowed): one row, one column.
    pub row_count_alone: bool,
}

/// What `sql` reads of the previous statement's diagnostics. Cheap for the statements
/// that read none: without one of the words looked for, nothing is allocated.
pub fn reads(sql: &str) -> Reads {
    let has = |w: &str| lower_contains(sql, w);
    if !(has("warning") || has("error") || has("diagnostics") || has("row_count")) {
        return Reads::default();
    }
    let (code, _) = code(sql);
    let w = words(&code);
    let at = |i: usize| w.get(i).copied().unwrap_or("");
    let shown = |x: &str| x == "warnings" || x == "errors";
    let show = at(0) == "show" && (shown(at(1)) || at(1) == "count" && shown(at(2)));
    let vars = w.iter().any(|x| {
        x.strip_prefix("@@").is_some_and(|v| {
            let name = v
                .strip_prefix("session.")
                .or_else(|| v.strip_prefix("local."));
            matches!(name.unwrap_or(v), "warning_count" | "error_count")
        })
    });
    let get = at(0) == "get" && w.iter().take(3).any(|x| *x == "diagnostics");
    let row_count = calls(&code, "row_count");
    let alone = row_count && alone(&code, &w);
    Reads {
        conditions: show || vars || get,
        row_count,
        row_count_alone: alone,
    }
}

/// `code` (with words `w`) is `select row_count()` with an alias or none: nothing
/// but words after the call, and only `as` and one name.
fn alone(code: &str, w: &[&str]) -> bool {
    let rest = code
        .trim_start()
        .strip_prefix("select")
        .map(str::trim_start);
    let rest = rest
        .and_then(|r| r.strip_prefix("row_count"))
        .map(str::trim_start);
    let rest = rest.and_then(|r| r.strip_prefix('(')).map(str::trim_start);
    let Some(tail) = rest.and_then(|r| r.strip_prefix(')')) else {
        return false;
    };
    let plain = tail
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c.is_ascii_whitespace());
    plain
        && match w.get(2..).unwrap_or_default() {
            [] => true,
            [name] => !matches!(*name, "from" | "limit" | "into" | "for" | "where"),
            ["as", _] => true,
            _ => false,
        }
}

/// `code` calls the function `name` (a word of its own followed by `(`).
fn calls(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(at, _)| {
        let before = at
            .checked_sub(1)
            .and_then(|i| code.as_bytes().get(i))
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'@' | b'.' | b'$'));
        let rest = code.get(at + name.len()..).unwrap_or_default();
        !before && rest.trim_start().starts_with('(')
    })
}

/// A text result row holding `value` alone, with `p`'s sequence id.
pub fn row_of(p: &Packet, value: i64) -> Bytes {
    let text = value.to_string();
    let mut payload = Vec::with_capacity(text.len() + 1);
    codec::put_lenenc(&mut payload, text.len() as u64);
    payload.extend_from_slice(text.as_bytes());
    codec::packet(p.seq(), &payload)
}

/// The packet the client gets in place of `p` (a row, when `row`) of an answer
/// whose end does `after`: the session's row count where it asked for it.
pub fn rewritten(after: &After, row: bool, event: Event, p: &Packet) -> Option<Bytes> {
    match after {
        After::Track(Note::RowCount(n)) if row && event == Event::Part => Some(row_of(p, *n)),
        _ => None,
    }
}

/// The refusal of a read of a row count wirecache cannot rebuild on this connection.
const UNKNOWN_ROW_COUNT: &str = "ROW_COUNT() of the previous statement is on another pooled origin connection: read it as SELECT ROW_COUNT() in the text protocol, or in the statement's transaction";

impl Session {
    /// Before a statement (text `reads`) runs at the origin: the leased connection is
    /// brought to the session's diagnostics. `Ok(false)`: refused (an ERR is queued
    /// for the client, the statement is not sent).
    pub async fn diag_before(&mut self, reads: Reads) -> Result<bool, MyError> {
        let Some(l) = self.lender() else {
            return Ok(true);
        };
        l.diag.reading = reads.conditions;
        if !reads.conditions && !reads.row_count {
            return Ok(true);
        }
        // Answers still owed are the session's previous statements: theirs first.
        self.ensure_origin().await?;
        self.wait_quiet().await?;
        let Some(l) = self.lender() else {
            return Ok(true);
        };
        let (mine, Some(conn)) = (l.diag.clone(), l.conn().map(|c| c.diag)) else {
            return Ok(true);
        };
        if reads.conditions && mine.conditions == Conditions::None && conn.dirty {
            self.own_statement("DO (SELECT 1 FROM (SELECT 1) AS wirecache_clear)")
                .await?;
            self.set_conn_diag(ConnDiag {
                dirty: false,
                row_count: Some(0),
            });
        }
        if !reads.row_count {
            return Ok(true);
        }
        let conn = self.lender().and_then(|l| l.conn().map(|c| c.diag));
        let here = conn.and_then(|c| c.row_count);
        if here.is_some() && here == mine.row_count {
            return Ok(true);
        }
        let dirty = conn.is_some_and(|c| c.dirty);
        let set = match mine.row_count {
            Some(-1) => "SELECT 1",
            Some(0) => "DO 0",
            Some(n) if reads.row_count_alone => {
                self.note = Some(Note::RowCount(n));
                return Ok(true);
            }
            _ => {
                let err = super::errors::err_packet(1, 1105, "HY000", UNKNOWN_ROW_COUNT);
                self.core.local(err, false);
                return Ok(false);
            }
        };
        self.own_statement(set).await?;
        self.set_conn_diag(ConnDiag {
            dirty,
            row_count: mine.row_count,
        });
        Ok(true)
    }

    /// A catalog query of wirecache's ran on the attached connection: a SELECT
    /// (`failed`: refused, its error now in the DA there).
    pub fn diag_after_catalog(&mut self, failed: bool) {
        if self.txn_pooled {
            self.set_conn_diag(ConnDiag {
                dirty: failed,
                row_count: Some(-1),
            });
        }
    }

    fn set_conn_diag(&mut self, d: ConnDiag) {
        if let Some(c) = self.lender().and_then(|l| l.conn()) {
            c.diag = d;
        }
    }

    /// One packet of an answer to the client's command, in transaction pooling: its
    /// end is the session's (and the connection's) new diagnostics.
    pub fn diag_answer(&mut self, payload: &[u8], event: Event, done: bool) {
        let Some(l) = self.lender() else {
            return;
        };
        let d = &mut l.diag;
        let (conditions, row_count) = match event {
            Event::Error => (true, Some(-1)),
            Event::Status { status, warnings } => {
                if status & SERVER_MORE_RESULTS_EXISTS != 0 {
                    d.multi = true;
                }
                let count = match payload.first() {
                    // An OK: its affected rows.
                    Some(0x00) => {
                        let mut r = Reader::new(payload);
                        r.u8()
                            .and_then(|_| r.lenenc())
                            .and_then(|n| i64::try_from(n).ok())
                    }
                    // The end of a result set.
                    _ => Some(-1),
                };
                (warnings > 0, count)
            }
            _ => return,
        };
        if conditions {
            d.conditions = Conditions::Here;
        } else if d.conditions == Conditions::Here && !d.reading {
            d.conditions = Conditions::Maybe;
        }
        if !done {
            return;
        }
        let row_count = if std::mem::take(&mut d.multi) {
            None
        } else {
            row_count
        };
        d.row_count = row_count;
        d.reading = false;
        if let Some(c) = l.conn() {
            c.diag.row_count = row_count;
            c.diag.dirty |= conditions;
        }
    }

    /// At a release: whether the session keeps its connection for its diagnostics
    /// (conditions "maybe" there are asked for first).
    pub async fn diag_keeps(&mut self) -> Result<bool, MyError> {
        self.diag_settle().await?;
        Ok(self.lender().is_some_and(|l| l.diag.bound()))
    }

    /// Conditions "maybe" on the attached connection are asked for (`SELECT
    /// @@warning_count`, which keeps them): none or here.
    pub async fn diag_settle(&mut self) -> Result<(), MyError> {
        let Some(l) = self.lender() else {
            return Ok(());
        };
        if l.diag.conditions == Conditions::Maybe {
            let count = self.own_statement("SELECT @@warning_count").await?;
            let clear = count.as_deref() == Some(b"0".as_slice());
            let Some(l) = self.lender() else {
                return Ok(());
            };
            l.diag.conditions = if clear {
                Conditions::None
            } else {
                Conditions::Here
            };
            if let Some(c) = l.conn() {
                c.diag = ConnDiag {
                    dirty: !clear,
                    row_count: Some(-1),
                };
            }
        }
        Ok(())
    }

    /// Runs `sql` of wirecache's own on the attached connection once nothing else is
    /// in flight there, and returns its first row's first value, if any. An ERR is
    /// the origin refusing.
    pub(super) async fn own_statement(&mut self, sql: &str) -> Result<Option<Vec<u8>>, MyError> {
        self.wait_quiet().await?;
        let mut payload = vec![COM_QUERY];
        payload.extend_from_slice(sql.as_bytes());
        let mut tracker = self.tracker(Shape::Results);
        let io = self.core.io();
        io.send_to_origin(&codec::packet(0, &payload)).await?;
        let mut first = None;
        loop {
            while let Some(p) = codec::decode(&mut io.origin.inbox)? {
                let row = tracker.in_rows();
                match tracker.step(p.payload()) {
                    Event::Error => {
                        return Err(MyError::Origin("a diagnostics statement was refused"));
                    }
                    Event::Part if row && first.is_none() => {
                        let mut r = Reader::new(p.payload());
                        first = Some(r.lenenc_str().flatten().unwrap_or_default().to_vec());
                    }
                    _ => {}
                }
                if tracker.is_done() {
                    return Ok(first);
                }
            }
            io.read_origin().await?;
        }
    }
}
