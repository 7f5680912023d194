//! Laws of the RPC decoder and of what a call is: a generated request (each
//! parameter type drivers send, NULLs, PLP in any chunking) decodes to exactly what
//! it was built from; every truncation is an error, never a panic or a wrong call;
//! arbitrary bytes never panic; batches and unknown types are told apart; the
//! handles of `sp_execute` resolve to what was prepared; keys differ with any value.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use proptest::prelude::*;

use super::rpc::{Decoded, Proc, Rpc, decode};
use super::rpc_call::{Call, Handles, Prepared, call};
use super::rpc_sql::for_classifier;
use super::types::to_utf16;

const COLL: [u8; 5] = [9, 4, 0xD0, 0, 0x34];

/// A generated parameter: its type bytes and its value as it goes on the wire.
#[derive(Debug, Clone)]
struct P {
    name: String,
    status: u8,
    ti: Vec<u8>,
    /// The value's wire bytes (length prefix included).
    wire: Vec<u8>,
    value: Option<Vec<u8>>,
}

fn p(name: &str, status: u8, ti: Vec<u8>, wire: Vec<u8>, value: Option<Vec<u8>>) -> P {
    P {
        name: name.into(),
        status,
        ti,
        wire,
        value,
    }
}

fn byte_len(v: &[u8]) -> Vec<u8> {
    let mut w = vec![v.len() as u8];
    w.extend_from_slice(v);
    w
}

fn plp(v: &[u8], chunk: usize) -> Vec<u8> {
    let mut w = (v.len() as u64).to_le_bytes().to_vec();
    for c in v.chunks(chunk.max(1)) {
        w.extend_from_slice(&(c.len() as u32).to_le_bytes());
        w.extend_from_slice(c);
    }
    w.extend_from_slice(&[0, 0, 0, 0]);
    w
}

fn nvarchar(name: &str, text: &str) -> P {
    let v = to_utf16(text);
    let mut ti = vec![0xE7, 0xA0, 0x0F];
    ti.extend_from_slice(&COLL);
    let mut w = (v.len() as u16).to_le_bytes().to_vec();
    w.extend_from_slice(&v);
    p(name, 0, ti, w, Some(v))
}

fn int4(name: &str, n: i32, status: u8) -> P {
    let v = n.to_le_bytes().to_vec();
    p(name, status, vec![0x26, 4], byte_len(&v), Some(v))
}

fn param() -> impl Strategy<Value = P> {
    let bytes = prop::collection::vec(any::<u8>(), 0..40);
    prop_oneof![
        (any::<i64>(), prop::sample::select(vec![1usize, 2, 4, 8])).prop_map(|(n, w)| {
            let v = n.to_le_bytes()[..w].to_vec();
            p("@i", 0, vec![0x26, w as u8], byte_len(&v), Some(v))
        }),
        Just(p("@null", 0, vec![0x26, 4], vec![0], None)),
        any::<bool>().prop_map(|b| p(
            "@b",
            0,
            vec![0x68, 1],
            vec![1, b as u8],
            Some(vec![b as u8])
        )),
        any::<f64>().prop_map(|f| {
            let v = f.to_le_bytes().to_vec();
            p("@f", 0, vec![0x6D, 8], byte_len(&v), Some(v))
        }),
        prop::collection::vec(any::<u8>(), 5..=5).prop_map(|v| p(
            "@d",
            0,
            vec![0x6C, 5, 10, 2],
            byte_len(&v),
            Some(v)
        )),
        prop::collection::vec(any::<u8>(), 3..=3).prop_map(|v| p(
            "",
            0,
            vec![0x28],
            byte_len(&v),
            Some(v)
        )),
        (0u8..=7, prop::collection::vec(any::<u8>(), 6..=8)).prop_map(|(s, v)| p(
            "@t",
            0,
            vec![0x2A, s],
            byte_len(&v),
            Some(v)
        )),
        prop::collection::vec(any::<u8>(), 16..=16).prop_map(|v| p(
            "@g",
            0,
            vec![0x24, 16],
            byte_len(&v),
            Some(v)
        )),
        "[a-z @']{0,30}".prop_map(|s| nvarchar("@s", &s)),
        (bytes.clone(), 1usize..9).prop_map(|(v, c)| {
            let mut ti = vec![0xE7, 0xFF, 0xFF];
            ti.extend_from_slice(&COLL);
            p("@max", 0, ti, plp(&v, c), Some(v))
        }),
        bytes.clone().prop_map(|v| {
            let mut w = (v.len() as u16).to_le_bytes().to_vec();
            w.extend_from_slice(&v);
            p("@vb", 0, vec![0xA5, 0x40, 0x1F], w, Some(v))
        }),
        Just(p(
            "@vbnull",
            0,
            vec![0xA5, 0xFF, 0xFF],
            u64::MAX.to_le_bytes().to_vec(),
            None
        )),
    ]
}

