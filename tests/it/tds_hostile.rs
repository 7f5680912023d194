//! Randomized and hostile checks of the TDS path: wirecache's token scanner against
//! the test origin's own encoder (written apart) on random results split at random
//! points; and clients sending bytes that are not TDS, which must close their own
//! connection and nothing else.

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wirecache::protocol::tds::tokens::Scanner;

use crate::common::PgOrigin;
use crate::common::proxy::{Protocol, Proxy};
use crate::common::tds_origin::{TdsOrigin, USER, database};
use crate::common::tds_wire::{self as wire, ColType, Value};

/// A small xorshift generator: reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_result(rng: &mut Rng) -> (Vec<u8>, u32) {
    let ncols = 1 + rng.below(9) as usize;
    let types: Vec<ColType> = (0..ncols)
        .map(|_| match rng.below(3) {
            0 => ColType::Int4,
            1 => ColType::Int8,
            _ => ColType::Text,
        })
        .collect();
    let cols: Vec<(String, ColType)> = types
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("col{i}"), *t))
        .collect();
    let mut out = BytesMut::new();
    let results = 1 + rng.below(3) as u32;
    for r in 0..results {
        wire::col_metadata(&mut out, true, &cols);
        let nrows = rng.below(20);
        for _ in 0..nrows {
            let values: Vec<Value> = types
                .iter()
                .map(|t| match (rng.below(5), t) {
                    (0, _) => Value::Null,
                    (_, ColType::Text) => Value::Text("ü".repeat(rng.below(1500) as usize)),
                    _ => Value::Int(rng.next() as i32 as i64),
                })
                .collect();
            wire::row(&mut out, &types, &values);
        }
        let more = if r + 1 < results { wire::DONE_MORE } else { 0 };
        wire::done(&mut out, true, 0xFD, more | wire::DONE_COUNT, nrows);
    }
    (out.to_vec(), results)
}

#[test]
fn the_scanner_follows_random_results_split_anywhere() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    for _ in 0..100 {
        let (stream, results) = random_result(&mut rng);
        let mut sc = Scanner::default();
        let mut at = 0;
        while at < stream.len() {
            let step = 1 + rng.below(5000) as usize;
            let end = (at + step).min(stream.len());
            sc.feed(&stream[at..end]).unwrap();
            at = end;
        }
        assert!(sc.at_boundary());
        assert_eq!(sc.summary.results, results);
        assert_eq!(sc.summary.dones, 1);
        assert!(!sc.summary.error);
    }
}

#[tokio::test]
async fn a_client_sending_garbage_loses_only_its_own_connection() {
    let db = database();
    let origin = TdsOrigin::start(PgOrigin::shared().port).await;
    let proxy = Proxy::builder()
        .cache("sq", Protocol::MsSql, origin.port())
        .start()
        .await;
    let addr = proxy.addr(Protocol::MsSql);
    let garbage: [&[u8]; 4] = [
        &[0x12, 0x01, 0x00, 0x03, 0, 0, 0, 0],
        &[
            0x12, 0x01, 0x00, 0x10, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0,
        ],
        &[0x10, 0x01, 0x00, 0x0C, 0, 0, 0, 0, 1, 2, 3, 4],
        b"GET / HTTP/1.1\r\n\r\n",
    ];
    for g in garbage {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(g).await.unwrap();
        let _ = s.shutdown().await;
        let mut buf = Vec::new();
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut buf));
        assert!(
            read.await.is_ok(),
            "{g:?}: the connection is closed, not left hanging"
        );
    }
    assert_eq!(origin.logins(), 0);
    // Others are still served.
    let mut config = tiberius::Config::new();
    config.host("127.0.0.1");
    config.port(addr.port());
    config.database(&db);
    config.authentication(tiberius::AuthMethod::sql_server(
        format!("sq-{USER}"),
        crate::common::pg::password_for(USER),
    ));
    config.encryption(tiberius::EncryptionLevel::NotSupported);
    let tcp = TcpStream::connect(addr).await.unwrap();
    use tokio_util::compat::TokioAsyncWriteCompatExt;
    let mut c = tiberius::Client::connect(config, tcp.compat_write())
        .await
        .unwrap();
    let rows = c
        .simple_query("SELECT id, name FROM t WHERE id = 1")
        .await
        .unwrap()
        .into_first_result()
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
}

