//! Named prepared statements under transaction pooling: a client's statement name
//! means nothing on the connection it leases next, so each statement is prepared on
//! the origin under a server-side name of wirecache's own (`wc_<n>`, one per distinct
//! query text and parameter types in a cache, as PgBouncer 1.21+ does), and the
//! client's Parse, Bind, Describe and Close are rewritten to it. A connection keeps
//! the statements prepared on it when it goes back to its pool, so a statement is
//! parsed once per connection, not once per transaction. The names also remember
//! which statements the origin has prepared successfully (`pooled_parse`).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};

use super::messages::{self, tag};

/// Distinct statements named per cache, at most; past it, a new text reuses no
/// name and the client's Parse goes out under a fresh one each time (still correct).
const MAX_NAMES: usize = 100_000;

/// The server-side names of one cache's statements.
#[derive(Default)]
pub struct StmtNames {
    /// Query text `\0` parameter types → its number.
    by_text: Mutex<HashMap<Box<[u8]>, u64>>,
    next: std::sync::atomic::AtomicU64,
    /// Statements the origin prepared without error (their text was valid then).
    checked: Mutex<HashSet<u64>>,
}

impl StmtNames {
    /// The number of the statement `sql` with parameter types `types`.
    pub fn id(&self, sql: &str, types: &[u8]) -> u64 {
        let mut text = Vec::with_capacity(sql.len() + 1 + types.len());
        text.extend_from_slice(sql.as_bytes());
        text.push(0);
        text.extend_from_slice(types);
        let mut map = self.by_text.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = map.get(text.as_slice()) {
            return *id;
        }
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if map.len() < MAX_NAMES {
            map.insert(text.into_boxed_slice(), id);
        }
        id
    }

    /// Whether the origin prepared statement `id` without error (the last time it
    /// was asked to).
    pub fn checked(&self, id: u64) -> bool {
        let set = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        set.contains(&id)
    }

    /// The origin prepared statement `id` (`ok`), or refused it.
    pub fn set_checked(&self, id: u64, ok: bool) {
        let mut set = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        if !ok {
            set.remove(&id);
        } else if set.len() < MAX_NAMES {
            set.insert(id);
        }
    }
}

/// The server-side name of statement `id`.
pub fn name(id: u64) -> String {
    format!("wc_{id}")
}

/// The statement number a server-side name stands for.
pub fn id_of(name: &[u8]) -> Option<u64> {
    std::str::from_utf8(name.strip_prefix(b"wc_")?)
        .ok()?
        .parse()
        .ok()
}

fn cstr(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(s);
    out.push(0);
}

/// Parse of statement `id`.
pub fn parse(id: u64, sql: &str, types: &[u8]) -> Bytes {
    let mut body = Vec::with_capacity(sql.len() + types.len() + 16);
    cstr(&mut body, name(id).as_bytes());
    cstr(&mut body, sql.as_bytes());
    body.extend_from_slice(types);
    message(tag::PARSE, &body)
}

/// A Parse the origin surely refuses (a syntax error, or 25P02 in an aborted
/// transaction), leaving nothing on the connection: it fails a batch as a refused
/// client Parse would (`pooled_refusals`).
pub fn failing_parse() -> Bytes {
    message(tag::PARSE, b"wc_refused\0)\0\0\0")
}

/// Close of statement `id` (closing one the connection lacks is no error).
pub fn close(id: u64) -> Bytes {
    let mut body = vec![b'S'];
    cstr(&mut body, name(id).as_bytes());
    message(tag::CLOSE, &body)
}

/// A Bind body (`portal`, statement, `rest`) naming statement `id`.
pub fn bind(portal: &[u8], id: u64, rest: &[u8]) -> Bytes {
    let mut body = Vec::with_capacity(portal.len() + rest.len() + 16);
    cstr(&mut body, portal);
    cstr(&mut body, name(id).as_bytes());
    body.extend_from_slice(rest);
    message(tag::BIND, &body)
}

/// A Describe of statement `id`.
pub fn describe(id: u64) -> Bytes {
    let mut body = vec![b'S'];
    cstr(&mut body, name(id).as_bytes());
    message(tag::DESCRIBE, &body)
}

fn message(t: u8, body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(body.len() + 5);
    messages::put_message(&mut out, t, body);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_name_per_text_and_types() {
        let names = StmtNames::default();
        let a = names.id("SELECT $1", &[0, 1, 0, 0, 0, 23]);
        assert_eq!(names.id("SELECT $1", &[0, 1, 0, 0, 0, 23]), a);
        assert_ne!(names.id("SELECT $1", &[0, 0]), a);
        assert_ne!(names.id("SELECT 2", &[0, 0]), a);
        assert_eq!(id_of(name(a).as_bytes()), Some(a));
        assert_eq!(id_of(b"s1"), None);
    }

    #[test]
    fn a_statement_is_checked_once_the_origin_prepared_it() {
        let names = StmtNames::default();
        let a = names.id("SELECT 1", &[0, 0]);
        assert!(!names.checked(a));
        names.set_checked(a, true);
        assert!(names.checked(a));
        names.set_checked(a, false);
        assert!(!names.checked(a));
    }

    #[test]
    fn rewritten_messages_parse_back() {
        let p = parse(7, "SELECT $1", &[0, 0]);
        let parsed = messages::parse_parse(p.get(5..).unwrap_or_default());
        assert_eq!(parsed, Some((&b"wc_7"[..], "SELECT $1", &[0u8, 0][..])));
        let b = bind(b"", 7, &[0, 0, 0, 0, 0, 0]);
        let parsed = messages::parse_bind(b.get(5..).unwrap_or_default());
        assert_eq!(
            parsed.map(|(p, s, _)| (p, s)),
            Some((&b""[..], &b"wc_7"[..]))
        );
        let c = close(7);
        let parsed = messages::parse_target(c.get(5..).unwrap_or_default());
        assert_eq!(parsed, Some((b'S', &b"wc_7"[..])));
    }
}
