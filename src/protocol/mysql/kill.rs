//! Connection ids of wirecache's own (the `connection_id` of the greeting a client
//! gets, its `thread_id()`), the registry mapping each live one to its session's origin
//! connection id, and the translation of `KILL` statements that name one.
//!
//! A client is greeted before its cache, hence its origin, is known, so it cannot be
//! given the origin's id: it gets one of wirecache's, unique among the listener's live
//! sessions and never 0. Ids come from a range far above the ids a MariaDB or MySQL
//! server hands out (they count up from 1), so a `KILL` naming an origin id read from
//! `SHOW PROCESSLIST` or `CONNECTION_ID()` reaches the origin unchanged and does what it
//! does there, while a wirecache id that is not live is unknown to the origin too
//! (error 1094) instead of hitting an unrelated origin connection.
//!
//! `KILL [HARD|SOFT] [CONNECTION|QUERY] <id>` naming a live wirecache id whose session
//! uses the same origin as the killer is rewritten to name that session's origin id and
//! runs on the killer's own origin connection, so the origin decides who may kill what;
//! COM_PROCESS_KILL (what some C clients send for `mysql_kill()`) likewise.
//! `KILL QUERY ID <query_id>` (MariaDB: a query id, not a connection id), `KILL USER`,
//! statements with comments and multi-statement texts are not rewritten.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::codec::{self, Packet};
use super::command::{COM_PROCESS_KILL, COM_QUERY};
use super::response::Shape;
use super::session::{After, Session};
use crate::engine::Effects;

/// How many ids one listener's range holds.
const SPAN: u32 = 0x2000_0000;
/// First id of the MySQL listener's range; the MariaDB listener's follows it. Both stay
/// below 2^31, so drivers that keep the id in a signed 32-bit integer read it right.
pub const MYSQL_BASE: u32 = 0x4000_0000;
pub const MARIADB_BASE: u32 = MYSQL_BASE + SPAN;
/// ER_NO_SUCH_THREAD.
const ER_NO_SUCH_THREAD: u16 = 1094;

/// The origin connection behind a live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginThread {
    /// The cache's origin address (`host:port`), as configured.
    pub origin: String,
    /// The id the origin gave that connection in its greeting.
    pub id: u32,
}

/// Live client connection ids of one listener (shared by its sessions).
#[derive(Debug)]
pub struct ConnectionIds {
    base: u32,
    next: AtomicU32,
    /// `None` until the session has authenticated at its origin.
    live: Mutex<HashMap<u32, Option<OriginThread>>>,
}

impl ConnectionIds {
    /// A registry handing out ids from `base` to `base + 0x1FFF_FFFF`.
    pub fn new(base: u32) -> Arc<Self> {
        Arc::new(Self {
            base,
            next: AtomicU32::new(0),
            live: Mutex::new(HashMap::new()),
        })
    }

    fn live(&self) -> MutexGuard<'_, HashMap<u32, Option<OriginThread>>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh id, held until the returned guard is dropped; `None` only if every id
    /// of the range is live.
    pub fn claim(self: &Arc<Self>) -> Option<ClientId> {
        let mut live = self.live();
        if live.len() >= SPAN as usize {
            return None;
        }
        loop {
            let n = self.next.fetch_add(1, Ordering::Relaxed) % SPAN;
            let id = self.base.wrapping_add(n);
            if id != 0 && !live.contains_key(&id) {
                live.insert(id, None);
                return Some(ClientId {
                    ids: self.clone(),
                    id,
                });
            }
        }
    }

    /// The origin connection behind live id `id`, once authenticated.
    pub fn origin_thread(&self, id: u32) -> Option<OriginThread> {
        self.live().get(&id).cloned().flatten()
    }

    /// Records that live id `id` now uses another origin connection (a pooled
    /// session's COM_CHANGE_USER); an id no longer live stays gone.
    pub fn rebind(&self, id: u32, origin: &str, origin_id: u32) {
        if let Some(thread) = self.live().get_mut(&id) {
            *thread = Some(OriginThread {
                origin: origin.to_string(),
                id: origin_id,
            });
        }
    }

    /// Records that live id `id` uses no origin connection now (a transaction-pooled
    /// session between transactions).
    pub fn unbind(&self, id: u32) {
        if let Some(thread) = self.live().get_mut(&id) {
            *thread = None;
        }
    }

    /// Live id `id` names a session that holds no origin connection now.
    pub fn holds_none(&self, id: u32) -> bool {
        matches!(self.live().get(&id), Some(None))
    }

