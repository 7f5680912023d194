//! Tests of `pooled_notes`: the table of statements, and the in-place reader and
//! `quiet` held to the reader that copied words.

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

/// The reader before words were compared in place: the oracle of
/// `reads_as_the_copying_reader_did`.
mod reference {
    use super::super::Note;
    use crate::pool::metrics::PinReason;

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
    pub fn note_one(sql: &str) -> Note {
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
}

use proptest::strategy::Strategy;

#[test]
fn what_notes_something_is_never_quiet() {
    for sql in [
        "SET a.b = 1",
        "reset all",
        "LISTEN chan",
        "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
        "PREPARE q AS SELECT 1",
        "CREATE TEMP TABLE t (a int)",
        "SELECT * INTO TEMP t FROM x",
        "SELECT pg_advisory_lock(1)",
        "select set_config('a', 'b', false)",
        "SELECT 1; SET a.b = 2",
        "(SET a.b = 3)",
        "\u{ab}SET a.b = 4",
        "DO $$ BEGIN SET a.b = 5; END $$",
    ] {
        assert!(!quiet(sql), "{sql}");
    }
    for sql in [
        "SELECT 1",
        "UPDATE t SET a = $1 WHERE b = 2;",
        "BEGIN;",
        "END;",
    ] {
        assert!(quiet(sql), "{sql}");
    }
}

proptest::proptest! {
    /// Every statement is read as the reader that copied its words read it.
    #[test]
    fn reads_as_the_copying_reader_did(
        sql in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::sample::select(vec![
                    "set", "SET", "reset", "Reset", "all", "local", "transaction",
                    "constraints", "session", "authorization", "listen", "declare",
                    "with", "hold", "prepare", "create", "global", "temp",
                    "TEMPORARY", "into", "select", "set_config", "pg_advisory_lock",
                    "pg_try_advisory_lock_shared", "pg_advisory_xact_lock", "x",
                    "\u{e9}t\u{e9}",
                ]).prop_map(|w: &str| w.to_string()),
                "[ ,.=()'1_a-zé]{1,4}",
            ],
            0..9,
        ).prop_map(|w| w.join(" ")),
    ) {
        proptest::prop_assert_eq!(note_one(&sql), reference::note_one(&sql), "{}", sql);
    }

    /// A statement found quiet notes nothing: `quiet` is a superset check.
    #[test]
    fn a_quiet_text_notes_nothing(
        sql in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::sample::select(vec![
                    "set", "SeT", "reset", "all", "session", "authorization", "listen",
                    "declare", "with", "hold", "prepare", "transaction", "create",
                    "local", "temp", "TEMPORARY", "into", "select", "update",
                    "set_config", "pg_advisory_lock", "pg_try_advisory_lock", ";",
                    "$$", "$1", "$a$", "'", "\"", "\u{ab}", "\u{e9}", "(", "--",
                ]).prop_map(|w: &str| w.to_string()),
                "[ ,.=()'1_a-z;$]{1,4}",
            ],
            0..10,
        ).prop_map(|w| w.join(" ")),
    ) {
        if quiet(&sql) {
            for (note, piece) in notes(&sql) {
                proptest::prop_assert_eq!(note, Note::Nothing, "{} ({})", sql, piece);
            }
        }
    }
}
