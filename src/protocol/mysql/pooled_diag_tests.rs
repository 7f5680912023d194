//! Unit tests of `pooled_diag.rs`.

use super::codec::{self, Packet};
use super::pooled_diag::*;

#[test]
fn reads_are_found() {
    let none = Reads::default();
    let cond = Reads {
        conditions: true,
        ..none
    };
    let count = Reads {
        row_count: true,
        ..none
    };
    let alone = Reads {
        row_count: true,
        row_count_alone: true,
        ..none
    };
    let cases = [
        ("SELECT 1", none),
        ("SHOW WARNINGS", cond),
        ("show errors limit 1", cond),
        ("SHOW COUNT(*) WARNINGS", cond),
        ("show count(*) errors;", cond),
        ("SELECT @@warning_count", cond),
        ("SELECT @@session.error_count, 1", cond),
        ("GET DIAGNOSTICS @n = NUMBER", cond),
        (
            "GET CURRENT DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT",
            cond,
        ),
        ("SHOW COLUMNS FROM warnings", none),
        ("SELECT warning_count FROM t", none),
        ("SELECT 'SHOW WARNINGS'", none),
        ("SELECT ROW_COUNT()", alone),
        ("select row_count ( ) as n;", alone),
        ("SELECT ROW_COUNT() `affected`", alone),
        ("SELECT ROW_COUNT() n", alone),
        ("SELECT ROW_COUNT(), 1", count),
        ("SELECT ROW_COUNT() FROM DUAL", count),
        ("INSERT INTO log VALUES (ROW_COUNT())", count),
        ("SELECT row_count_total FROM t", none),
        ("SELECT my_row_count() FROM t", none),
        ("SELECT t.row_count FROM t", none),
        ("SELECT 1 -- ROW_COUNT()", none),
        ("SELECT '@@warning_count'", none),
    ];
    for (sql, want) in cases {
        assert_eq!(reads(sql), want, "{sql}");
    }
    for cut in 0.."SHOW COUNT(*) WARNINGS".len() {
        let _ = reads(&"SHOW COUNT(*) WARNINGS"[..cut]);
    }
}

#[test]
fn bound_while_conditions_may_be_there() {
    let mut d = SessionDiag::default();
    assert!(!d.bound());
    d.conditions = Conditions::Maybe;
    assert!(d.bound());
    d.conditions = Conditions::None;
    d.row_count = Some(5);
    assert!(!d.bound(), "a count never holds the connection");
}

#[test]
fn a_row_holds_the_value() {
    let p = Packet {
        bytes: codec::packet(5, b"\x02-1"),
    };
    assert_eq!(&row_of(&p, 42)[..], b"\x03\x00\x00\x05\x0242");
}
