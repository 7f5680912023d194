//! TLS inside PRELOGIN at the byte level, with a client written by hand (rustls
//! without I/O): login-only encryption seen from the wire (the LOGIN7 inside TLS, its
//! answer and everything after in clear), a handshake in one-byte packets written
//! byte by byte, the first flight split at every offset, and broken handshakes
//! (garbage, wrong packet lengths, a packet of another type, a peer that stops), none
//! of which may panic or hang wirecache or reach the origin.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use rustls::ClientConnection;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wirecache::protocol::Side;
use wirecache::protocol::tds::codec::{self, Assembler, Kind, Message};
use wirecache::protocol::tds::prelogin::{self, Encryption};
use wirecache::protocol::tds::tokens::Scanner;

use crate::common::PgOrigin;
use crate::common::pg::password_for;
use crate::common::proxy::{Protocol, Proxy};
use crate::common::tds_origin::{TdsOrigin, USER, database};
use crate::common::tls::Pki;
use crate::tds_hostile::{batch, login7};

async fn start(pki: &Pki) -> (TdsOrigin, Proxy) {
    let origin = TdsOrigin::start(PgOrigin::shared().port).await;
    let proxy = Proxy::builder()
        .cache("sq", Protocol::MsSql, origin.port())
        .toml(&pki.tls_table("client = \"allow\""))
        .start()
        .await;
    (origin, proxy)
}

async fn read_message<S: tokio::io::AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
) -> Option<Message> {
    let mut asm = Assembler::new(Side::Origin, 1 << 24);
    loop {
        if let Some(m) = asm.next(buf).unwrap() {
            return Some(m);
        }
        let read = tokio::time::timeout(Duration::from_secs(10), s.read_buf(buf));
        if read.await.expect("an answer in time").unwrap() == 0 {
            return None;
        }
    }
}

/// Sends a PRELOGIN asking for `asked`; returns wirecache's answer.
async fn prelogin(s: &mut TcpStream, buf: &mut BytesMut, asked: Encryption) -> Encryption {
    let hello = codec::message(Kind::PreLogin, &prelogin::request_with(asked), 4096);
    s.write_all(&hello).await.unwrap();
    let answer = read_message(s, buf).await.expect("a PRELOGIN answer");
    prelogin::encryption(&answer.payload).unwrap()
}

fn connection(pki: &Pki) -> ClientConnection {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(pki.roots())
    .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    ClientConnection::new(Arc::new(config), name).unwrap()
}

/// `payload` in PRELOGIN packets of `chunk` payload bytes each, the last one EOM.
fn wrap(payload: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = BytesMut::new();
    let pieces: Vec<&[u8]> = payload.chunks(chunk).collect();
    for (i, piece) in pieces.iter().enumerate() {
        out.put_u8(0x12);
        out.put_u8(u8::from(i + 1 == pieces.len()));
        out.put_u16(8 + piece.len() as u16);
        out.put_slice(&[0, 0, (i + 1) as u8, 0]);
        out.put_slice(piece);
    }
    out.to_vec()
}

/// How the client writes its handshake.
#[derive(Clone, Copy)]
struct Shape {
    /// Payload bytes per PRELOGIN packet.
    chunk: usize,
    /// Each byte its own write.
    bytewise: bool,
    /// The first flight's wire bytes written in two parts, cut here.
    cut: Option<usize>,
}

async fn write_shaped(s: &mut TcpStream, wire: &[u8], bytewise: bool, cut: Option<usize>) {
    if bytewise {
        for b in wire {
            s.write_all(&[*b]).await.unwrap();
            s.flush().await.unwrap();
        }
        return;
    }
    let at = cut.unwrap_or(wire.len()).min(wire.len());
    s.write_all(&wire[..at]).await.unwrap();
    if at > 0 && at < wire.len() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    s.write_all(&wire[at..]).await.unwrap();
}

