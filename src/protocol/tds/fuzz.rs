//! Fuzzing entry points for the TDS decoders, one per thing a peer's bytes go through:
//! packets assembled into messages, PRELOGIN (its options, and the packets a TLS
//! handshake travels in), LOGIN7 (parsed and rewritten), the token scanner that
//! finds the end of an origin's answer, and RPC requests (decoded and judged) and
//! SQLBatch headers. Each takes arbitrary bytes, runs what the proxy runs in that
//! state, and checks the laws that must hold on the way (framing does not depend on
//! how the bytes arrive; what is built parses back). A panic is a finding. Built for
//! unit tests and the `fuzzing` feature (`fuzz/`).

use std::hint::black_box;

use bytes::BytesMut;

use super::codec::{self, Assembler, Message};
use super::login::Login;
use super::prelogin;
use super::rpc::{self, Decoded};
use super::rpc_call::{Handles, call};
use super::rpc_sql::{declared, for_classifier, text};
use super::session::batch_text;
use super::tls_io::Unframer;
use super::tokens::{MAX_TOKEN, Scanner};
use crate::protocol::Side;

/// The largest message the entry points assemble.
const MAX_MESSAGE: usize = 1 << 20;

/// TDS 7.4 and 7.1: DONE counts of eight and of four bytes.
const VERSIONS: [u32; 2] = [0x7400_0004, 0x7100_0001];

/// Messages of `data` fed whole and again in pieces of `chunk` bytes: both must agree
/// (the same messages, or an error at the same message).
pub fn messages(data: &[u8], chunk: usize, side: Side) -> Vec<Message> {
    let whole = message_pieces(data, data.len().max(1), side);
    let pieces = message_pieces(data, chunk.max(1), side);
    assert_eq!(whole, pieces, "framing depends on how the bytes arrive");
    whole.0
}