    /// `sql` with the id of a `KILL` that names a live session of `origin` replaced by
    /// that session's origin id; `None` when nothing is to be rewritten.
    pub fn translate(&self, sql: &[u8], origin: &str) -> Option<Vec<u8>> {
        let target = parse(sql)?;
        let thread = self.origin_thread(u32::try_from(target.id).ok()?)?;
        if thread.origin != origin {
            return None;
        }
        let mut out = Vec::with_capacity(sql.len() + 10);
        out.extend_from_slice(sql.get(..target.digits.start)?);
        out.extend_from_slice(thread.id.to_string().as_bytes());
        out.extend_from_slice(sql.get(target.digits.end..)?);
        Some(out)
    }
}

/// A live client connection id; dropping it ends its life.
#[derive(Debug)]
pub struct ClientId {
    ids: Arc<ConnectionIds>,
    id: u32,
}

impl ClientId {
    pub fn get(&self) -> u32 {
        self.id
    }

    /// Records the origin connection the session authenticated on.
    pub fn bind(&self, origin: &str, origin_id: u32) {
        let thread = OriginThread {
            origin: origin.to_string(),
            id: origin_id,
        };
        self.ids.live().insert(self.id, Some(thread));
    }
}

impl Drop for ClientId {
    fn drop(&mut self) {
        self.ids.live().remove(&self.id);
    }
}

impl Session {
    /// A `KILL` statement naming a connection: one naming a live wirecache id of this
    /// origin is sent with that session's origin id instead; the origin answers OK or
    /// ERR and judges the permission. It changes no table, so it is forwarded without
    /// the engine.
    pub fn on_kill(&mut self, p: &Packet) {
        let text = p.payload().get(1..).unwrap_or_default();
        let named = parse(text).and_then(|t| u32::try_from(t.id).ok());
        if self.refuse_idle_target(named) {
            return;
        }
        match self.ids.translate(text, &self.core.cache().origin) {
            Some(sql) => self.forward_translated(COM_QUERY, &sql),
            None => self.forward(p),
        }
        self.expect(Shape::Single, Effects::default(), false, After::Nothing);
    }

    /// COM_PROCESS_KILL (a 4-byte connection id), what some C clients send for
    /// `mysql_kill()`: translated like `KILL <id>`.
    pub fn on_process_kill(&mut self, p: &Packet) {
        let body = p.payload().get(1..).unwrap_or_default();
        let named = <[u8; 4]>::try_from(body).ok().map(u32::from_le_bytes);
        if self.refuse_idle_target(named) {
            return;
        }
        let thread = <[u8; 4]>::try_from(body)
            .ok()
            .and_then(|b| self.ids.origin_thread(u32::from_le_bytes(b)))
            .filter(|t| t.origin == self.core.cache().origin);
        match thread {
            Some(t) => self.forward_translated(COM_PROCESS_KILL, &t.id.to_le_bytes()),
            None => self.forward(p),
        }
        self.expect(Shape::Single, Effects::default(), false, After::Nothing);
    }

    /// A `KILL` naming a live session that holds no origin connection now (between
    /// transactions under transaction pooling): nothing runs for it at the origin,
    /// and the killer is told so (ERR 1094) instead of the origin being asked.
    fn refuse_idle_target(&mut self, named: Option<u32>) -> bool {
        let Some(id) = named.filter(|id| self.ids.holds_none(*id)) else {
            return false;
        };
        let msg = format!(
            "Unknown thread id: {id} (wirecache: that session holds no origin connection now, nothing of it runs at the origin)"
        );
        let err = super::errors::err_packet(1, ER_NO_SUCH_THREAD, "HY000", &msg);
        self.core.local(err, false);
        true
    }

    fn forward_translated(&mut self, command: u8, body: &[u8]) {
        tracing::debug!(cache = %self.core.cache().id, "a kill names a wirecache connection id: translated");
        let mut payload = Vec::with_capacity(body.len() + 1);
        payload.push(command);
        payload.extend_from_slice(body);
        self.core.to_origin(&codec::packet(0, &payload));
    }
}

/// A `KILL` naming a connection by number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillTarget {
    pub id: u64,
    /// Where the number's digits are in the statement.
    pub digits: Range<usize>,
}

/// Reads words and numbers of a statement, skipping whitespace.
struct Words<'a> {
    sql: &'a [u8],
    at: usize,
}