/// Runs the TLS handshake inside PRELOGIN packets shaped as `shape` says.
async fn handshake(
    s: &mut TcpStream,
    buf: &mut BytesMut,
    conn: &mut ClientConnection,
    shape: Shape,
) {
    let mut first = true;
    while conn.is_handshaking() {
        if conn.wants_write() {
            let mut flight = Vec::new();
            while conn.wants_write() {
                conn.write_tls(&mut flight).unwrap();
            }
            let cut = if first { shape.cut } else { None };
            write_shaped(s, &wrap(&flight, shape.chunk), shape.bytewise, cut).await;
            first = false;
            continue;
        }
        let m = read_message(s, buf).await.expect("the handshake goes on");
        assert_eq!(
            m.kind,
            Kind::PreLogin,
            "wirecache answers in PRELOGIN packets"
        );
        let mut p = &m.payload[..];
        while !p.is_empty() {
            conn.read_tls(&mut p).unwrap();
            conn.process_new_packets().unwrap();
        }
    }
}

/// Sends `message` inside TLS.
async fn send_tls(s: &mut TcpStream, conn: &mut ClientConnection, message: &[u8]) {
    conn.writer().write_all(message).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    s.write_all(&out).await.unwrap();
}

/// Reads one message inside TLS.
async fn read_tls(s: &mut TcpStream, conn: &mut ClientConnection) -> Message {
    let mut plain = BytesMut::new();
    let mut asm = Assembler::new(Side::Origin, 1 << 24);
    loop {
        if let Some(m) = asm.next(&mut plain).unwrap() {
            return m;
        }
        let mut chunk = [0u8; 16384];
        match conn.reader().read(&mut chunk) {
            Ok(n) if n > 0 => {
                plain.extend_from_slice(&chunk[..n]);
                continue;
            }
            Ok(_) => panic!("TLS closed"),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
        let mut raw = vec![0u8; 16384];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut raw))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(n > 0, "closed");
        let mut p = &raw[..n];
        while !p.is_empty() {
            conn.read_tls(&mut p).unwrap();
            conn.process_new_packets().unwrap();
        }
    }
}

fn login_message(db: &str) -> bytes::Bytes {
    codec::message(
        Kind::Login7,
        &login7(&format!("sq-{USER}"), &password_for(USER), db),
        4096,
    )
}

