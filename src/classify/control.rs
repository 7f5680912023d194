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
    /// `set_config(…)` appears: session state changes the text cannot show.
    pub set_config: bool,
    /// A `SET` whose value comes from a variable (`= @x`).
    pub value_from_variable: bool,
    /// MariaDB's `SET STATEMENT … FOR <statement>`: any statement may follow.
    pub set_statement: bool,
    /// The text names `TEMP` or `TEMPORARY` (a temporary object's DDL; also any
    /// word ending in `temp`, which only makes the DDL's session private).
    pub temporary: bool,
    /// MySQL's `SET [SESSION] autocommit = …` alone: it changes when transactions
    /// end, never what a query returns.
    pub autocommit_only: bool,
}

/// Reads the session-level facts of `sql`, without copying it.
pub fn control(sql: &str) -> Control {
    let text = sql.trim().trim_end_matches(';');
    let mut slots = [""; 3];
    let mut n = 0;
    for (slot, word) in slots.iter_mut().zip(text.split_ascii_whitespace()) {
        *slot = word;
        n += 1;
    }
    let words = slots.get(..n).unwrap_or_default();
    let first = |w: &str| words.first().is_some_and(|f| f.eq_ignore_ascii_case(w));
    let words_in_text = Scan::of(text);
    let lone = !words_in_text.semicolon;
    Control {
        txn_end: if lone { txn_end(words) } else { None },
        drops_prepared: first("deallocate") || first("discard"),
        set_config: words_in_text.set_config,
        value_from_variable: first("set")
            && text.split_once('=').is_some_and(|(_, v)| v.contains('@')),
        set_statement: text
            .get(..13)
            .is_some_and(|h| h.eq_ignore_ascii_case("set statement")),
        temporary: words_in_text.temporary,
        autocommit_only: lone && first("set") && autocommit_only(text),
    }
}

/// `SET [SESSION | @@SESSION. | @@] autocommit {= | TO} {0 | 1 | ON | OFF}` and
/// nothing else.
/// What [`control`] looks for anywhere in a text, found in one pass over its bytes
/// (every miss and every write pays for it).
#[derive(Debug, Default)]
struct Scan {
    semicolon: bool,
    /// `set_config`, ASCII case ignored.
    set_config: bool,
    /// `temp` (also the start of `temporary`), ASCII case ignored.
    temporary: bool,
}

impl Scan {
    /// Found by searching for one byte of each word (`;`, the `_` of `set_config`,
    /// the `p` of `temp`) with memchr, then comparing the word around it: a
    /// few instructions per byte fewer than matching every byte.
    fn of(text: &str) -> Scan {
        let b = text.as_bytes();
        let word_at = |end: usize, word: &[u8]| {
            end.checked_sub(word.len() - 1)
                .and_then(|start| b.get(start..=end))
                .is_some_and(|w| w.eq_ignore_ascii_case(word))
        };
        Scan {
            semicolon: memchr::memchr(b';', b).is_some(),
            set_config: memchr::memchr_iter(b'_', b).any(|i| word_at(i + 6, b"set_config")),
            temporary: memchr::memchr2_iter(b'p', b'P', b).any(|i| word_at(i, b"temp")),
        }
    }
}

fn autocommit_only(text: &str) -> bool {
    let Some(rest) = text.get(3..) else {
        return false;
    };
    let Some((name, value)) = rest.split_once('=') else {
        return false;
    };
    let name = name.trim();
    let name = name
        .strip_prefix("@@")
        .map_or(name, |n| n.rsplit('.').next().unwrap_or(n));
    let name = match name.split_once(char::is_whitespace) {
        Some((scope, n)) if scope.eq_ignore_ascii_case("session") => n.trim(),
        _ => name,
    };
    let value = value.trim();
    name.eq_ignore_ascii_case("autocommit")
        && ["0", "1", "on", "off"]
            .iter()
            .any(|v| value.eq_ignore_ascii_case(v))
}

