//! Hostile PostgreSQL clients against the running daemon: truncated and absurd
//! packets, messages wrong for the state, garbage after startup, a slow-drip client,
//! many half-open connections and a client that never reads its results. Each gets a
//! protocol-correct error or a closed connection, never a hang, and other clients
//! keep being served. (Resident memory under these is measured by
//! scripts/hostile/flood.py, not here.)

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::PgOrigin;
use crate::common::proxy::Proxy;

/// How long wirecache may take to answer or close.
const DEADLINE: Duration = Duration::from_secs(10);

fn startup(user: &str, db: &str) -> Vec<u8> {
    let mut body = 196608i32.to_be_bytes().to_vec();
    for (k, v) in [("user", user), ("database", db)] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut p = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    p.extend_from_slice(&body);
    p
}

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// Everything wirecache sends until it closes the connection (or `DEADLINE`, a hang).
async fn until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let read = tokio::time::timeout(DEADLINE, s.read_to_end(&mut all)).await;
    assert!(read.is_ok(), "no close within {DEADLINE:?}; got {all:?}");
    all
}

/// The SQLSTATE of the first ErrorResponse in `bytes`.
fn sqlstate(bytes: &[u8]) -> Option<String> {
    let mut at = 0;
    while at + 5 <= bytes.len() {
        let len = i32::from_be_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
        let body = bytes.get(at + 5..at + 1 + len)?;
        if bytes[at] == b'E' {
            let i = body.windows(1).position(|w| w[0] == b'C')?;
            let end = body[i + 1..].iter().position(|b| *b == 0)?;
            return Some(String::from_utf8_lossy(&body[i + 1..i + 1 + end]).into_owned());
        }
        at += 1 + len;
    }
    None
}

/// A logged-in raw session (trust auth), read up to its first ReadyForQuery.
async fn login(addr: SocketAddr, db: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&startup("demo-postgres", db)).await.unwrap();
    read_until_ready(&mut s).await;
    s
}

