//! Property tests of the MySQL codec's laws: packets decode alike fed whole, byte by
//! byte or split at any offset; the handshake packets the proxy rebuilds parse back
//! to what they were built from; the response tracker ends a generated answer exactly
//! at its last packet (text and binary rows, multiple results, with and without
//! CLIENT_DEPRECATE_EOF); arbitrary bytes never panic a decoder in any state.

use bytes::BytesMut;
use proptest::prelude::*;

use super::catalog::columns;
use super::codec::{self, Reader, put_lenenc, put_packet};
use super::fuzz;
use super::handshake::*;
use super::response::{Event, SERVER_MORE_RESULTS_EXISTS, Shape, Tracker};

fn decode_in(chunks: &[&[u8]]) -> Vec<(u8, Vec<u8>)> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for c in chunks {
        buf.extend_from_slice(c);
        while let Some(p) = codec::decode(&mut buf).unwrap() {
            out.push((p.seq(), p.payload().to_vec()));
        }
    }
    assert!(buf.is_empty(), "bytes left over");
    out
}

fn no_nul(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(1u8..=255, 0..max)
}

fn greeting() -> impl Strategy<Value = Greeting> {
    (
        no_nul(30),
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 20..=20),
    )
        .prop_flat_map(|(v, id, s)| {
            (
                Just((v, id, s)),
                any::<u32>(),
                any::<u8>(),
                any::<u16>(),
                no_nul(24),
            )
        })
        .prop_map(
            |((server_version, connection_id, scramble), caps, charset, status, auth_plugin)| {
                Greeting {
                    server_version,
                    connection_id,
                    scramble,
                    capabilities: caps & SUPPORTED | CLIENT_SECURE_CONNECTION | CLIENT_PROTOCOL_41,
                    charset,
                    status,
                    auth_plugin,
                }
            },
        )
}

fn response() -> impl Strategy<Value = Response> {
    let caps = any::<u32>().prop_map(|c| c | CLIENT_PROTOCOL_41);
    (
        caps,
        any::<u32>(),
        any::<u8>(),
        no_nul(16),
        no_nul(40),
        no_nul(16),
        no_nul(20),
    )
        .prop_flat_map(|t| {
            (
                Just(t),
                prop::collection::vec(any::<u8>(), 0..300),
                any::<bool>(),
            )
        })
        .prop_map(
            |((capabilities, max_packet, charset, user, cstr_auth, db, plugin), raw, attrs)| {
                let lenenc = capabilities & CLIENT_PLUGIN_AUTH_LENENC != 0;
                let secure = capabilities & CLIENT_SECURE_CONNECTION != 0;
                let auth = match (lenenc, secure) {
                    (true, _) => raw.clone(),
                    (false, true) => raw.iter().copied().take(255).collect(),
                    (false, false) => cstr_auth,
                };
                let plugin_auth = capabilities & CLIENT_PLUGIN_AUTH != 0;
                let with_attrs = capabilities & CLIENT_CONNECT_ATTRS != 0 && attrs;
                Response {
                    capabilities,
                    max_packet,
                    charset,
                    user,
                    auth,
                    database: (capabilities & CLIENT_CONNECT_WITH_DB != 0).then_some(db),
                    auth_plugin: plugin_auth.then_some(plugin),
                    attrs: with_attrs.then(|| raw[..raw.len().min(40)].to_vec()),
                }
            },
        )
}

