//! Property tests of the PostgreSQL codec's laws: a stream of messages decodes to the
//! same frames fed whole, byte by byte, or split at any offset; what the proxy builds
//! parses back to what it was built from; arbitrary bytes never panic a decoder.

use bytes::{BufMut, BytesMut};
use proptest::prelude::*;

use super::catalog::columns;
use super::codec::{self, MAX_CLIENT_MESSAGE, decode_startup};
use super::errors::Side;
use super::fuzz;
use super::messages::{self, put_message};

fn message() -> impl Strategy<Value = (u8, Vec<u8>)> {
    (
        prop::sample::select(b"QPBEDCSHXdcfp1T2nDCZERSN".to_vec()),
        prop::collection::vec(any::<u8>(), 0..64),
    )
}

fn encode(msgs: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for (tag, body) in msgs {
        put_message(&mut out, *tag, body);
    }
    out.to_vec()
}

fn decode_in(chunks: &[&[u8]]) -> Vec<(u8, Vec<u8>)> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for c in chunks {
        buf.extend_from_slice(c);
        while let Some(f) = codec::decode(&mut buf, MAX_CLIENT_MESSAGE, Side::Client).unwrap() {
            out.push((f.tag(), f.body().to_vec()));
        }
    }
    assert!(buf.is_empty(), "bytes left over");
    out
}

/// A C string: no NUL inside.
fn cstr() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(1u8..=255, 0..24)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn messages_decode_alike_whole_bytewise_and_split_anywhere(
        msgs in prop::collection::vec(message(), 0..8)
    ) {
        let stream = encode(&msgs);
        prop_assert_eq!(&decode_in(&[&stream]), &msgs);
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        prop_assert_eq!(&decode_in(&bytes), &msgs);
        for i in 0..=stream.len() {
            let (a, b) = stream.split_at(i);
            prop_assert_eq!(&decode_in(&[a, b]), &msgs, "split at {}", i);
        }
    }

    #[test]
    fn startup_messages_round_trip_in_any_pieces(
        params in prop::collection::vec(("[a-z_]{1,12}", "[^\u{0}]{0,16}"), 0..6),
        split in 0usize..200,
    ) {
        let params: Vec<(String, String)> = params;
        let packet = messages::startup_message(&params);
        let split = split.min(packet.len());
        let mut buf = BytesMut::from(&packet[..split]);
        let first = decode_startup(&mut buf).unwrap();
        buf.extend_from_slice(&packet[split..]);
        let body = match first {
            Some(b) => b,
            None => decode_startup(&mut buf).unwrap().unwrap(),
        };
        prop_assert!(buf.is_empty());
        prop_assert_eq!(messages::startup_params(&body[4..]), Some(params));
    }

    #[test]
    fn extended_query_bodies_parse_back(
        name in cstr(), sql in "[^\u{0}]{0,40}", rest in prop::collection::vec(any::<u8>(), 0..16),
        portal in cstr(), limit in any::<i32>(), kind in prop::sample::select(b"SP".to_vec()),
    ) {
        let mut parse = name.clone();
        parse.push(0);
        parse.extend_from_slice(sql.as_bytes());
        parse.push(0);
        parse.extend_from_slice(&rest);
        prop_assert_eq!(messages::parse_parse(&parse), Some((&name[..], sql.as_str(), &rest[..])));
        let mut bind = portal.clone();
        bind.push(0);
        bind.extend_from_slice(&name);
        bind.push(0);
        bind.extend_from_slice(&rest);
        prop_assert_eq!(messages::parse_bind(&bind), Some((&portal[..], &name[..], &rest[..])));
        let mut exec = portal.clone();
        exec.push(0);
        exec.extend_from_slice(&limit.to_be_bytes());
        prop_assert_eq!(messages::parse_execute(&exec), Some((&portal[..], limit)));
        let mut target = vec![kind];
        target.extend_from_slice(&name);
        target.push(0);
        prop_assert_eq!(messages::parse_target(&target), Some((kind, &name[..])));
    }

    #[test]
    fn data_rows_parse_back(cols in prop::collection::vec(prop::option::of("[^\u{0}]{0,12}"), 0..8)) {
        let mut body = BytesMut::new();
        body.put_i16(cols.len() as i16);
        for c in &cols {
            match c {
                None => body.put_i32(-1),
                Some(s) => {
                    body.put_i32(s.len() as i32);
                    body.put_slice(s.as_bytes());
                }
            }
        }
        prop_assert_eq!(columns(&body), Some(cols));
    }

    #[test]
    fn errors_are_fatal_exactly_by_severity(
        severity in prop::sample::select(vec!["ERROR", "FATAL", "PANIC", "WARNING", "NOTICE"]),
        code in "[0-9A-Z]{5}", text in "[^\u{0}]{0,30}",
    ) {
        let e = messages::error_response(severity, &code, &text);
        prop_assert_eq!(messages::is_fatal(&e[5..]), matches!(severity, "FATAL" | "PANIC"));
    }

    #[test]
    fn sasl_offers_lose_only_their_plus_mechanisms(mechs in prop::collection::vec("[A-Z0-9-]{1,20}", 0..5)) {
        let mut body = 10i32.to_be_bytes().to_vec();
        for m in &mechs {
            body.extend_from_slice(m.as_bytes());
            body.push(0);
        }
        body.push(0);
        let out = messages::sasl_without_plus(&body).unwrap();
        let kept: Vec<&str> = mechs.iter().map(String::as_str).filter(|m| !m.ends_with("-PLUS")).collect();
        let mut want = 10i32.to_be_bytes().to_vec();
        for m in kept {
            want.extend_from_slice(m.as_bytes());
            want.push(0);
        }
        want.push(0);
        prop_assert_eq!(&out[5..], &want[..]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
        fuzz::startup(&data);
        fuzz::client(&data);
        fuzz::origin(&data);
    }

    #[test]
    fn mutated_valid_streams_never_panic(
        msgs in prop::collection::vec(message(), 1..6),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut stream = encode(&msgs);
        for (at, byte) in flips {
            let i = at.index(stream.len());
            stream[i] = byte;
        }
        fuzz::client(&stream);
        fuzz::origin(&stream);
    }
}
