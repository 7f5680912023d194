//! Fuzzing entry points for the MySQL decoders, one per protocol state: the
//! greeting, the handshake response (and COM_CHANGE_USER), the auth-switch round,
//! commands, and the answers the response tracker follows (text and binary result
//! sets, prepare answers, field lists). Each takes arbitrary bytes, runs every decoder
//! the proxy applies in that state, and checks the laws that must hold on the way. A
//! panic is a finding. Built for unit tests and the `fuzzing` feature (`fuzz/`).

use std::hint::black_box;

use bytes::BytesMut;

use super::catalog::columns;
use super::codec::{self, Packet, Reader};
use super::command::{COM_CHANGE_USER, COM_PROCESS_KILL, COM_QUERY, COM_STMT_EXECUTE};
use super::handshake::{
    CLIENT_CONNECT_WITH_DB, CLIENT_DEPRECATE_EOF, CLIENT_SECURE_CONNECTION, Greeting, Response,
};
use super::prepared::parse_execute;
use super::relay::replay;
use super::response::{Event, Shape, Tracker, eof_status, ok_status};
use super::startup::ask_for_switch;
use super::tls::{is_ssl_request, password_ask};

/// Every shape of answer the tracker follows.
pub const SHAPES: [Shape; 8] = [
    Shape::Results,
    Shape::Cursor,
    Shape::Rows,
    Shape::Prepare,
    Shape::FieldList,
    Shape::Single,
    Shape::Auth,
    Shape::Stream,
];

/// Packets of `data` fed whole and again in pieces of `chunk` bytes: both must agree.
pub fn packets(data: &[u8], chunk: usize) -> Vec<Packet> {
    let whole = packet_pieces(data, data.len().max(1));
    let pieces = packet_pieces(data, chunk.max(1));
    assert_eq!(whole, pieces, "framing depends on how the bytes arrive");
    whole
}

fn packet_pieces(data: &[u8], chunk: usize) -> Vec<Packet> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Ok(Some(p)) = codec::decode(&mut buf) {
            out.push(p);
        }
    }
    out
}

/// The origin's greeting; one with a standard 20-byte scramble round-trips.
pub fn greeting(data: &[u8]) {
    let Some(g) = Greeting::parse(data) else {
        return;
    };
    let built = g.build(false);
    let again = Greeting::parse(&built);
    if g.scramble.len() == 20 && g.capabilities & CLIENT_SECURE_CONNECTION != 0 {
        let again = again.as_ref().map(|a| a.build(false));
        assert_eq!(again.as_ref(), Some(&built), "greeting does not round-trip");
    }
    black_box(g.build(true));
}

/// What parsing `r.build()` gives back: an empty database when one is announced.
pub fn normalized(r: &Response) -> Response {
    let mut r = r.clone();
    if r.capabilities & CLIENT_CONNECT_WITH_DB != 0 && r.database.is_none() {
        r.database = Some(Vec::new());
    }
    r
}

/// The client's HandshakeResponse (or SSLRequest); a parsed one round-trips.
pub fn handshake_response(data: &[u8]) {
    black_box(is_ssl_request(data));
    let Some(r) = Response::parse(data) else {
        return;
    };
    assert_eq!(
        Response::parse(&r.build()),
        Some(normalized(&r)),
        "handshake response does not round-trip"
    );
    let mut switched = r.clone();
    ask_for_switch(&mut switched);
    black_box(Response::parse(&switched.build()));
}

/// COM_CHANGE_USER's body under a few negotiated capability sets.
pub fn change_user(data: &[u8], caps: u32) {
    let caps = caps | CLIENT_SECURE_CONNECTION;
    if let Some(r) = Response::parse_change_user(data, caps) {
        let built = r.build_change_user();
        let again = built
            .get(1..)
            .and_then(|b| Response::parse_change_user(b, caps));
        assert_eq!(again, Some(r), "COM_CHANGE_USER does not round-trip");
    }
}

/// An origin's packets during the auth-switch / more-data rounds.
pub fn auth_switch(data: &[u8]) {
    let chunk = usize::from(data.first().copied().unwrap_or(1));
    let mut tracker = Tracker::new(Shape::Auth, false);
    for p in packets(data, chunk) {
        black_box(password_ask(p.payload()));
        black_box(tracker.step(p.payload()));
    }
}

/// A client's command packets.
pub fn command(data: &[u8]) {
    let chunk = usize::from(data.first().copied().unwrap_or(1));
    for p in packets(data, chunk) {
        let Some((&cmd, body)) = p.payload().split_first() else {
            continue;
        };
        match cmd {
            COM_QUERY => {
                black_box(super::kill::parse(body));
            }
            COM_STMT_EXECUTE => {
                for params in [0, 1, 2, 9, u16::from(p.seq())] {
                    black_box(parse_execute(body, params));
                }
            }
            COM_CHANGE_USER => change_user(body, u32::from(p.seq()) << 16),
            COM_PROCESS_KILL => {
                black_box(Reader::new(body).u32());
            }
            _ => {}
        }
    }
}

/// An answer in one of the tracker's shapes (the first byte picks the shape and
/// CLIENT_DEPRECATE_EOF): text and binary rows, definitions, terminators. The packets
/// are also replayed as a stored answer, which keeps every packet's length.
pub fn answer(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let shape = SHAPES
        .get(usize::from(pick % 8))
        .copied()
        .unwrap_or(Shape::Results);
    let deprecate_eof = pick & 0x08 != 0;
    let mut tracker = Tracker::new(shape, deprecate_eof);
    for p in packets(rest, usize::from(pick >> 4) + 1) {
        let payload = p.payload();
        if tracker.in_rows() {
            black_box(columns(payload));
        }
        if let Event::Status { .. } = tracker.step(payload) {
            black_box((ok_status(payload), eof_status(payload)));
        }
    }
    let caps = if deprecate_eof {
        CLIENT_DEPRECATE_EOF
    } else {
        0
    };
    let replayed = replay(rest, u16::from(pick), caps);
    assert_eq!(
        replayed.len(),
        rest.len(),
        "replay changed the answer's length"
    );
}