fn logged_in(m: &Message) -> bool {
    let mut sc = Scanner::default();
    sc.feed(&m.payload).unwrap();
    sc.summary.login_ack && !sc.summary.error
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_only_encryption_on_the_wire() {
    let db = database();
    let pki = Pki::new();
    let (origin, proxy) = start(&pki).await;
    let mut s = TcpStream::connect(proxy.addr(Protocol::MsSql))
        .await
        .unwrap();
    let mut buf = BytesMut::new();
    assert_eq!(
        prelogin(&mut s, &mut buf, Encryption::Off).await,
        Encryption::Off
    );
    let mut conn = connection(&pki);
    let shape = Shape {
        chunk: 4096,
        bytewise: false,
        cut: None,
    };
    handshake(&mut s, &mut buf, &mut conn, shape).await;
    send_tls(&mut s, &mut conn, &login_message(&db)).await;
    // The answer, and everything after it, in clear.
    let answer = read_message(&mut s, &mut buf)
        .await
        .expect("a login answer");
    assert!(logged_in(&answer), "{:?}", answer.kind);
    let sql = batch("SELECT id, name FROM t WHERE id = 1");
    s.write_all(&codec::message(Kind::SqlBatch, &sql, 4096))
        .await
        .unwrap();
    let rows = read_message(&mut s, &mut buf).await.expect("rows");
    let text: Vec<u8> = "one".encode_utf16().flat_map(u16::to_le_bytes).collect();
    assert!(rows.payload.windows(text.len()).any(|w| w == text));
    assert_eq!(origin.logins(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_in_one_byte_packets_written_byte_by_byte() {
    let db = database();
    let pki = Pki::new();
    let (origin, proxy) = start(&pki).await;
    let mut s = TcpStream::connect(proxy.addr(Protocol::MsSql))
        .await
        .unwrap();
    let mut buf = BytesMut::new();
    assert_eq!(
        prelogin(&mut s, &mut buf, Encryption::On).await,
        Encryption::On
    );
    let mut conn = connection(&pki);
    let shape = Shape {
        chunk: 1,
        bytewise: true,
        cut: None,
    };
    handshake(&mut s, &mut buf, &mut conn, shape).await;
    assert!(buf.is_empty());
    send_tls(&mut s, &mut conn, &login_message(&db)).await;
    assert!(logged_in(&read_tls(&mut s, &mut conn).await));
    let sql = batch("SELECT id, name FROM t WHERE id = 1");
    send_tls(
        &mut s,
        &mut conn,
        &codec::message(Kind::SqlBatch, &sql, 4096),
    )
    .await;
    let rows = read_tls(&mut s, &mut conn).await;
    assert_eq!(rows.kind, Kind::TabularResult);
    assert_eq!(origin.logins(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_flight_split_at_every_offset() {
    let pki = Pki::new();
    let (_origin, proxy) = start(&pki).await;
    let addr = proxy.addr(Protocol::MsSql);
    let mut conn = connection(&pki);
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    let len = wrap(&hello, 100).len();
    for cut in 0..=len {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut buf = BytesMut::new();
        prelogin(&mut s, &mut buf, Encryption::On).await;
        let mut conn = connection(&pki);
        let shape = Shape {
            chunk: 100,
            bytewise: false,
            cut: Some(cut),
        };
        handshake(&mut s, &mut buf, &mut conn, shape).await;
        assert!(!conn.is_handshaking(), "cut at {cut}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_handshakes_close_the_connection() {
    let db = database();
    let pki = Pki::new();
    let (origin, proxy) = start(&pki).await;
    let addr = proxy.addr(Protocol::MsSql);
    let mut conn = connection(&pki);
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "garbage in a PRELOGIN packet",
            wrap(b"this is not TLS at all", 4096),
        ),
        (
            "a packet length under its header",
            vec![0x12, 1, 0, 4, 0, 0, 1, 0, 0x16, 3],
        ),
        (
            "a length past what comes",
            vec![0x12, 1, 0xFF, 0xFF, 0, 0, 1, 0, 0x16, 3, 1],
        ),
        ("a LOGIN7 in clear", login_message(&db).to_vec()),
        ("a TLS record without its packet", hello.clone()),
        ("half a ClientHello", wrap(&hello[..hello.len() / 2], 4096)),
        ("an empty packet", vec![0x12, 1, 0, 8, 0, 0, 1, 0]),
    ];
    for (what, bytes) in cases {
        for asked in [Encryption::Off, Encryption::On] {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let mut buf = BytesMut::new();
            prelogin(&mut s, &mut buf, asked).await;
            s.write_all(&bytes).await.unwrap();
            let _ = s.shutdown().await;
            let mut rest = Vec::new();
            let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest));
            assert!(read.await.is_ok(), "{what}: closed, not left hanging");
        }
    }
    assert_eq!(origin.logins(), 0);
    // Others are still served.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = BytesMut::new();
    prelogin(&mut s, &mut buf, Encryption::On).await;
    let mut conn = connection(&pki);
    let shape = Shape {
        chunk: 4096,
        bytewise: false,
        cut: None,
    };
    handshake(&mut s, &mut buf, &mut conn, shape).await;
    send_tls(&mut s, &mut conn, &login_message(&db)).await;
    assert!(logged_in(&read_tls(&mut s, &mut conn).await));
}

/// An origin that answers PRELOGIN with ENCRYPT_OFF and then breaks the handshake:
/// `how` 0 sends garbage in a PRELOGIN packet, 1 a packet of another type, 2 closes,
/// 3 says nothing.
async fn broken_origin(how: u8) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = BytesMut::new();
                if read_message(&mut s, &mut buf).await.is_none() {
                    return;
                }
                let answer = prelogin::answer_with(Encryption::Off);
                let wire = codec::message(Kind::TabularResult, &answer, 4096);
                s.write_all(&wire).await.unwrap();
                let _ = read_message(&mut s, &mut buf).await;
                match how {
                    0 => {
                        s.write_all(&wrap(b"\x16\x03\x03\x00\x05garbage!", 4096))
                            .await
                    }
                    1 => {
                        s.write_all(&codec::message(Kind::SqlBatch, b"xx", 4096))
                            .await
                    }
                    2 => return,
                    _ => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        return;
                    }
                }
                .unwrap();
                tokio::time::sleep(Duration::from_secs(60)).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_that_breaks_the_handshake_fails_the_login_in_time() {
    let db = database();
    for how in 0..4 {
        let port = broken_origin(how).await;
        let proxy = Proxy::builder()
            .cache_with("sq", Protocol::MsSql, port, "tls = \"require\"")
            .settings("origin_connect_timeout = \"1s\"")
            .toml("[tls]\nclient = \"off\"")
            .start()
            .await;
        let mut s = TcpStream::connect(proxy.addr(Protocol::MsSql))
            .await
            .unwrap();
        let mut buf = BytesMut::new();
        prelogin(&mut s, &mut buf, Encryption::NotSupported).await;
        s.write_all(&login_message(&db)).await.unwrap();
        let answer = read_message(&mut s, &mut buf).await.expect("a login error");
        let mut sc = Scanner::default();
        sc.feed(&answer.payload).unwrap();
        assert!(sc.summary.error && !sc.summary.login_ack, "case {how}");
        let text: Vec<u8> = "TLS to origin"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert!(
            answer.payload.windows(text.len()).any(|w| w == text),
            "case {how}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tds_8_strict_tls_comes_first() {
    let db = database();
    let pki = Pki::new();
    let (origin, proxy) = start(&pki).await;
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(pki.roots())
    .with_no_client_auth();
    config.alpn_protocols = vec![b"tds/8.0".to_vec()];
    let tcp = TcpStream::connect(proxy.addr(Protocol::MsSql))
        .await
        .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let mut s = connector.connect(name, tcp).await.unwrap();
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"tds/8.0"[..]));
    let mut buf = BytesMut::new();
    // FreeTDS and SqlClient say ENCRYPT_NOT_SUP inside strict TLS; so does the answer.
    let hello = prelogin::request_with(Encryption::NotSupported);
    s.write_all(&codec::message(Kind::PreLogin, &hello, 4096))
        .await
        .unwrap();
    let answer = read_message(&mut s, &mut buf).await.expect("an answer");
    assert_eq!(
        prelogin::encryption(&answer.payload),
        Some(Encryption::NotSupported)
    );
    s.write_all(&login_message(&db)).await.unwrap();
    assert!(logged_in(
        &read_message(&mut s, &mut buf).await.expect("an answer")
    ));
    let sql = batch("SELECT id, name FROM t WHERE id = 1");
    s.write_all(&codec::message(Kind::SqlBatch, &sql, 4096))
        .await
        .unwrap();
    assert_eq!(
        read_message(&mut s, &mut buf)
            .await
            .expect("an answer")
            .kind,
        Kind::TabularResult
    );
    assert_eq!(origin.logins(), 1);
    // With TLS off, a strict client's handshake is closed, not left hanging.
    let off = Proxy::builder()
        .cache("sq", Protocol::MsSql, origin.port())
        .toml("[tls]\nclient = \"off\"")
        .start()
        .await;
    let tcp = TcpStream::connect(off.addr(Protocol::MsSql)).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp));
    assert!(refused.await.expect("closed in time").is_err());
    assert_eq!(origin.logins(), 1);
}