fn message_pieces(data: &[u8], chunk: usize, side: Side) -> (Vec<Message>, bool) {
    let mut asm = Assembler::new(side, MAX_MESSAGE);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match asm.next(&mut buf) {
                Ok(Some(m)) => out.push(m),
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

/// Packets from either side: assembled (whole and in pieces, which must agree); each
/// message's payload, sent again in packets of another size, assembles back.
pub fn packets(data: &[u8]) {
    let chunk = usize::from(data.first().copied().unwrap_or(1));
    for side in [Side::Client, Side::Origin] {
        for m in messages(data, chunk, side) {
            let size = 512 + usize::from(m.payload.first().copied().unwrap_or(0)) * 7;
            let again = codec::message(m.kind, &m.payload, size);
            let mut buf = BytesMut::from(&again[..]);
            let back = Assembler::new(side, MAX_MESSAGE).next(&mut buf);
            let back = back.ok().flatten().map(|b| (b.kind, b.payload));
            assert_eq!(
                back,
                Some((m.kind, m.payload.clone())),
                "re-sent message differs"
            );
        }
    }
}

/// A PRELOGIN payload: its options and ENCRYPTION; options built again parse back.
/// The same bytes as the packets of a TLS handshake, unwrapped in pieces.
pub fn prelogin(data: &[u8]) {
    black_box(prelogin::encryption(data));
    if let Some(opts) = prelogin::options(data) {
        let total = opts.len() * 5 + 1 + opts.iter().map(|(_, d)| d.len()).sum::<usize>();
        if total <= usize::from(u16::MAX) {
            let built = prelogin::build(&opts);
            assert_eq!(
                prelogin::options(&built),
                Some(opts),
                "PRELOGIN does not round-trip"
            );
        }
    }
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut unframer = Unframer::new(&[0x12]);
    let mut raw = BytesMut::new();
    let mut out = vec![0u8; 300];
    for piece in data.chunks(chunk) {
        raw.extend_from_slice(piece);
        loop {
            match unframer.take(&mut raw, &mut out) {
                Ok(0) | Err(_) => break,
                Ok(n) => assert!(n <= out.len()),
            }
        }
    }
}

/// A LOGIN7 payload; a parsed one, given another login name, parses back with that
/// name and everything else unchanged.
pub fn login(data: &[u8]) {
    let Ok(l) = Login::parse(data) else {
        return;
    };
    for user in ["u", "a-much-longer-login-name-than-before", ""] {
        let Ok(rewritten) = l.with_user(user) else {
            continue;
        };
        let again = Login::parse(&rewritten).expect("a rewritten LOGIN7 parses");
        assert_eq!(again.user, user, "the rewritten login name");
        let same = (
            again.tds_version,
            again.packet_size,
            &again.database,
            again.options,
            again.lcid,
        );
        assert_eq!(
            same,
            (l.tds_version, l.packet_size, &l.database, l.options, l.lcid)
        );
    }
}

/// An origin's token stream (after a first byte giving the size of the pieces),
/// scanned whole and in pieces, at TDS 7.4 and 7.1: the scans must agree.
pub fn tokens(data: &[u8]) {
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    for version in VERSIONS {
        let mut whole = Scanner::for_version(version);
        let whole_ok = whole.feed(data).is_ok();
        let mut pieces = Scanner::for_version(version);
        let pieces_ok = data.chunks(chunk).all(|p| pieces.feed(p).is_ok());
        if data.len() > MAX_TOKEN {
            continue;
        }
        assert_eq!(
            whole_ok, pieces_ok,
            "the scan depends on how the bytes arrive"
        );
        if whole_ok {
            assert_eq!(whole.summary, pieces.summary, "summaries differ");
            assert_eq!(whole.at_boundary(), pieces.at_boundary());
        }
    }
}

/// An RPC payload, with and without ALL_HEADERS: decoded, judged, and each parameter
/// read as text and as an integer; and the same bytes as a SQLBatch's.
pub fn rpc(data: &[u8]) {
    for headers in [true, false] {
        black_box(batch_text(data, headers));
        let Ok(Decoded::One(r)) = rpc::decode(data, headers) else {
            continue;
        };
        black_box(call(&r, &Handles::default()));
        for p in &r.params {
            if let Some(t) = text(p) {
                let names = declared(&t).unwrap_or_default();
                black_box(for_classifier(&t, &names));
            }
            black_box(super::rpc_sql::int(p));
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::protocol::tds::codec::Kind;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
            packets(&data);
            prelogin(&data);
            login(&data);
            tokens(&data);
            rpc(&data);
        }
    }

    #[test]
    fn well_formed_inputs_keep_the_laws() {
        let hello = prelogin::request();
        prelogin(&hello);
        let wire = codec::message(Kind::PreLogin, &hello, 512);
        packets(&wire);
        prelogin(&wire);
        // A DONE (TDS 7.4), whole and one byte at a time.
        let done = [0xFD, 0, 0, 0xC1, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        tokens(&[&[1u8][..], &done].concat());
        let mut s = Scanner::for_version(VERSIONS[0]);
        s.feed(&done).unwrap();
        assert_eq!(s.summary.dones, 1);
        login(&login7("demo-app", "sales"));
        let rewritten = Login::parse(&login7("demo-app", "sales")).unwrap();
        assert_eq!(rewritten.user, "demo-app");
    }

    /// Found by `tds_login`: a login name placed inside the fixed part (or over
    /// another field) made a rewrite that no longer parsed; it is refused now.
    #[test]
    fn a_login_name_inside_the_fixed_part_is_not_rewritten() {
        let mut p = login7("", "sales");
        p[40..44].fill(0);
        assert!(Login::parse(&p).is_ok());
        login(&p);
        assert!(Login::parse(&p).unwrap().with_user("u").is_err());
        let mut p = login7("demo-app", "sales");
        p[68..70].copy_from_slice(&94u16.to_le_bytes());
        login(&p);
        assert!(Login::parse(&p).unwrap().with_user("u").is_err());
        // The input as found: zeros but for these bytes.
        let mut crash = vec![0u8; 102];
        for (at, b) in [
            (0, 0x5E),
            (9, 0x40),
            (25, 0x40),
            (28, 0x02),
            (48, 0x5E),
            (76, 0x5E),
        ] {
            crash[at] = b;
        }
        login(&crash);
        // An empty field pointing inside the old name would be left pointing past
        // the end of a shorter one.
        let mut p = login7("demo-app", "sales");
        p[78..80].copy_from_slice(&108u16.to_le_bytes());
        login(&p);
        assert!(Login::parse(&p).unwrap().with_user("u").is_err());
        // The login name inside the FeatureExt block (fourth finding, as found).
        let mut crash = vec![0u8; 178];
        for (at, b) in [
            (0, 0x76),
            (1, 0x04),
            (4, 0x04),
            (7, 0x74),
            (11, 0x10),
            (20, 0x04),
            (23, 0x74),
            (27, 0x10),
            (32, 0x04),
            (40, 0x96),
            (56, 0x5E),
            (58, 0x08),
            (72, 0x32),
            (73, 0x73),
            (76, 0x67),
            (78, 0x08),
            (90, 0xFF),
            (91, 0x07),
            (93, 0x52),
            (94, 0x6F),
            (131, 0x39),
            (151, 0xFF),
            (152, 0xFF),
            (161, 0x94),
            (162, 0x3F),
            (163, 0xFF),
            (164, 0x97),
            (165, 0x90),
            (166, 0xFF),
            (167, 0xFF),
            (175, 0x67),
            (176, 0xFF),
            (177, 0xFF),
        ] {
            crash[at] = b;
        }
        login(&crash);
        // A FeatureExt block at offset 0, in the fixed part (fifth finding, as found).
        let mut crash = vec![0u8; 553];
        for (at, b) in [
            (0, 0xFF),
            (1, 0xFF),
            (2, 0xFF),
            (3, 0x6B),
            (4, 0x04),
            (7, 0x74),
            (11, 0x10),
            (20, 0x04),
            (23, 0x74),
            (27, 0x10),
            (33, 0x04),
            (40, 0x7A),
            (56, 0x5E),
            (58, 0x08),
            (73, 0x8E),
            (76, 0x67),
            (77, 0x07),
            (78, 0xF8),
            (171, 0xFF),
            (172, 0x07),
            (173, 0x72),
            (174, 0x09),
            (176, 0x01),
            (185, 0x94),
            (186, 0xB7),
            (187, 0x3F),
            (188, 0xFF),
            (189, 0x97),
            (190, 0x90),
            (191, 0xFF),
            (192, 0x32),
            (193, 0xFF),
            (228, 0x01),
            (234, 0x01),
            (235, 0x83),
            (258, 0x67),
            (259, 0xFF),
            (260, 0xFF),
            (261, 0x56),
            (262, 0xFF),
            (263, 0xFF),
            (264, 0xFF),
            (265, 0xFF),
            (266, 0xD6),
            (274, 0xFF),
            (275, 0xFF),
            (276, 0xFF),
            (277, 0xFF),
            (278, 0xFF),
            (279, 0xFF),
            (280, 0x56),
            (284, 0x04),
            (287, 0x74),
            (289, 0x10),
            (293, 0x20),
            (304, 0x32),
            (309, 0x78),
            (319, 0x10),
            (322, 0xFF),
            (325, 0x5E),
            (521, 0xFE),
            (552, 0xFF),
        ] {
            crash[at] = b;
        }
        login(&crash);
        assert!(Login::parse(&crash).is_err());
        // The database name sharing the FeatureExt offset's bytes (sixth, as found).
        let mut crash = vec![0u8; 262];
        for (at, b) in [
            (0, 0x76),
            (1, 0x04),
            (4, 0x04),
            (7, 0x74),
            (11, 0x10),
            (13, 0x7A),
            (23, 0x74),
            (27, 0x10),
            (32, 0x04),
            (40, 0x7A),
            (42, 0x31),
            (57, 0x01),
            (58, 0x06),
            (69, 0x01),
            (70, 0x01),
            (73, 0x8E),
            (76, 0x67),
            (77, 0x07),
            (78, 0xF8),
            (90, 0xFF),
            (91, 0x07),
            (92, 0x72),
            (93, 0x09),
            (95, 0x01),
            (104, 0x94),
            (105, 0xB7),
            (106, 0x3F),
            (107, 0xFF),
            (108, 0x97),
            (109, 0x90),
            (110, 0xFF),
            (111, 0x32),
            (113, 0xFF),
            (171, 0x67),
            (172, 0xFF),
            (173, 0xFF),
            (174, 0x56),
            (175, 0xFF),
            (176, 0xFF),
            (177, 0xFF),
            (178, 0xFF),
            (179, 0xD6),
            (187, 0xFF),
            (188, 0xFF),
            (189, 0xFF),
            (190, 0xFF),
            (191, 0xFF),
            (192, 0xFF),
            (193, 0x56),
            (197, 0x04),
            (200, 0x74),
            (202, 0x10),
            (206, 0x20),
            (219, 0x01),
            (227, 0x5E),
            (229, 0x08),
            (243, 0xFF),
            (244, 0xFF),
            (245, 0xFF),
            (246, 0xFF),
            (247, 0xFF),
            (248, 0xFF),
            (249, 0xFF),
            (250, 0xFF),
            (251, 0xFF),
            (252, 0x08),
            (255, 0xFF),
            (256, 0xFF),
            (261, 0xEF),
        ] {
            crash[at] = b;
        }
        login(&crash);
        // A database name read from the fixed part (third finding): refused.
        let mut p = login7("demo-app", "sales");
        p[68..70].copy_from_slice(&0u16.to_le_bytes());
        assert!(Login::parse(&p).is_err());
    }

    /// A TDS 7.4 LOGIN7 with only a login name and a database.
    fn login7(user: &str, db: &str) -> Vec<u8> {
        let mut p = vec![0u8; 94];
        p[4..8].copy_from_slice(&0x7400_0004u32.to_le_bytes());
        p[8..12].copy_from_slice(&4096u32.to_le_bytes());
        for (off, text) in [(40, user), (68, db)] {
            let at = u16::try_from(p.len()).unwrap();
            let units = u16::try_from(text.encode_utf16().count()).unwrap();
            p[off..off + 2].copy_from_slice(&at.to_le_bytes());
            p[off + 2..off + 4].copy_from_slice(&units.to_le_bytes());
            p.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        }
        let len = u32::try_from(p.len()).unwrap();
        p[..4].copy_from_slice(&len.to_le_bytes());
        p
    }
}
/// The `tds_login` fuzz target's seven findings (bytes as found): each is now refused
/// or rewritten lawfully.
#[cfg(test)]
mod login_findings {
    const FOUND: [&[u8]; 7] = [
        include_bytes!("testdata/login7-finding-1.bin"),
        include_bytes!("testdata/login7-finding-2.bin"),
        include_bytes!("testdata/login7-finding-3.bin"),
        include_bytes!("testdata/login7-finding-4.bin"),
        include_bytes!("testdata/login7-finding-5.bin"),
        include_bytes!("testdata/login7-finding-6.bin"),
        include_bytes!("testdata/login7-finding-7.bin"),
    ];

    #[test]
    fn every_finding_keeps_the_rewrite_law() {
        for found in FOUND {
            super::login(found);
        }
    }
}
