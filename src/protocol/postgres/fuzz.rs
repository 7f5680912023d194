//! Fuzzing entry points for the PostgreSQL decoders: each takes arbitrary bytes and
//! runs every decoder the proxy applies to that input (framing, then the parser for
//! each message it looks inside), checking the framing laws on the way. A panic is a
//! finding. Built for unit tests and for the `fuzzing` feature (the `fuzz/` crate).

use std::hint::black_box;

use bytes::BytesMut;

use super::auth::Challenge;
use super::catalog::columns;
use super::codec::{self, Frame, MAX_CLIENT_MESSAGE, MAX_ORIGIN_MESSAGE};
use super::errors::Side;
use super::messages::{self, tag};
use super::session::txn_state;
use super::tls::wants_channel_binding;

/// Frames `data` fed whole, then again fed in pieces of `chunk` bytes; the two must
/// agree on every frame and on where an error (if any) stops the stream.
pub fn frames(data: &[u8], max: usize, side: Side, chunk: usize) -> Vec<Frame> {
    let (whole, whole_err) = frame_pieces(data, max, side, data.len().max(1));
    let (pieces, pieces_err) = frame_pieces(data, max, side, chunk.max(1));
    assert_eq!(whole, pieces, "framing depends on how the bytes arrive");
    assert_eq!(whole_err, pieces_err, "framing errors depend on arrival");
    whole
}

fn frame_pieces(data: &[u8], max: usize, side: Side, chunk: usize) -> (Vec<Frame>, bool) {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec::decode(&mut buf, max, side) {
                Ok(Some(f)) => out.push(f),
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

/// The untagged startup phase: SSLRequest, CancelRequest or StartupMessage packets.
pub fn startup(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(packet)) = codec::decode_startup(&mut buf) {
        let mut body = messages::Body::new(&packet);
        let code = body.i32();
        if code == Some(messages::PROTOCOL_3)
            && let Some(params) = messages::startup_params(body.rest())
        {
            let again = messages::startup_message(&params);
            assert_eq!(
                again.get(8..).and_then(messages::startup_params),
                Some(params),
                "startup parameters do not round-trip"
            );
        }
    }
}

/// Messages a client sends after startup, framed in pieces of the first byte's size.
pub fn client(data: &[u8]) {
    let chunk = usize::from(data.first().copied().unwrap_or(1));
    for frame in frames(data, MAX_CLIENT_MESSAGE, Side::Client, chunk) {
        let body = frame.body();
        match frame.tag() {
            tag::QUERY => {
                black_box(messages::Body::new(body).utf8());
            }
            tag::PARSE => {
                black_box(messages::parse_parse(body));
            }
            tag::BIND => {
                black_box(messages::parse_bind(body));
            }
            tag::EXECUTE => {
                black_box(messages::parse_execute(body));
            }
            tag::DESCRIBE | tag::CLOSE => {
                black_box(messages::parse_target(body));
            }
            b'p' => {
                black_box(wants_channel_binding(body));
            }
            _ => {}
        }
    }
}

/// Messages an origin sends, authentication included.
pub fn origin(data: &[u8]) {
    let chunk = usize::from(data.first().copied().unwrap_or(1));
    for frame in frames(data, MAX_ORIGIN_MESSAGE, Side::Origin, chunk) {
        let body = frame.body();
        match frame.tag() {
            tag::ERROR | tag::NOTICE => {
                black_box(messages::is_fatal(body));
            }
            tag::PARAMETER_STATUS => {
                black_box(messages::parse_parameter_status(body));
            }
            tag::DATA_ROW => {
                black_box(columns(body));
            }
            tag::READY_FOR_QUERY => {
                black_box(body.first().map(|s| txn_state(*s)));
            }
            b'R' => {
                for (user, cleartext) in [(None, false), (Some("u"), false), (Some("u"), true)] {
                    black_box(Challenge::of(&frame, user, cleartext).is_ok());
                }
            }
            _ => {}
        }
    }
}
