//! Named prepared statements under transaction pooling: a client's statement name
//! means nothing on the connection it leases next, so each statement is prepared on
//! the origin under a server-side name of wirecache's own (`wc_<n>`, one per distinct
//! query text and parameter types in a cache, as PgBouncer 1.21+ does), and the
//! client's Parse, Bind, Describe and Close are rewritten to it. A connection keeps
//! the statements prepared on it when it goes back to its pool, so a statement is
//! parsed once per connection, not once per transaction. The names also remember
//! which statements the origin has prepared successfully (`pooled_parse`).

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};

use super::messages::{self, tag};

/// Distinct statements named per cache, at most; past it, a new text reuses no
/// name and the client's Parse goes out under a fresh one each time (still correct).
const MAX_NAMES: usize = 100_000;

/// Bytes of statement text (and parameter types) named per cache, at most, each
/// text counted with [`ENTRY_OVERHEAD`]; past it, as past [`MAX_NAMES`]. Sized so
/// that the count binds first for ordinary texts (100 000 of up to ~640 bytes fit)
/// while a few sessions sending long distinct texts (each may hold
/// `pooled_parse::MAX_TEXT_BYTES`, 16 MiB, at a time, and replace them at will)
/// cannot make the cache-wide table outgrow four sessions' worth.
pub const MAX_NAMED_BYTES: usize = 64 << 20;

/// What one remembered text costs beyond its bytes: its boxed key, number, checked
/// flag and table slots (counted against [`MAX_NAMED_BYTES`]).
const ENTRY_OVERHEAD: usize = 64;

/// The server-side names of one cache's statements.
pub struct StmtNames {
    texts: Mutex<Texts>,
    next: std::sync::atomic::AtomicU64,
    max_names: usize,
    max_bytes: usize,
}

/// The texts remembered, under one lock so that what is checked is always a
/// remembered statement.
#[derive(Default)]
struct Texts {
    /// Query text `\0` parameter types → its number.
    by_text: HashMap<Box<[u8]>, u64>,
    /// Each remembered number → whether the origin prepared it without error
    /// (its text was valid then).
    checked: HashMap<u64, bool>,
    /// What `by_text` holds, as counted against `max_bytes`.
    bytes: usize,
}

impl Default for StmtNames {
    fn default() -> StmtNames {
        StmtNames::with_limits(MAX_NAMES, MAX_NAMED_BYTES)
    }
}

impl StmtNames {
    fn with_limits(max_names: usize, max_bytes: usize) -> StmtNames {
        StmtNames {
            texts: Mutex::default(),
            next: std::sync::atomic::AtomicU64::new(0),
            max_names,
            max_bytes,
        }
    }

    /// The number of the statement `sql` with parameter types `types`.
    pub fn id(&self, sql: &str, types: &[u8]) -> u64 {
        let mut text = Vec::with_capacity(sql.len() + 1 + types.len());
        text.extend_from_slice(sql.as_bytes());
        text.push(0);
        text.extend_from_slice(types);
        let mut texts = self.texts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = texts.by_text.get(text.as_slice()) {
            return *id;
        }
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cost = text.len() + ENTRY_OVERHEAD;
        if texts.by_text.len() < self.max_names && texts.bytes + cost <= self.max_bytes {
            texts.by_text.insert(text.into_boxed_slice(), id);
            texts.checked.insert(id, false);
            texts.bytes += cost;
        }
        id
    }

    /// Whether the origin prepared statement `id` without error (the last time it
    /// was asked to). Never for a statement not remembered.
    pub fn checked(&self, id: u64) -> bool {
        let texts = self.texts.lock().unwrap_or_else(|e| e.into_inner());
        texts.checked.get(&id).copied().unwrap_or(false)
    }

    /// The origin prepared statement `id` (`ok`), or refused it. Nothing is kept of
    /// a statement not remembered (its text gets a fresh number each time).
    pub fn set_checked(&self, id: u64, ok: bool) {
        let mut texts = self.texts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(checked) = texts.checked.get_mut(&id) {
            *checked = ok;
        }
    }

    /// Texts remembered and the bytes counted for them.
    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        let texts = self.texts.lock().unwrap_or_else(|e| e.into_inner());
        (texts.by_text.len(), texts.bytes)
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
    fn the_names_are_bounded_in_bytes() {
        // Room for exactly three texts of 1 000 bytes.
        let cost = 1_000 + 1 + 2 + ENTRY_OVERHEAD;
        let names = StmtNames::with_limits(MAX_NAMES, 3 * cost + cost / 2);
        let text = |k: usize| format!("{k:0>1000}");
        let kept: Vec<u64> = (0..3).map(|k| names.id(&text(k), &[0, 0])).collect();
        assert_eq!(names.held(), (3, 3 * cost));
        // Past the bound: a fresh number each time, nothing remembered or checked.
        let a = names.id(&text(3), &[0, 0]);
        let b = names.id(&text(3), &[0, 0]);
        assert!(a != b && !kept.contains(&a) && !kept.contains(&b));
        assert_eq!(names.held(), (3, 3 * cost));
        names.set_checked(a, true);
        assert!(!names.checked(a));
        // A short text still fits in what is left; the remembered keep their number.
        let short = names.id("SELECT 1", &[0, 0]);
        assert_eq!(names.id("SELECT 1", &[0, 0]), short);
        assert_eq!(names.held(), (4, 3 * cost + 8 + 1 + 2 + ENTRY_OVERHEAD));
        for (k, id) in kept.iter().enumerate() {
            assert_eq!(names.id(&text(k), &[0, 0]), *id);
            names.set_checked(*id, true);
            assert!(names.checked(*id));
        }
        let ids: std::collections::HashSet<u64> = [a, b, short].into_iter().chain(kept).collect();
        assert_eq!(ids.len(), 6, "every number is distinct");
    }

    #[test]
    fn the_default_bound_holds_64_mib() {
        let names = StmtNames::default();
        let text = "x".repeat(1 << 20);
        let ids: Vec<u64> = (0..70u8).map(|k| names.id(&text, &[0, k])).collect();
        let (count, bytes) = names.held();
        assert!(
            bytes <= MAX_NAMED_BYTES && count == 63,
            "{count} texts, {bytes} bytes"
        );
        assert_eq!(names.id(&text, &[0, 0]), ids[0]);
        assert_ne!(names.id(&text, &[0, 69]), ids[69]);
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
