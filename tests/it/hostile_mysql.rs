//! Hostile MySQL clients against the running daemon: truncated and malformed
//! handshakes, absurd lengths, commands wrong for the state, garbage after login,
//! out-of-order sequence ids, a slow-drip client, half-open connections and a client
//! that never reads. Each gets an ERR packet or a closed connection, never a hang,
//! and other clients keep being served.

use std::net::SocketAddr;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::mysql::{MyOrigin, ROOT_PASSWORD, ROOT_USER, connect};
use crate::common::proxy::Proxy;

const DEADLINE: Duration = Duration::from_secs(10);
/// A user with an empty password, so a raw client can log in without hashing.
const USER: &str = "hostile_u";

fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    v.push(seq);
    v.extend_from_slice(payload);
    v
}

/// The next packet (sequence id, payload), or `None` if the connection closed.
async fn read_packet(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let read = async {
        let mut h = [0u8; 4];
        s.read_exact(&mut h).await.ok()?;
        let len = u32::from_le_bytes([h[0], h[1], h[2], 0]) as usize;
        let mut p = vec![0u8; len];
        s.read_exact(&mut p).await.ok()?;
        Some((h[3], p))
    };
    tokio::time::timeout(DEADLINE, read)
        .await
        .expect("no answer or close in time (a hang)")
}

/// Logs in as `demo-hostile_u` (empty password), answering auth switches.
async fn login(addr: SocketAddr, db: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    read_packet(&mut s).await.expect("greeting");
    // PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | CONNECT_WITH_DB | LONG_PASSWORD
    let caps: u32 = 1 << 9 | 1 << 15 | 1 << 19 | 1 << 3 | 1 | 1 << 13;
    let mut p = caps.to_le_bytes().to_vec();
    p.extend_from_slice(&(1u32 << 24).to_le_bytes());
    p.push(33);
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(format!("demo-{USER}\0").as_bytes());
    p.push(0);
    p.extend_from_slice(format!("{db}\0mysql_native_password\0").as_bytes());
    s.write_all(&packet(1, &p)).await.unwrap();
    loop {
        let (seq, p) = read_packet(&mut s).await.expect("login answer");
        match p.first() {
            Some(0x00) => return s,
            Some(0xFE) => s.write_all(&packet(seq + 1, b"")).await.unwrap(),
            _ => panic!("login failed: {:?}", String::from_utf8_lossy(&p)),
        }
    }
}

/// The error code of an ERR payload.
fn err_code(p: &[u8]) -> Option<u16> {
    (p.first() == Some(&0xFF)).then(|| u16::from_le_bytes([p[1], p[2]]))
}

/// Reads one whole answer (an OK, an ERR, or a result set up to its second EOF), or
/// to the close. Returns its last packet, if any.
async fn answer_or_close(s: &mut TcpStream) -> Option<Vec<u8>> {
    let (_, first) = read_packet(s).await?;
    if matches!(first.first(), Some(0x00 | 0xFF)) {
        return Some(first);
    }
    let mut eofs = 0;
    loop {
        let (_, p) = read_packet(s).await?;
        if p.first() == Some(&0xFF) {
            return Some(p);
        }
        if p.first() == Some(&0xFE) && p.len() < 9 {
            eofs += 1;
            if eofs == 2 {
                return Some(p);
            }
        }
    }
}

async fn still_serves(proxy: &Proxy, db: &str) {
    let mut c = connect(&proxy.mysql_url("demo", db, ROOT_USER, ROOT_PASSWORD)).await;
    let n: i64 = c.query_first("SELECT 41 + 1").await.unwrap().unwrap();
    assert_eq!(n, 42);
    c.disconnect().await.unwrap();
}