impl<'a> Words<'a> {
    fn skip_space(&mut self) {
        while self.sql.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    /// The next run of bytes matching `f`, after whitespace.
    fn run(&mut self, f: fn(&u8) -> bool) -> Range<usize> {
        self.skip_space();
        let start = self.at;
        while self.sql.get(self.at).is_some_and(f) {
            self.at += 1;
        }
        start..self.at
    }

    /// Consumes the next word (letters and `_`) if it is one of `options` (upper
    /// case; compared without regard to case), and says which.
    fn optional(&mut self, options: &[&'static str]) -> Option<&'static str> {
        let before = self.at;
        let range = self.run(|b| b.is_ascii_alphabetic() || *b == b'_');
        let word = self.sql.get(range).unwrap_or_default();
        let found = options
            .iter()
            .find(|o| o.as_bytes().eq_ignore_ascii_case(word))
            .copied()
            .filter(|_| !self.sql.get(self.at).is_some_and(u8::is_ascii_digit));
        if found.is_none() {
            self.at = before;
        }
        found
    }

    /// True when only whitespace and at most one `;` are left.
    fn at_end(&mut self) -> bool {
        self.skip_space();
        if self.sql.get(self.at) == Some(&b';') {
            self.at += 1;
            self.skip_space();
        }
        self.at >= self.sql.len()
    }
}

/// Parses `KILL [HARD|SOFT] [CONNECTION|QUERY] <number>` (any case, surrounding
/// whitespace, one trailing `;`). Anything else, `KILL QUERY ID` included, is `None`.
pub fn parse(sql: &[u8]) -> Option<KillTarget> {
    let mut w = Words { sql, at: 0 };
    w.optional(&["KILL"])?;
    w.optional(&["HARD", "SOFT"]);
    if w.optional(&["CONNECTION", "QUERY"]) == Some("QUERY") && w.optional(&["ID"]).is_some() {
        return None;
    }
    let digits = w.run(u8::is_ascii_digit);
    let text = std::str::from_utf8(sql.get(digits.clone())?).ok()?;
    let id = text.parse::<u64>().ok()?;
    // A number glued to a word ("KILL 5x") or followed by more text is not ours.
    let glued = sql.get(digits.end).is_some_and(u8::is_ascii_alphanumeric);
    (!glued && w.at_end()).then_some(KillTarget { id, digits })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_forms_are_parsed_with_the_digits_located() {
        let cases: &[(&str, Option<u64>)] = &[
            ("KILL 5", Some(5)),
            ("kill connection 12", Some(12)),
            ("  Kill\tQUERY  1073741824 ;  ", Some(1_073_741_824)),
            ("KILL HARD QUERY 7", Some(7)),
            ("KILL SOFT CONNECTION 8;", Some(8)),
            ("KILL SOFT 9", Some(9)),
            ("KILL QUERY ID 10", None),
            ("KILL USER bob", None),
            ("KILL 5; SELECT 1", None),
            ("KILL 5 -- why", None),
            ("/* x */ KILL 5", None),
            ("KILL 5x", None),
            ("KILL", None),
            ("KILLER 5", None),
            ("KILL5", None),
            ("KILL QUERY5", None),
            ("KILL CONNECTION_ID()", None),
            ("SELECT 5", None),
            ("KILL 99999999999999999999999", None),
        ];
        for (sql, want) in cases {
            let got = parse(sql.as_bytes());
            assert_eq!(got.as_ref().map(|t| t.id), *want, "{sql}");
            if let Some(t) = got {
                assert_eq!(&sql[t.digits], t.id.to_string(), "{sql}");
            }
        }
        for cut in 0.."KILL HARD QUERY 123;".len() {
            let _ = parse(&b"KILL HARD QUERY 123;"[..cut]);
        }
    }

    #[test]
    fn ids_are_unique_non_zero_and_released() {
        let ids = ConnectionIds::new(MYSQL_BASE);
        let a = ids.claim().unwrap();
        let b = ids.claim().unwrap();
        assert_ne!(a.get(), b.get());
        assert!(a.get() >= MYSQL_BASE && a.get() < MARIADB_BASE);
        assert_eq!(ids.origin_thread(a.get()), None, "not yet authenticated");
        a.bind("127.0.0.1:3306", 42);
        assert_eq!(ids.origin_thread(a.get()).map(|t| t.id), Some(42));
        let gone = a.get();
        drop(a);
        assert_eq!(ids.origin_thread(gone), None);
        assert_eq!(ids.live().len(), 1);
        // A range that wraps skips 0 and ids still live.
        let wrap = ConnectionIds::new(u32::MAX - 1);
        let held: Vec<_> = (0..4).filter_map(|_| wrap.claim()).collect();
        let mut seen: Vec<u32> = held.iter().map(ClientId::get).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 4);
        assert!(!seen.contains(&0));
    }

    #[test]
    fn only_live_ids_of_the_same_origin_are_translated() {
        let ids = ConnectionIds::new(MYSQL_BASE);
        let victim = ids.claim().unwrap();
        victim.bind("db:3306", 77);
        let sql = format!("KILL QUERY {};", victim.get());
        assert_eq!(
            ids.translate(sql.as_bytes(), "db:3306").as_deref(),
            Some(&b"KILL QUERY 77;"[..])
        );
        assert_eq!(ids.translate(sql.as_bytes(), "other:3306"), None);
        assert_eq!(ids.translate(b"KILL 12", "db:3306"), None);
        let id = victim.get();
        drop(victim);
        assert_eq!(
            ids.translate(format!("KILL {id}").as_bytes(), "db:3306"),
            None
        );
    }
}