/// A generated answer to COM_QUERY or COM_STMT_EXECUTE: its packets' payloads and
/// the status flags of its final terminator.
fn answer(deprecate_eof: bool) -> impl Strategy<Value = (Vec<Vec<u8>>, u16)> {
    let result = (
        1usize..5,
        prop::collection::vec(prop::collection::vec(prop::option::of(no_nul(20)), 4), 0..5),
        any::<bool>(),
    );
    (prop::collection::vec(result, 1..4), any::<u16>()).prop_map(move |(results, status)| {
        let mut packets = Vec::new();
        let last = results.len() - 1;
        for (i, (ncols, rows, binary)) in results.into_iter().enumerate() {
            packets.push(vec![ncols as u8]);
            for _ in 0..ncols {
                packets.push(b"\x03def\x00\x00\x00\x01a\x00\x0c".to_vec());
            }
            if !deprecate_eof {
                packets.push(vec![0xFE, 0, 0, 2, 0]);
            }
            for row in rows {
                let mut p = Vec::new();
                if binary {
                    p.extend_from_slice(&[0x00, 0x00]);
                }
                for col in row.iter().take(ncols) {
                    match col {
                        None if !binary => p.push(0xFB),
                        None => {}
                        Some(v) => {
                            put_lenenc(&mut p, v.len() as u64);
                            p.extend_from_slice(v);
                        }
                    }
                }
                packets.push(p);
            }
            let more = if i < last {
                SERVER_MORE_RESULTS_EXISTS
            } else {
                0
            };
            let flags = (status & !SERVER_MORE_RESULTS_EXISTS | more).to_le_bytes();
            packets.push(if deprecate_eof {
                vec![0xFE, 0, 0, flags[0], flags[1], 0, 0]
            } else {
                vec![0xFE, 0, 0, flags[0], flags[1]]
            });
        }
        (packets, status & !SERVER_MORE_RESULTS_EXISTS)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn packets_decode_alike_whole_bytewise_and_split_anywhere(
        payloads in prop::collection::vec((any::<u8>(), prop::collection::vec(any::<u8>(), 0..80)), 0..8)
    ) {
        let mut out = BytesMut::new();
        for (seq, p) in &payloads {
            put_packet(&mut out, *seq, p);
        }
        let stream = out.to_vec();
        prop_assert_eq!(&decode_in(&[&stream]), &payloads);
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        prop_assert_eq!(&decode_in(&bytes), &payloads);
        for i in 0..=stream.len() {
            let (a, b) = stream.split_at(i);
            prop_assert_eq!(&decode_in(&[a, b]), &payloads, "split at {}", i);
        }
    }

    #[test]
    fn lenenc_integers_and_strings_round_trip(n in any::<u64>(), s in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut v = Vec::new();
        put_lenenc(&mut v, n);
        let mut r = Reader::new(&v);
        prop_assert_eq!(r.lenenc(), Some(n));
        prop_assert!(r.rest().is_empty());
        let mut v = Vec::new();
        put_lenenc(&mut v, s.len() as u64);
        v.extend_from_slice(&s);
        prop_assert_eq!(Reader::new(&v).lenenc_str(), Some(Some(&s[..])));
    }

    #[test]
    fn greetings_round_trip(g in greeting()) {
        prop_assert_eq!(Greeting::parse(&g.build(false)), Some(g.clone()));
        let tls = Greeting::parse(&g.build(true)).unwrap();
        prop_assert_eq!(tls.capabilities, g.capabilities | CLIENT_SSL);
    }

    #[test]
    fn handshake_responses_round_trip(r in response()) {
        prop_assert_eq!(Response::parse(&r.build()), Some(fuzz::normalized(&r)));
        fuzz::handshake_response(&r.build());
    }

    #[test]
    fn change_user_round_trips(r in response()) {
        let caps = r.capabilities | CLIENT_SECURE_CONNECTION;
        let mut r = Response { capabilities: caps, max_packet: 0, ..r };
        r.auth.truncate(255);
        r.database.get_or_insert_with(Vec::new);
        let built = r.build_change_user();
        prop_assert_eq!(Response::parse_change_user(&built[1..], caps), Some(r));
    }

    #[test]
    fn the_tracker_ends_an_answer_at_its_last_packet(
        (deprecate_eof, (packets, status)) in any::<bool>().prop_flat_map(|d| (Just(d), answer(d))),
    ) {
        {
            let mut t = Tracker::new(Shape::Results, deprecate_eof);
            let mut last_status = None;
            for (i, p) in packets.iter().enumerate() {
                prop_assert!(!t.is_done(), "ended early, before packet {}", i);
                if t.in_rows() && p.first() != Some(&0xFE) && p.get(..2) != Some(&[0, 0]) {
                    prop_assert!(columns(p).is_some());
                }
                if let Event::Status { status, .. } = t.step(p) {
                    last_status = Some(status);
                }
            }
            prop_assert!(t.is_done());
            prop_assert_eq!(last_status, Some(status));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_in_any_state(data in prop::collection::vec(any::<u8>(), 0..600)) {
        fuzz::greeting(&data);
        fuzz::handshake_response(&data);
        fuzz::change_user(&data, 0);
        fuzz::change_user(&data, u32::MAX);
        fuzz::auth_switch(&data);
        fuzz::command(&data);
        fuzz::answer(&data);
    }

    #[test]
    fn mutated_answers_never_panic(
        (packets, _) in answer(false),
        pick in any::<u8>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut out = BytesMut::new();
        out.extend_from_slice(&[pick]);
        for (i, p) in packets.iter().enumerate() {
            put_packet(&mut out, i as u8, p);
        }
        let mut data = out.to_vec();
        for (at, byte) in flips {
            let i = at.index(data.len());
            data[i] = byte;
        }
        fuzz::answer(&data);
    }
}