fn txn_end(words: &[&str]) -> Option<TxnEnd> {
    let is = |i: usize, w: &str| words.get(i).is_some_and(|x| x.eq_ignore_ascii_case(w));
    let alone_or_work = words.len() == 1 || (words.len() == 2 && is(1, "work"));
    if is(0, "rollback") && alone_or_work {
        Some(TxnEnd::Rollback)
    } else if is(0, "commit")
        || (is(0, "start") && is(1, "transaction"))
        || (is(0, "begin") && alone_or_work)
    {
        Some(TxnEnd::Commit)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;

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
        for (sql, variable, set_statement, set_config) in [
            ("SET @@sql_mode = @saved", true, false, false),
            ("set names = 'utf8'", false, false, false),
            (
                "SET STATEMENT max_statement_time=1 FOR SELECT 1",
                false,
                true,
                false,
            ),
            (
                "SELECT set_config('search_path', 'x', false)",
                false,
                false,
                true,
            ),
            ("SELECT v FROM t WHERE x = '@'", false, false, false),
        ] {
            let c = control(sql);
            let got = (c.value_from_variable, c.set_statement, c.set_config);
            assert_eq!(got, (variable, set_statement, set_config), "{sql}");
        }
        assert!(control("CREATE TEMPORARY TABLE t (a int)").temporary);
        // Found in any case and anywhere in the text, as before the one-pass scan.
        for sql in [
            "select SET_CONFIG('a', 'b', false)",
            "SELECT x, pg_catalog.Set_Config('a', 'b', true) FROM t",
            "SELECT 1; SELECT set_config('a','b',false)",
            "set_config",
            "SELECT x_set_config_y",
        ] {
            assert!(control(sql).set_config, "{sql}");
        }
        for sql in [
            "create temporary table t (a int)",
            "CREATE Temporary TABLE t",
            "DROP TEMPORARY TABLE t",
            "temporary",
            "CREATE TEMPORARy TABLE p_temporary",
            "CREATE TEMP TABLE t AS SELECT 1",
            "create temp view v AS SELECT 1",
            "SELECT 1 INTO TEMP t",
        ] {
            assert!(control(sql).temporary, "{sql}");
        }
        for sql in [
            "SELECT set_conf FROM t",
            "SELECT tem FROM s",
            "SELECT te_mp FROM s",
            "s",
            "t",
            "_config",
            "set_",
            "p",
            "emporary",
        ] {
            let c = control(sql);
            assert!(!c.set_config && !c.temporary, "{sql}");
        }
        assert_eq!(control("COMMIT; BEGIN").txn_end, None, "not lone");
    }

    proptest::proptest! {
        /// The byte-search scan finds exactly what comparing at every byte finds.
        #[test]
        fn scan_agrees_with_a_search_at_every_byte(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::string::string_regex("[a-zA-Z_; y]{0,6}").unwrap(),
                    proptest::sample::select(vec![
                        "set_config", "SET_CONFIG", "temporary", "TEMPORARY", "set_confi",
                        "emporary", "_", "y", ";", "\u{e9}",
                    ]).prop_map(str::to_owned),
                ],
                0..8,
            ),
        ) {
            let text = parts.concat();
            let naive = |w: &str| {
                text.as_bytes()
                    .windows(w.len())
                    .any(|x| x.eq_ignore_ascii_case(w.as_bytes()))
            };
            let scan = Scan::of(&text);
            proptest::prop_assert_eq!(scan.semicolon, text.contains(';'));
            proptest::prop_assert_eq!(scan.set_config, naive("set_config"), "{:?}", text);
            proptest::prop_assert_eq!(scan.temporary, naive("temporary"), "{:?}", text);
        }
    }

    #[test]
    fn autocommit_switches() {
        for (sql, want) in [
            ("SET autocommit = 0", true),
            ("set AUTOCOMMIT=1;", true),
            ("SET SESSION autocommit = OFF", true),
            ("SET @@session.autocommit = 1", true),
            ("SET @@autocommit = on", true),
            ("SET autocommit = 0, sql_mode = ''", false),
            ("SET autocommit = @x", false),
            ("SET GLOBAL autocommit = 0", false),
            ("SET autocommit = 0; SELECT 1", false),
            ("SELECT autocommit = 0", false),
        ] {
            assert_eq!(control(sql).autocommit_only, want, "{sql}");
        }
    }
}
