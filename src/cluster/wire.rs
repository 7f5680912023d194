//! What travels on the bus and where it lives in Redis: key and channel names, the
//! fields of a database's generation hash, and the bump message (its encoding and
//! decoding; a message that does not decode is reported, never trusted).
//!
//! Keys share one hash tag (`{prefix}`), so the scripts touch one slot:
//! - `{p}:epoch`: random text set by the first writer; a new epoch means Redis lost
//!   its data (restart without persistence) and every copy is void;
//! - `{p}:seq`: one counter per bump, so subscribers see gaps;
//! - `{p}:dbs`: the set of databases with shared generations (`cache/db`);
//! - `{p}:g:cache/db`: the hash of one database's generations.
//!
//! A message is `epoch \n seq \n json`; the JSON is [`Bump`].

use serde::{Deserialize, Serialize};

/// Field of the whole-database generation.
pub const WHOLE: &str = "*";
/// Field of the schema generation (DDL: catalog facts void too).
pub const SCHEMA: &str = "!";
/// Prefix of a table's field.
pub const TABLE: &str = "t:";

/// The Redis names of one cluster.
#[derive(Debug, Clone)]
pub struct Names {
    pub epoch: String,
    pub seq: String,
    pub dbs: String,
    hash_prefix: String,
    pub channel: String,
}

impl Names {
    pub fn new(prefix: &str) -> Self {
        let tag = format!("{{{prefix}}}");
        Names {
            epoch: format!("{tag}:epoch"),
            seq: format!("{tag}:seq"),
            dbs: format!("{tag}:dbs"),
            hash_prefix: format!("{tag}:g:"),
            channel: format!("{prefix}:bus"),
        }
    }

    /// The hash of a database (`member` as in the `dbs` set).
    pub fn hash(&self, member: &str) -> String {
        format!("{}{member}", self.hash_prefix)
    }
}

/// The `dbs` member of a database: cache IDs hold no `/`, so it splits back.
pub fn member(cache: &str, db: &str) -> String {
    format!("{cache}/{db}")
}

/// (cache, database) of a `dbs` member.
pub fn split_member(member: &str) -> Option<(&str, &str)> {
    member.split_once('/')
}

/// One write's invalidation, as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bump {
    /// The publishing instance.
    pub i: String,
    /// Cache ID and database.
    pub c: String,
    pub d: String,
    /// Generation fields moved ([`WHOLE`], [`SCHEMA`], `t:<table>`).
    pub f: Vec<String>,
    /// When it was published: microseconds since the Unix epoch (lag measurement).
    pub at: u64,
}

/// A message as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub epoch: String,
    pub seq: u64,
    pub bump: Bump,
}

/// Decodes a message; `None` if it is not one of ours.
pub fn decode(payload: &[u8]) -> Option<Message> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut parts = text.splitn(3, '\n');
    let epoch = parts.next()?.to_owned();
    let seq = parts.next()?.parse().ok()?;
    let bump = serde_json::from_str(parts.next()?).ok()?;
    Some(Message { epoch, seq, bump })
}

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_garbage_is_refused() {
        let bump = Bump {
            i: "a".into(),
            c: "demo".into(),
            d: "shop".into(),
            f: vec![WHOLE.into(), "t:orders".into()],
            at: 7,
        };
        let json = serde_json::to_string(&bump).unwrap_or_default();
        let text = format!("e1\n42\n{json}");
        let m = decode(text.as_bytes());
        assert_eq!(
            m,
            Some(Message {
                epoch: "e1".into(),
                seq: 42,
                bump
            })
        );
        for bad in ["", "e1", "e1\nx\n{}", "e1\n1\nnot json", "e1\n1\n{\"i\":1}"] {
            assert_eq!(decode(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(decode(&[0xff, b'\n', b'1']), None);
    }

    #[test]
    fn names_share_one_hash_tag() {
        let n = Names::new("wc");
        for key in [&n.epoch, &n.seq, &n.dbs, &n.hash("demo/shop")] {
            assert!(key.starts_with("{wc}:"), "{key}");
        }
        assert_eq!(split_member(&member("demo", "a/b")), Some(("demo", "a/b")));
    }
}
