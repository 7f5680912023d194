//! What a statement does to its session and transaction that a session must know
//! besides its reads and writes, read from the text's leading words (cheap, and the
//! same for every dialect):
//!
//! - whether a lone statement ends the open transaction, and how (MySQL reports no
//!   command tag, so its sessions learn a COMMIT or ROLLBACK from the text);
//! - whether it may drop prepared statements behind the session's back;
//! - whether it changes session state in a way the text cannot show.

/// How a lone statement ends the open transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnEnd {
    /// `COMMIT` (also `AND CHAIN`), or MySQL's `START TRANSACTION` / `BEGIN`, which
    /// commit a transaction that is open.
    Commit,
    /// `ROLLBACK` (not `ROLLBACK TO SAVEPOINT`).
    Rollback,
}

/// The session-level facts of one SQL text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Control {
    /// Set only for a text of one statement: several statements in one string are
    /// judged by the transaction status the origin reports.
    pub txn_end: Option<TxnEnd>,
    /// `DEALLOCATE` or `DISCARD`: prepared statements may be gone.
    pub drops_prepared: bool,
    /// Session state changes wirecache cannot follow: `set_config(…)`, a `SET` whose
    /// value comes from a variable (`= @x`), MariaDB's `SET STATEMENT … FOR`.
    pub unseen_session_change: bool,
    /// MariaDB's `SET STATEMENT … FOR <statement>`: any statement may follow.
    pub set_statement: bool,
    /// The text names `TEMPORARY` (a temporary table's DDL).
    pub temporary: bool,
}

/// Reads the session-level facts of `sql`.
pub fn control(sql: &str) -> Control {
    let lower = sql.trim().trim_end_matches(';').to_ascii_lowercase();
    let words: Vec<&str> = lower.split_ascii_whitespace().take(3).collect();
    let lone = !lower.contains(';');
    let set_statement = lower.starts_with("set statement");
    let value_uses_variable = words.first() == Some(&"set")
        && lower.split_once('=').is_some_and(|(_, v)| v.contains('@'));
    Control {
        txn_end: if lone { txn_end(&words) } else { None },
        drops_prepared: matches!(words.first(), Some(&"deallocate" | &"discard")),
        unseen_session_change: set_statement || value_uses_variable || lower.contains("set_config"),
        set_statement,
        temporary: lower.contains("temporary"),
    }
}

fn txn_end(words: &[&str]) -> Option<TxnEnd> {
    match words {
        ["rollback"] | ["rollback", "work"] => Some(TxnEnd::Rollback),
        ["commit", ..] | ["start", "transaction", ..] | ["begin"] | ["begin", "work"] => {
            Some(TxnEnd::Commit)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_ends_by_name() {
        let cases = [
            ("ROLLBACK", Some(TxnEnd::Rollback)),
            ("  rollback work ; ", Some(TxnEnd::Rollback)),
            ("ROLLBACK TO SAVEPOINT a", None),
            ("COMMIT", Some(TxnEnd::Commit)),
            ("commit work and chain", Some(TxnEnd::Commit)),
            ("START TRANSACTION READ ONLY", Some(TxnEnd::Commit)),
            ("begin", Some(TxnEnd::Commit)),
            ("BEGIN NOT ATOMIC SELECT 1; END", None),
            (
                "ROLLBACK; START TRANSACTION; UPDATE t SET v = 1; COMMIT",
                None,
            ),
            ("COMMIT; ROLLBACK", None),
            ("SELECT 1", None),
        ];
        for (sql, want) in cases {
            assert_eq!(control(sql).txn_end, want, "{sql}");
        }
    }

    #[test]
    fn deallocate_and_discard_are_noticed() {
        for (sql, want) in [
            ("DEALLOCATE ALL", true),
            ("  discard all", true),
            ("SELECT 1", false),
            ("de", false),
        ] {
            assert_eq!(control(sql).drops_prepared, want, "{sql}");
        }
    }

    #[test]
    fn unseen_session_changes() {
        for (sql, unseen, set_statement) in [
            ("SET @@sql_mode = @saved", true, false),
            ("set names = 'utf8'", false, false),
            (
                "SET STATEMENT max_statement_time=1 FOR SELECT 1",
                true,
                true,
            ),
            ("SELECT set_config('search_path', 'x', false)", true, false),
            ("SELECT v FROM t WHERE x = '@'", false, false),
        ] {
            let c = control(sql);
            assert_eq!(
                (c.unseen_session_change, c.set_statement),
                (unseen, set_statement),
                "{sql}"
            );
        }
        assert!(control("CREATE TEMPORARY TABLE t (a int)").temporary);
    }
}
