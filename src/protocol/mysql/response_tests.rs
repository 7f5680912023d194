//! Table tests of the response tracker: where each command's answer ends.

use super::*;

const EOF_AUTOCOMMIT: &[u8] = &[0xFE, 0, 0, 2, 0];
const EOF_MORE: &[u8] = &[0xFE, 0, 0, 10, 0];
const OK_END: &[u8] = &[0xFE, 0, 0, 2, 0, 0, 0];
const OK: &[u8] = &[0, 0, 0, 2, 0, 0, 0];
const OK_MORE: &[u8] = &[0, 1, 0, 10, 0, 0, 0];
const ERR: &[u8] = &[0xFF, 0x15, 0x04, b'#', b'2', b'8', b'0', b'0', b'0', b'x'];

/// Feeds packets; returns the index of the packet that ended the answer.
fn end_of(shape: Shape, deprecate_eof: bool, packets: &[&[u8]]) -> Option<usize> {
    let mut t = Tracker::new(shape, deprecate_eof);
    for (i, p) in packets.iter().enumerate() {
        t.step(p);
        if t.is_done() {
            return Some(i);
        }
    }
    None
}

#[test]
fn text_result_set_with_and_without_eof() {
    let classic: &[&[u8]] = &[
        &[1],
        b"coldef",
        EOF_AUTOCOMMIT,
        b"\x011",
        b"\x012",
        EOF_AUTOCOMMIT,
    ];
    assert_eq!(end_of(Shape::Results, false, classic), Some(5));
    let deprecated: &[&[u8]] = &[&[1], b"coldef", b"\x011", OK_END];
    assert_eq!(end_of(Shape::Results, true, deprecated), Some(3));
    let no_rows: &[&[u8]] = &[&[2], b"c1", b"c2", EOF_AUTOCOMMIT, EOF_AUTOCOMMIT];
    assert_eq!(end_of(Shape::Results, false, no_rows), Some(4));
}

#[test]
fn multiple_results_and_errors() {
    let multi: &[&[u8]] = &[&[1], b"c", EOF_AUTOCOMMIT, b"\x011", EOF_MORE, OK_MORE, OK];
    assert_eq!(end_of(Shape::Results, false, multi), Some(6));
    assert_eq!(end_of(Shape::Results, false, &[ERR]), Some(0));
    assert_eq!(
        end_of(Shape::Results, false, &[&[1], b"c", EOF_AUTOCOMMIT, ERR]),
        Some(3)
    );
    assert_eq!(end_of(Shape::Results, false, &[OK_MORE, ERR]), Some(1));
}

#[test]
fn local_infile_waits_for_the_final_ok() {
    let mut t = Tracker::new(Shape::Results, false);
    assert_eq!(t.step(b"\xFB/tmp/x"), Event::Infile);
    assert!(!t.is_done());
    assert!(matches!(t.step(OK), Event::Status { .. }));
    assert!(t.is_done());
}

#[test]
fn rows_starting_with_fe_are_rows() {
    let mut long_row = vec![0xFE];
    long_row.extend_from_slice(&[0; 12]);
    let packets: &[&[u8]] = &[&[1], b"c", EOF_AUTOCOMMIT, &long_row, EOF_AUTOCOMMIT];
    assert_eq!(end_of(Shape::Results, false, packets), Some(4));
}

#[test]
fn prepare_answers() {
    // stmt 1, 2 columns, 1 parameter.
    let ok: &[u8] = &[0, 1, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0];
    let classic: &[&[u8]] = &[ok, b"p", EOF_AUTOCOMMIT, b"c1", b"c2", EOF_AUTOCOMMIT];
    assert_eq!(end_of(Shape::Prepare, false, classic), Some(5));
    assert_eq!(
        end_of(Shape::Prepare, true, &[ok, b"p", b"c1", b"c2"]),
        Some(3)
    );
    let none: &[u8] = &[0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(end_of(Shape::Prepare, false, &[none]), Some(0));
    assert_eq!(end_of(Shape::Prepare, false, &[ERR]), Some(0));
}

#[test]
fn cursor_execute_ends_after_metadata() {
    let cursor_eof: &[u8] = &[0xFE, 0, 0, 0x42, 0];
    let packets: &[&[u8]] = &[&[1], b"c", cursor_eof];
    assert_eq!(end_of(Shape::Cursor, false, packets), Some(2));
    let deprecated: &[&[u8]] = &[&[1], b"c", &[0xFE, 0, 0, 0x42, 0, 0, 0]];
    assert_eq!(end_of(Shape::Cursor, true, deprecated), Some(2));
    let fetch: &[&[u8]] = &[b"\x00\x00row", &[0xFE, 0, 0, 0xC2, 0]];
    assert_eq!(end_of(Shape::Rows, false, fetch), Some(1));
}

#[test]
fn one_packet_commands_field_list_and_auth() {
    assert_eq!(end_of(Shape::Single, false, &[b"Uptime: 5"]), Some(0));
    assert_eq!(end_of(Shape::Single, false, &[OK]), Some(0));
    let fields: &[&[u8]] = &[b"c1", b"c2", EOF_AUTOCOMMIT];
    assert_eq!(end_of(Shape::FieldList, false, fields), Some(2));
    let auth: &[&[u8]] = &[b"\xFEclient_ed25519\0scramble", b"\x01more", OK];
    assert_eq!(end_of(Shape::Auth, false, auth), Some(2));
    assert_eq!(end_of(Shape::Stream, false, &[OK, ERR]), None);
}

#[test]
fn status_of_terminators() {
    let mut t = Tracker::new(Shape::Results, true);
    t.step(&[1]);
    t.step(b"c");
    assert_eq!(
        t.step(&[0xFE, 0, 0, 3, 0, 1, 0]),
        Event::Status {
            status: 3,
            warnings: 1
        }
    );
    for cut in 0..OK.len() {
        let mut t = Tracker::new(Shape::Results, false);
        let _ = t.step(&OK[..cut]);
    }
}