async fn setup(prefix: &str) -> (String, Proxy) {
    let origin = MyOrigin::shared();
    let db = origin.create_db(prefix);
    origin.sql(
        &db,
        &format!("CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY ''"),
    );
    origin.sql(&db, &format!("GRANT ALL ON *.* TO '{USER}'@'%'"));
    let proxy = Proxy::builder().mysql_demo(origin.port).start().await;
    (db, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_handshakes_are_refused_or_closed() {
    let (db, proxy) = setup("hostile_myhs").await;
    let addr = proxy.mysql_addr();
    // A pre-4.1 response: ER_HANDSHAKE_ERROR.
    let mut s = TcpStream::connect(addr).await.unwrap();
    read_packet(&mut s).await.expect("greeting");
    s.write_all(&packet(1, &[0x05, 0xa2, 0, 0, 0, 0, 0, 0, 8, 0]))
        .await
        .unwrap();
    let (_, p) = read_packet(&mut s).await.expect("an ERR");
    assert_eq!(err_code(&p), Some(1043), "{p:?}");
    assert!(read_packet(&mut s).await.is_none());
    // An absurd length that never arrives, a truncated header, then the client leaves.
    for bytes in [&[0xFF, 0xFF, 0xFF, 1, 0x85][..], &[0x20, 0][..]] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        read_packet(&mut s).await.expect("greeting");
        s.write_all(bytes).await.unwrap();
        s.shutdown().await.unwrap();
        // An ERR at most, then the close.
        while let Some((_, p)) = read_packet(&mut s).await {
            assert!(err_code(&p).is_some(), "{p:?}");
        }
    }
    still_serves(&proxy, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_commands_get_errors_and_the_session_goes_on() {
    let (db, proxy) = setup("hostile_mycmd").await;
    let mut s = login(proxy.mysql_addr(), &db).await;
    let cases: [(&str, Vec<u8>); 4] = [
        ("unknown command", vec![0xEE, 1, 2, 3]),
        (
            "execute of an unknown statement",
            vec![0x17, 99, 0, 0, 0, 0, 1, 0, 0, 0],
        ),
        (
            "fetch of an unknown statement",
            vec![0x1C, 99, 0, 0, 0, 5, 0, 0, 0],
        ),
        ("truncated execute", vec![0x17, 1]),
    ];
    for (what, payload) in cases {
        s.write_all(&packet(0, &payload)).await.unwrap();
        let end = answer_or_close(&mut s)
            .await
            .unwrap_or_else(|| panic!("{what}: closed"));
        assert!(err_code(&end).is_some(), "{what}: {end:?}");
        s.write_all(&packet(0, b"\x03SELECT 5")).await.unwrap();
        let end = answer_or_close(&mut s).await.expect("still open");
        assert!(err_code(&end).is_none(), "{what}: then {end:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_after_login_ends_in_an_error_or_a_close() {
    let (db, proxy) = setup("hostile_mygarbage").await;
    let garbage: Vec<Vec<u8>> = vec![
        (0..300u32).map(|i| (i * 7919 % 251) as u8).collect(),
        packet(7, b"\x03SELECT 1"),
        [&[0xFF, 0xFF, 0xFF, 0][..], &[0x03; 100]].concat(),
        packet(0, b""),
    ];
    for bytes in garbage {
        let mut s = login(proxy.mysql_addr(), &db).await;
        s.write_all(&bytes).await.unwrap();
        s.shutdown().await.unwrap();
        // Whatever comes (an ERR, a result) ends with the connection closed.
        while read_packet(&mut s).await.is_some() {}
    }
    still_serves(&proxy, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_drip_half_open_and_non_reading_clients() {
    let (db, proxy) = setup("hostile_myslow").await;
    let addr = proxy.mysql_addr();
    // A command a byte at a time.
    let mut s = login(addr, &db).await;
    for b in packet(0, b"\x03SELECT 'drip'") {
        s.write_all(&[b]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut rows = Vec::new();
    while let Some((_, p)) = read_packet(&mut s).await {
        let end = p.first() == Some(&0xFE) && p.len() < 9;
        rows.push(p);
        if end && rows.len() > 3 {
            break;
        }
    }
    assert!(
        rows.iter().any(|p| p.windows(4).any(|w| w == b"drip")),
        "{rows:?}"
    );
    // Half-open connections: greeted, never answered.
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    still_serves(&proxy, &db).await;
    drop(idle);
    // A client that asks for about 100 MB and never reads.
    let mut s = login(addr, &db).await;
    let q = b"\x03SELECT REPEAT('x', 1000) FROM seq_1_to_100000";
    s.write_all(&packet(0, q)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    still_serves(&proxy, &db).await;
    drop(s);
    still_serves(&proxy, &db).await;
}
