//! The session's namespace (design §4.5): the login identity plus every statement that
//! changed session state, in order; private after changes wirecache cannot follow. Also
//! which statements end a transaction by name (COMMIT, ROLLBACK).

use super::session::{After, Identity, Session};
use crate::engine::{Effects, NamespaceMaterial};

/// The namespace material fixed at login: cache, user, database, character set and
/// negotiated capabilities.
pub fn base_namespace(cache: &str, id: &Identity) -> NamespaceMaterial {
    let mut m = NamespaceMaterial::default();
    m.push(cache.as_bytes());
    m.push(&id.user);
    m.push(id.database.as_deref().unwrap_or(b"\0none"));
    m.push(&[id.charset]);
    m.push(&id.caps.to_le_bytes());
    m
}

impl Session {
    /// What a forwarded statement does to the session. Changes wirecache cannot follow
    /// make the namespace private: MariaDB's `SET STATEMENT … FOR` (anything may
    /// follow), a value taken from a user variable, a temporary table (it shadows a
    /// shared one for this session only). The rest is the core's.
    pub fn session_effects(&mut self, mut effects: Effects, sql: &str) -> Effects {
        if effects.session_change {
            let lower = sql.trim_start().to_ascii_lowercase();
            let value_uses_variable = lower.split_once('=').is_some_and(|(_, v)| v.contains('@'));
            if lower.starts_with("set statement") {
                effects.session_change = false;
                effects.whole_database = true;
                effects.taints_session = true;
            } else if value_uses_variable {
                effects.session_change = false;
                effects.taints_session = true;
            }
        }
        if effects.schema_change && contains_word(sql, "temporary") {
            effects.taints_session = true;
        }
        self.core.session_effects(effects, sql)
    }

    /// Back to a fresh login state as `identity` (COM_CHANGE_USER, COM_RESET_CONNECTION).
    pub fn reset_state(&mut self, identity: Identity) {
        let base = base_namespace(&self.core.cache().id, &identity);
        self.core.reset_session(base);
        self.identity = identity;
        self.stmts.clear();
    }
}

/// A lone `ROLLBACK` (but not `ROLLBACK TO SAVEPOINT`) ends a transaction writing
/// nothing; a lone `COMMIT` (even with `AND CHAIN`), `START TRANSACTION` or `BEGIN`
/// commits an open one. Several statements in one
/// string are judged by the status flags alone, so a ROLLBACK among them never keeps
/// a COMMIT among them from applying its transaction's writes.
pub fn after_for(sql: &str) -> After {
    let lower = sql.trim().trim_end_matches(';').to_ascii_lowercase();
    if lower.contains(';') {
        return After::Nothing;
    }
    let words: Vec<&str> = lower.split_ascii_whitespace().take(3).collect();
    match words.as_slice() {
        ["rollback"] | ["rollback", "work"] => After::Rollback,
        // START TRANSACTION and BEGIN commit a transaction that is open, and the flags
        // go on saying "in a transaction".
        ["commit", ..] | ["start", "transaction", ..] | ["begin"] | ["begin", "work"] => {
            After::Commit
        }
        _ => After::Nothing,
    }
}

fn contains_word(hay: &str, word: &str) -> bool {
    hay.as_bytes()
        .windows(word.len())
        .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_ends_by_name() {
        let cases = [
            ("ROLLBACK", After::Rollback),
            ("  rollback work ; ", After::Rollback),
            ("ROLLBACK TO SAVEPOINT a", After::Nothing),
            ("COMMIT", After::Commit),
            ("commit work and chain", After::Commit),
            ("START TRANSACTION READ ONLY", After::Commit),
            ("begin", After::Commit),
            ("BEGIN NOT ATOMIC SELECT 1; END", After::Nothing),
            (
                "ROLLBACK; START TRANSACTION; UPDATE t SET v = 1; COMMIT",
                After::Nothing,
            ),
            ("COMMIT; ROLLBACK", After::Nothing),
            ("SELECT 1", After::Nothing),
        ];
        for (sql, want) in cases {
            assert_eq!(after_for(sql), want, "{sql}");
        }
    }
}