fn encode(headers: bool, txn: u64, proc: Result<u16, &str>, options: u16, params: &[P]) -> Vec<u8> {
    let mut out = BytesMut::new();
    if headers {
        out.put_u32_le(22);
        out.put_u32_le(18);
        out.put_u16_le(2);
        out.put_u64_le(txn);
        out.put_u32_le(1);
    }
    match proc {
        Ok(id) => {
            out.put_u16_le(0xFFFF);
            out.put_u16_le(id);
        }
        Err(name) => {
            out.put_u16_le(name.encode_utf16().count() as u16);
            out.put_slice(&to_utf16(name));
        }
    }
    out.put_u16_le(options);
    for q in params {
        out.put_u8(q.name.encode_utf16().count() as u8);
        out.put_slice(&to_utf16(&q.name));
        out.put_u8(q.status);
        out.put_slice(&q.ti);
        out.put_slice(&q.wire);
    }
    out.to_vec()
}

fn one(payload: &[u8]) -> Rpc<'_> {
    match decode(payload, true) {
        Ok(Decoded::One(r)) => r,
        other => panic!("{other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn generated_requests_decode_to_what_they_were_built_from(
        params in prop::collection::vec(param(), 0..6),
        txn in any::<u64>(),
        options in any::<u16>(),
    ) {
        let wire = encode(true, txn, Ok(10), options, &params);
        let r = one(&wire);
        prop_assert_eq!(r.txn, txn);
        prop_assert_eq!(r.proc, Proc::Id(10));
        prop_assert_eq!(r.options, options);
        prop_assert_eq!(r.params.len(), params.len());
        for (got, want) in r.params.iter().zip(&params) {
            prop_assert_eq!(got.name, &to_utf16(&want.name)[..]);
            prop_assert_eq!(got.status, want.status);
            prop_assert_eq!(got.type_info, &want.ti[..]);
            prop_assert_eq!(got.value.joined(), want.value.clone());
        }
        for cut in 0..wire.len() {
            // A truncated request never decodes as the whole one.
            if let Ok(Decoded::One(t)) = decode(&wire[..cut], true) {
                prop_assert!(t.params.len() < params.len() || params.is_empty() && cut >= wire.len());
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..400)) {
        for headers in [true, false] {
            if let Ok(Decoded::One(r)) = decode(&data, headers) {
                let _ = call(&r, &Handles::default());
            }
        }
    }

    #[test]
    fn the_classifier_text_changes_only_declared_parameters(text in "[@a-zP1'\\[\\]\\-/* ü\n]{0,40}") {
        prop_assert_eq!(for_classifier(&text, &[]), text.clone());
        // With a declared name: no panic, and nothing but names replaced, so the text
        // without any `@` is unchanged.
        let names = vec!["@p1".to_string()];
        let out = for_classifier(&text, &names);
        if !text.contains('@') {
            prop_assert_eq!(out, text);
        }
    }

    #[test]
    fn a_changed_value_is_a_different_key(a in any::<i32>(), b in any::<i32>()) {
        let req = |n| encode(true, 0, Ok(10), 0, &[
            nvarchar("@stmt", "SELECT name FROM t WHERE id = @P1"),
            nvarchar("@params", "@P1 int"),
            int4("@P1", n, 0),
        ]);
        let (wa, wb) = (req(a), req(b));
        let key = |w: &[u8]| match call(&one(w), &Handles::default()) {
            Call::Run(r) => { assert_eq!(r.sql, "SELECT name FROM t WHERE id = 0"); assert!(r.uncacheable.is_none()); r.key }
            other => panic!("{other:?}"),
        };
        prop_assert_eq!(key(&wa) == key(&wb), a == b);
    }
}

#[test]
fn batches_unknown_types_and_encrypted_parameters_are_told_apart() {
    let mut wire = encode(true, 0, Ok(10), 0, &[nvarchar("", "SELECT 1")]);
    let single = wire.clone();
    wire.push(0xFF);
    wire.extend_from_slice(&single[22..]);
    assert_eq!(decode(&wire, true), Ok(Decoded::Batch));
    let xml = p("@x", 0, vec![0xF1, 0], plp(b"<a/>", 2), None);
    let w = encode(true, 0, Ok(10), 0, &[xml]);
    assert!(matches!(decode(&w, true), Ok(Decoded::Unsupported(_))));
    let enc = int4("@e", 1, 0x08);
    let w = encode(true, 0, Ok(10), 0, &[enc]);
    assert!(matches!(decode(&w, true), Ok(Decoded::Unsupported(_))));
    // TDS 7.1: no ALL_HEADERS.
    let w = encode(false, 0, Err("dbo.proc"), 0, &[int4("", 3, 0)]);
    let Ok(Decoded::One(r)) = decode(&w, false) else {
        panic!()
    };
    assert_eq!(
        call(&r, &Handles::default()),
        Call::Procedure("EXEC dbo.proc".into())
    );
}

#[test]
fn more_parameters_than_sql_server_takes_are_relayed_undecoded() {
    let tiny = p("", 0, vec![0x28], vec![0], None);
    let w = encode(true, 0, Ok(10), 0, &vec![tiny.clone(); 2_110]);
    assert!(matches!(decode(&w, true), Ok(Decoded::One(_))));
    let w = encode(true, 0, Ok(10), 0, &vec![tiny; 100_000]);
    assert!(matches!(decode(&w, true), Ok(Decoded::Unsupported(_))));
}

#[test]
fn hostile_lengths_are_errors() {
    // ALL_HEADERS claiming more than there is, or less than itself.
    assert!(decode(&[0xFF, 0xFF, 0, 0, 1, 2], true).is_err());
    assert!(decode(&[2, 0, 0, 0, 0xFF, 0xFF, 10, 0, 0, 0], true).is_err());
    // A PLP total larger than the request; chunks differing from their total.
    let mut ti = vec![0xE7, 0xFF, 0xFF];
    ti.extend_from_slice(&COLL);
    let big: u64 = 1 << 40;
    let w = encode(
        true,
        0,
        Ok(10),
        0,
        &[p("", 0, ti.clone(), big.to_le_bytes().to_vec(), None)],
    );
    assert!(decode(&w, true).is_err());
    let mut lie = 10u64.to_le_bytes().to_vec();
    lie.extend_from_slice(&[2, 0, 0, 0, b'a', 0, 0, 0, 0, 0]);
    let w = encode(true, 0, Ok(10), 0, &[p("", 0, ti, lie, None)]);
    assert!(decode(&w, true).is_err());
    // An INTN of a width it cannot have.
    let w = encode(
        true,
        0,
        Ok(10),
        0,
        &[p("", 0, vec![0x26, 3], vec![3, 1, 2, 3], None)],
    );
    assert!(decode(&w, true).is_err());
}

#[test]
fn prepared_handles_resolve_to_their_statement() {
    let prep = encode(
        true,
        0,
        Ok(11),
        0,
        &[
            int4("@handle", 0, 1),
            nvarchar("@params", "@P1 int"),
            nvarchar("@stmt", "SELECT name FROM t WHERE id = @P1"),
        ],
    );
    let Call::Prepare {
        prepared,
        run: None,
    } = call(&one(&prep), &Handles::default())
    else {
        panic!()
    };
    assert_eq!(prepared.sql, "SELECT name FROM t WHERE id = 0");
    let mut handles = Handles::default();
    handles.insert(7, prepared.clone());
    let exec = |h, n| encode(true, 0, Ok(12), 0, &[int4("", h, 0), int4("", n, 0)]);
    let Call::Run(a) = call(&one(&exec(7, 1)), &handles) else {
        panic!()
    };
    let Call::Run(b) = call(&one(&exec(7, 2)), &handles) else {
        panic!()
    };
    assert_ne!(a.key, b.key);
    assert_eq!(a.sql, prepared.sql);
    assert_eq!(call(&one(&exec(8, 1)), &handles), Call::Unknown);
    let unprep = encode(true, 0, Err("sp_unprepare"), 0, &[int4("", 7, 0)]);
    assert_eq!(call(&one(&unprep), &handles), Call::Unprepare(7));
    // An OUTPUT parameter in the declarations: never cached.
    let out = Arc::new(Prepared {
        stmt: vec![],
        decl: vec![],
        sql: String::new(),
        uncacheable: None,
    });
    handles.insert(9, out);
    let with_output = encode(
        true,
        0,
        Ok(10),
        0,
        &[
            nvarchar("", "SELECT @n = count(*) FROM t"),
            nvarchar("", "@n int OUTPUT"),
            int4("@n", 0, 1),
        ],
    );
    let Call::Run(r) = call(&one(&with_output), &handles) else {
        panic!()
    };
    assert!(r.uncacheable.is_some());
}

/// A prepare's answer (RETURNSTATUS, the handle's RETURNVALUE, DONEPROC), fed in
/// pieces of every size: the scanner keeps the handle and counts the status.
#[test]
fn the_scanner_keeps_a_returned_handle() {
    let mut a = vec![0x79, 0, 0, 0, 0, 0xAC, 0, 0, 2];
    a.extend_from_slice(&to_utf16("@h"));
    a.extend_from_slice(&[1, 0, 0, 0, 0, 9, 0, 0x26, 4, 4]);
    a.extend_from_slice(&4242i32.to_le_bytes());
    a.extend_from_slice(&[0xFE, 0, 0, 0xE0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    for step in 1..=a.len() {
        let mut s = super::tokens::Scanner::default();
        for piece in a.chunks(step) {
            s.feed(piece).unwrap();
        }
        assert!(s.at_boundary());
        assert_eq!(s.summary.returned_int, Some(4242));
        assert_eq!(
            (s.summary.statuses, s.summary.extras, s.summary.dones),
            (1, 2, 1)
        );
    }
}