/// Reads until a ReadyForQuery; returns what came.
async fn read_until_ready(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(i) = find_ready(&got) {
            got.truncate(i);
            return got;
        }
        let n = tokio::time::timeout(DEADLINE, s.read(&mut buf)).await;
        let n = n.expect("no ReadyForQuery in time (a hang)").unwrap();
        assert!(n > 0, "closed before ReadyForQuery: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
}

fn find_ready(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    while at + 5 <= bytes.len() {
        let len = i32::from_be_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
        if at + 1 + len > bytes.len() {
            return None;
        }
        at += 1 + len;
        if bytes[at - 1 - len] == b'Z' {
            return Some(at);
        }
    }
    None
}

/// The proof that wirecache still serves: a fresh client's query.
async fn still_serves(proxy: &Proxy, db: &str) {
    let c = proxy.connect(db, "postgres").await;
    let n: i32 = c.query_one("SELECT 41 + 1", &[]).await.unwrap().get(0);
    assert_eq!(n, 42);
}

async fn setup(prefix: &str) -> (String, Proxy) {
    let origin = PgOrigin::shared();
    let db = origin.create_db(prefix);
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
    (db, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_startup_packets_are_refused_and_closed() {
    let (db, proxy) = setup("hostile_startup").await;
    let addr = proxy.pg_addr();
    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        (
            "absurd length",
            vec![0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0],
            Some("08P01"),
        ),
        (
            "negative length",
            vec![0xff, 0xff, 0xff, 0xf0, 0, 3, 0, 0],
            Some("08P01"),
        ),
        ("below the minimum", vec![0, 0, 0, 4], Some("08P01")),
        (
            "unknown protocol",
            [&8i32.to_be_bytes()[..], &[0, 9, 0, 0]].concat(),
            Some("0A000"),
        ),
        (
            "unterminated parameters",
            {
                let mut p = startup("demo-postgres", &db);
                let n = p.len();
                p[n - 1] = b'x';
                p
            },
            Some("08P01"),
        ),
        (
            "no user",
            [&13i32.to_be_bytes()[..], &[0, 3, 0, 0], b"a\0b\0\0"].concat(),
            Some("08P01"),
        ),
    ];
    for (what, bytes, code) in cases {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&bytes).await.unwrap();
        let got = until_closed(&mut s).await;
        assert_eq!(sqlstate(&got).as_deref(), code, "{what}: {got:?}");
    }
    // A startup cut short, then the client leaves: nothing to say, the socket closes.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&startup("demo-postgres", &db)[..7])
        .await
        .unwrap();
    s.shutdown().await.unwrap();
    until_closed(&mut s).await;
    still_serves(&proxy, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_after_startup_end_the_session_with_an_error() {
    let (db, proxy) = setup("hostile_after").await;
    let addr = proxy.pg_addr();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("absurd length", vec![b'Q', 0x7f, 0xff, 0xff, 0xff], "54000"),
        (
            "negative length",
            vec![b'Q', 0xff, 0xff, 0xff, 0xff],
            "08P01",
        ),
        ("length below four", vec![b'Q', 0, 0, 0, 2], "08P01"),
        // Wrong for the state: the origin itself refuses them (08P01) and closes.
        (
            "password message after login",
            msg(b'p', b"hunter2\0"),
            "08P01",
        ),
        ("unknown message type", msg(b'z', b"????"), "08P01"),
        (
            "random bytes",
            (0..200u32).map(|i| (i * 7919 % 251) as u8).collect(),
            "08P01",
        ),
    ];
    for (what, bytes, code) in cases {
        let mut s = login(addr, &db).await;
        s.write_all(&bytes).await.unwrap();
        let got = until_closed(&mut s).await;
        assert_eq!(sqlstate(&got).as_deref(), Some(code), "{what}: {got:?}");
    }
    // Truncated: half a query, then the client goes away mid-message.
    let mut s = login(addr, &db).await;
    s.write_all(&msg(b'Q', b"SELECT 1\0")[..6]).await.unwrap();
    drop(s);
    // Not a message the proxy inspects, but wrong for the state: CopyDone outside COPY
    // is ignored by PostgreSQL; the session goes on.
    let mut s = login(addr, &db).await;
    s.write_all(&[msg(b'c', b""), msg(b'Q', b"SELECT 7\0")].concat())
        .await
        .unwrap();
    let got = read_until_ready(&mut s).await;
    assert!(got.windows(1).any(|w| w[0] == b'D'), "{got:?}");
    still_serves(&proxy, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_drip_client_is_answered() {
    let (db, proxy) = setup("hostile_drip").await;
    let mut s = TcpStream::connect(proxy.pg_addr()).await.unwrap();
    s.set_nodelay(true).unwrap();
    let mut bytes = startup("demo-postgres", &db);
    let split = bytes.len();
    bytes.extend(msg(b'Q', b"SELECT 'drip'\0"));
    for (i, b) in bytes.iter().enumerate() {
        s.write_all(&[*b]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        if i + 1 == split {
            read_until_ready(&mut s).await;
        }
    }
    let got = read_until_ready(&mut s).await;
    assert!(got.windows(4).any(|w| w == b"drip"), "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_do_not_stop_others() {
    let (db, proxy) = setup("hostile_halfopen").await;
    let mut idle = Vec::new();
    for i in 0..300 {
        let mut s = TcpStream::connect(proxy.pg_addr()).await.unwrap();
        // Some send nothing, some half a startup packet.
        if i % 2 == 1 {
            s.write_all(&[0, 0, 0]).await.unwrap();
        }
        idle.push(s);
    }
    still_serves(&proxy, &db).await;
    drop(idle);
    still_serves(&proxy, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_holds_up_only_itself() {
    let (db, proxy) = setup("hostile_noread").await;
    let mut s = login(proxy.pg_addr(), &db).await;
    // About 100 MB of rows that the client never reads: wirecache's output stops at
    // the socket's buffers (backpressure), the origin's waits behind it.
    let q = "SELECT repeat('x', 1000) FROM generate_series(1, 100000)\0";
    s.write_all(&msg(b'Q', q.as_bytes())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        still_serves(&proxy, &db).await;
    }
    // Then it leaves: its session ends, the origin connection with it.
    drop(s);
    let open = "wirecache_client_connections{cache=\"demo\"}";
    let deadline = std::time::Instant::now() + DEADLINE;
    while proxy.metric(open).await > 0.0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        proxy.metric(open).await,
        0.0,
        "a session outlived its client"
    );
}