/// A LOGIN7 payload for `user` / `password` on `db` (TDS 7.4, packet size 4096).
pub(crate) fn login7(user: &str, password: &str, db: &str) -> Vec<u8> {
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let pw: Vec<u8> = utf16(password)
        .into_iter()
        .map(|b| b.rotate_left(4) ^ 0xA5)
        .collect();
    let fields: [(usize, Vec<u8>, bool); 9] = [
        (36, utf16("host"), true),
        (40, utf16(user), true),
        (44, pw, true),
        (48, utf16("raw"), true),
        (52, utf16("srv"), true),
        (60, utf16("raw-test"), true),
        (68, utf16(db), true),
        (56, Vec::new(), false),
        (78, Vec::new(), false),
    ];
    let mut p = vec![0u8; 94];
    p[4..8].copy_from_slice(&0x7400_0004u32.to_le_bytes());
    p[8..12].copy_from_slice(&4096u32.to_le_bytes());
    for off in [64, 82, 86] {
        p[off..off + 2].copy_from_slice(&94u16.to_le_bytes());
    }
    for (off, data, units) in fields {
        let at = p.len() as u16;
        let n = if units { data.len() / 2 } else { data.len() } as u16;
        p[off..off + 2].copy_from_slice(&at.to_le_bytes());
        p[off + 2..off + 4].copy_from_slice(&n.to_le_bytes());
        p.extend(data);
    }
    let len = p.len() as u32;
    p[..4].copy_from_slice(&len.to_le_bytes());
    p
}

pub(crate) fn batch(sql: &str) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend(22u32.to_le_bytes());
    p.extend(18u32.to_le_bytes());
    p.extend(2u16.to_le_bytes());
    p.extend(0u64.to_le_bytes());
    p.extend(1u32.to_le_bytes());
    p.extend(sql.encode_utf16().flat_map(u16::to_le_bytes));
    p
}

/// Reads one whole message and scans it as a token stream.
async fn answer(s: &mut TcpStream, buf: &mut BytesMut) -> Scanner {
    let m = raw_answer(s, buf).await;
    let mut sc = Scanner::default();
    if let Err(e) = sc.feed(&m.payload) {
        panic!(
            "{e}: {:?} {:?}",
            m.kind,
            &m.payload[..m.payload.len().min(64)]
        );
    }
    assert!(sc.at_boundary());
    sc
}

async fn raw_answer(
    s: &mut TcpStream,
    buf: &mut BytesMut,
) -> wirecache::protocol::tds::codec::Message {
    use wirecache::protocol::Side;
    use wirecache::protocol::tds::codec::Assembler;
    let mut asm = Assembler::new(Side::Origin, 1 << 24);
    loop {
        if let Some(m) = asm.next(buf).unwrap() {
            return m;
        }
        assert!(s.read_buf(buf).await.unwrap() > 0, "closed");
    }
}

#[tokio::test]
async fn an_attention_is_acknowledged_and_the_session_stays_in_step() {
    use wirecache::protocol::tds::codec::{Kind, message};
    let db = database();
    let origin = TdsOrigin::start(PgOrigin::shared().port).await;
    let proxy = Proxy::builder()
        .cache("sq", Protocol::MsSql, origin.port())
        .start()
        .await;
    let mut s = TcpStream::connect(proxy.addr(Protocol::MsSql))
        .await
        .unwrap();
    let mut buf = BytesMut::new();
    let hello = wirecache::protocol::tds::prelogin::request();
    s.write_all(&message(Kind::PreLogin, &hello, 4096))
        .await
        .unwrap();
    raw_answer(&mut s, &mut buf).await;
    let pw = crate::common::pg::password_for(USER);
    let l = login7(&format!("sq-{USER}"), &pw, &db);
    s.write_all(&message(Kind::Login7, &l, 4096)).await.unwrap();
    assert!(answer(&mut s, &mut buf).await.summary.login_ack);
    // A request and its cancel in one write: its answer, then the acknowledgement.
    let mut both = message(Kind::SqlBatch, &batch("SELECT id, name FROM t"), 4096).to_vec();
    both.extend_from_slice(&message(Kind::Attention, &[], 4096));
    s.write_all(&both).await.unwrap();
    let mut acknowledged = false;
    for _ in 0..2 {
        let sc = answer(&mut s, &mut buf).await;
        acknowledged |= sc.summary.attention;
        if acknowledged {
            break;
        }
    }
    assert!(acknowledged, "the Attention was acknowledged");
    for _ in 0..2 {
        let q = batch("SELECT id, name FROM t WHERE id = 2");
        s.write_all(&message(Kind::SqlBatch, &q, 4096))
            .await
            .unwrap();
        let sc = answer(&mut s, &mut buf).await;
        assert_eq!((sc.summary.results, sc.summary.error), (1, false));
    }
    assert!(buf.is_empty(), "nothing more was sent");
}
