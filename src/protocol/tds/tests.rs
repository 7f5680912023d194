//! The TDS codecs fed whole, byte by byte and split at every offset, and fed
//! hostile bytes: the token scanner over a result with every value framing, and
//! LOGIN7 parsed and rewritten.

use super::login::{Login, Refusal};
use super::tokens::{Env, Scanner};
use super::types::to_utf16;

fn b_varchar(out: &mut Vec<u8>, s: &str) {
    out.push(s.encode_utf16().count() as u8);
    out.extend(to_utf16(s));
}

/// A COLMETADATA of int, nvarchar(max), nvarchar(10), varbinary(8), bit, text; an
/// ENVCHANGE; rows (one with NULLs); a DONE with DONE_MORE; an INFO; a final DONE.
fn stream() -> Vec<u8> {
    let mut s = vec![0xE3];
    let mut env = vec![8, 8];
    env.extend(7u64.to_le_bytes());
    env.push(0);
    s.extend((env.len() as u16).to_le_bytes());
    s.extend(env);
    s.extend([0x81, 6, 0]);
    let meta: [&[u8]; 6] = [
        &[0x26, 4],
        &[0xE7, 0xFF, 0xFF, 9, 4, 0xD0, 0, 0x34],
        &[0xE7, 20, 0, 9, 4, 0xD0, 0, 0x34],
        &[0xA5, 8, 0],
        &[0x32],
        &[
            0x23, 0xFF, 0xFF, 0, 0, 9, 4, 0xD0, 0, 0x34, 1, 1, 0, b't', 0,
        ],
    ];
    for (i, m) in meta.iter().enumerate() {
        s.extend([0, 0, 0, 0, 1, 0]);
        s.extend(*m);
        b_varchar(&mut s, &format!("c{i}"));
    }
    // ROW: every column present; the PLP value in two chunks.
    s.push(0xD1);
    s.extend([4, 1, 0, 0, 0]);
    let long = to_utf16(&"é".repeat(700));
    s.extend((long.len() as u64).to_le_bytes());
    for chunk in long.chunks(900) {
        s.extend((chunk.len() as u32).to_le_bytes());
        s.extend(chunk);
    }
    s.extend(0u32.to_le_bytes());
    s.extend([4, 0, b'a', 0, b'b', 0]);
    s.extend([2, 0, 0xAB, 0xCD]);
    s.push(1);
    s.push(16);
    s.extend([0u8; 16]);
    s.extend([0u8; 8]);
    s.extend(3u32.to_le_bytes());
    s.extend(b"xyz");
    // NBCROW: columns 1, 2 and 5 NULL.
    s.push(0xD2);
    s.push(0b0010_0110);
    s.extend([4, 2, 0, 0, 0]);
    s.extend([1, 0, 0xFF]);
    s.push(0);
    s.extend([0xFD, 0x11, 0, 0xC1, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    s.push(0xAB);
    let info = [1u8, 2, 3];
    s.extend((info.len() as u16).to_le_bytes());
    s.extend(info);
    s.extend([0xFD, 0x10, 0, 0xC1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    s
}

fn scan(input: &[u8], cuts: &[usize]) -> Scanner {
    let mut sc = Scanner::default();
    let mut at = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        sc.feed(&input[at..cut]).unwrap();
        at = cut;
    }
    assert!(sc.at_boundary(), "{} cuts, {sc:?}", cuts.len());
    sc
}

#[test]
fn token_stream_whole_bytewise_and_split_everywhere() {
    let s = stream();
    let check = |sc: Scanner| {
        let sum = sc.summary;
        assert_eq!(sum.results, 1);
        assert_eq!(sum.extras, 1, "the INFO");
        assert_eq!(sum.dones, 1, "one DONE without DONE_MORE");
        assert_eq!(sum.envs, vec![Env::Begin(7)]);
        assert!(!sum.error && !sum.attention);
    };
    check(scan(&s, &[]));
    let bytewise: Vec<usize> = (1..s.len()).collect();
    check(scan(&s, &bytewise));
    for cut in 0..=s.len() {
        check(scan(&s, &[cut]));
    }
    for cut in 1..s.len() {
        let mut sc = Scanner::default();
        sc.feed(&s[..cut]).unwrap();
        assert!(
            !sc.at_boundary() || s.get(cut) == Some(&0xD1) || is_token_start(&s, cut),
            "a cut at {cut} inside a token reads as a boundary"
        );
    }
}

/// Offsets where a token starts in [`stream`] (a cut there is a boundary).
fn is_token_start(s: &[u8], cut: usize) -> bool {
    let mut sc = Scanner::default();
    sc.feed(&s[..cut]).is_ok()
        && sc.at_boundary()
        && matches!(s[cut], 0x81 | 0xD1 | 0xD2 | 0xFD | 0xAB)
}

#[test]
fn errors_and_attention_are_seen() {
    let mut s = vec![0xAA, 3, 0, 1, 2, 3];
    s.extend([0xFD, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let sc = scan(&s, &[]);
    assert!(sc.summary.error && sc.summary.attention);
}

#[test]
fn hostile_streams_never_panic_nor_buffer_without_bound() {
    let s = stream();
    for seed in 0..3000u64 {
        let mut bytes = s.clone();
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x as usize) % bytes.len();
            bytes[i] = (x >> 32) as u8;
        }
        let mut sc = Scanner::default();
        for chunk in bytes.chunks(1 + (seed as usize % 97)) {
            if sc.feed(chunk).is_err() {
                break;
            }
        }
    }
    // A declared length past the bound is refused, not buffered.
    let mut sc = Scanner::default();
    let mut huge = vec![0xE4];
    huge.extend(u32::MAX.to_le_bytes());
    assert!(sc.feed(&huge).is_err());
    // A value's data is skipped, not kept: 1 MiB of a PLP chunk costs nothing.
    let mut sc = Scanner::default();
    let mut head = vec![0x81, 1, 0, 0, 0, 0, 0, 1, 0, 0xA5, 0xFF, 0xFF, 0];
    head.extend([0xD1]);
    head.extend((1u64 << 20).to_le_bytes());
    head.extend((1u32 << 20).to_le_bytes());
    sc.feed(&head).unwrap();
    for _ in 0..256 {
        sc.feed(&[0u8; 4096]).unwrap();
    }
    sc.feed(&0u32.to_le_bytes()).unwrap();
    sc.feed(&[0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        .unwrap();
    assert!(sc.at_boundary());
}

/// A LOGIN7 with `fields` (host, user, password, app, server, extension, library,
/// language, database, sspi, attach file, change password) in order.
fn login7(user: &str, password: &[u8], db: &str, flags2: u8) -> Vec<u8> {
    login7_of(0x7400_0004, user, password, db, flags2)
}

/// The same for TDS `version`: 7.0 and 7.1 have no ChangePassword nor cbSSPILong.
fn login7_of(version: u32, user: &str, password: &[u8], db: &str, flags2: u8) -> Vec<u8> {
    let modern = version >= super::login::TDS_72;
    let fields: [Vec<u8>; 12] = [
        to_utf16("host"),
        to_utf16(user),
        password.to_vec(),
        to_utf16("app"),
        to_utf16("srv"),
        Vec::new(),
        to_utf16("lib"),
        Vec::new(),
        to_utf16(db),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    ];
    let offsets = [36, 40, 44, 48, 52, 56, 60, 64, 68, 78, 82, 86];
    let n = if modern { 12 } else { 11 };
    let mut p = vec![0u8; if modern { 94 } else { 86 }];
    p[4..8].copy_from_slice(&version.to_le_bytes());
    p[8..12].copy_from_slice(&4096u32.to_le_bytes());
    p[25] = flags2;
    for (f, off) in fields.iter().zip(offsets).take(n) {
        let at = p.len() as u16;
        let units = if off == 56 || off == 78 {
            f.len()
        } else {
            f.len() / 2
        } as u16;
        p[off..off + 2].copy_from_slice(&at.to_le_bytes());
        p[off + 2..off + 4].copy_from_slice(&units.to_le_bytes());
        p.extend(f);
    }
    let len = p.len() as u32;
    p[..4].copy_from_slice(&len.to_le_bytes());
    p
}

#[test]
fn login7_is_parsed_and_its_user_rewritten() {
    let pw = [0xB3, 0xA5, 0x92, 0xA5];
    let p = login7("shop-app", &pw, "sales", 0);
    let l = Login::parse(&p).unwrap();
    assert_eq!(
        (l.user.as_str(), l.database.as_str()),
        ("shop-app", "sales")
    );
    assert_eq!(l.packet_size, 4096);
    for user in ["app", "a-much-longer-login-name", ""] {
        let out = l.with_user(user).unwrap();
        let again = Login::parse(&out).unwrap();
        assert_eq!(again.user, user);
        assert_eq!(again.database, "sales", "offsets after the name moved");
        let at = u16::from_le_bytes([out[44], out[45]]) as usize;
        assert_eq!(
            &out[at..at + 4],
            &pw,
            "the password is carried over unchanged"
        );
        assert_eq!(
            u32::from_le_bytes(out[..4].try_into().unwrap()) as usize,
            out.len()
        );
    }
}

#[test]
fn login7_refusals_and_hostile_bytes() {
    assert_eq!(
        Login::parse(&login7("u", &[], "", 0x80)),
        Err(Refusal::Sspi)
    );
    assert_eq!(Login::parse(&[0u8; 10]), Err(Refusal::Malformed));
    let p = login7("shop-app", &[1, 2], "db", 0);
    for cut in 0..p.len() {
        let _ = Login::parse(&p[..cut]);
    }
    for i in 36..94 {
        let mut bad = p.clone();
        bad[i] = 0xFF;
        if let Ok(l) = Login::parse(&bad) {
            let _ = l.with_user("someone-else");
        }
    }
}

#[test]
fn tds_7_1_logins_and_done_tokens() {
    let p = login7_of(0x7100_0001, "shop-app", &[9, 9], "sales", 0);
    let l = Login::parse(&p).unwrap();
    assert_eq!(
        (l.user.as_str(), l.database.as_str()),
        ("shop-app", "sales")
    );
    let again = Login::parse(&l.with_user("app").unwrap()).unwrap();
    assert_eq!(
        (again.user.as_str(), again.database.as_str()),
        ("app", "sales")
    );
    // DONE with a four-byte row count, then another token.
    let mut s = vec![0xFD, 0x01, 0, 0, 0, 5, 0, 0, 0];
    s.extend([0xFD, 0, 0, 0, 0, 0, 0, 0, 0]);
    let mut sc = Scanner::for_version(0x7100_0001);
    sc.feed(&s).unwrap();
    assert!(sc.at_boundary());
    assert_eq!(sc.summary.dones, 1);
    let mut wide = Scanner::default();
    let misread = wide.feed(&s).is_err() || !wide.at_boundary();
    assert!(
        misread,
        "read as 7.2+, the same bytes are not two DONE tokens"
    );
}

#[test]
fn tds_7_1_column_metadata_has_two_byte_user_types() {
    // COLMETADATA of one INTN column "id" with a two-byte user type, a row, a DONE.
    let mut s = vec![0x81, 1, 0, 0, 0, 0x01, 0, 0x26, 4, 2, b'i', 0, b'd', 0];
    s.extend([0xD1, 4, 7, 0, 0, 0]);
    s.extend([0xFD, 0x10, 0, 0xC1, 0, 1, 0, 0, 0]);
    let mut narrow = Scanner::for_version(0x7100_0001);
    narrow.feed(&s).unwrap();
    assert!(narrow.at_boundary());
    assert_eq!((narrow.summary.rows, narrow.summary.dones), (1, 1));
    let mut wide = Scanner::for_version(0x7400_0004);
    let misread = wide.feed(&s).is_err() || !wide.at_boundary() || wide.summary.dones != 1;
    assert!(misread, "read as 7.2+, the user type swallows the flags");
}

#[test]
fn errors_are_written_as_wide_as_the_client_version_has_them() {
    for (version, line, done) in [(0x7100_0001, 2, 9), (0x7400_0004, 4, 13)] {
        let e = crate::protocol::SessionError::UnknownCache("no cache".into());
        let wire = super::errors::to_wire(&e, true, version).unwrap();
        let tokens = &wire[8..];
        assert_eq!(tokens[0], 0xAA);
        let body = usize::from(u16::from_le_bytes([tokens[1], tokens[2]]));
        // number, state, class, message, server "wirecache", procedure "", line.
        let msg = format!("wirecache: {e}").encode_utf16().count() * 2;
        assert_eq!(body, 4 + 1 + 1 + 2 + msg + 1 + 18 + 1 + line, "{version:x}");
        assert_eq!(tokens.len(), 3 + body + done, "{version:x}");
        assert_eq!(tokens[3 + body], 0xFD);
    }
}
