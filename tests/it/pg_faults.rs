//! Faults and asynchronous traffic: an origin that goes away and comes back, NOTIFY
//! delivered through wirecache, empty queries, declined SSL/GSS encryption, and (from
//! a scripted origin) a malformed answer and an answer that stops halfway.

use crate::common;

use std::time::Duration;

use common::PgOrigin;
use common::proxy::Proxy;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_postgres::{AsyncMessage, NoTls, SimpleQueryMessage};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_restart_fails_sessions_cleanly_and_service_resumes() {
    let origin = PgOrigin::private();
    let db = origin.create_db("restart");
    origin.psql(&db, "CREATE TABLE r (v int); INSERT INTO r VALUES (1);");
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
    let c = proxy.connect(&db, "postgres").await;
    for _ in 0..2 {
        c.simple_query("SELECT v FROM r").await.unwrap();
    }
    origin.stop();
    // The live session gets an error for what the cache cannot answer, not a hang
    // (what it can answer is served: tests/it/outage).
    let res = tokio::time::timeout(
        Duration::from_secs(10),
        c.simple_query("SELECT v FROM r WHERE v > 0"),
    )
    .await;
    assert!(res.expect("no hang").is_err() || c.is_closed());
    // New sessions are refused with a connection error while the origin is down.
    let err = proxy
        .try_connect("demo", &db, "postgres", None)
        .await
        .unwrap_err();
    let code = err.as_db_error().map(|e| e.code().code().to_string());
    assert_eq!(code.as_deref(), Some("08006"), "{err:?}");
    assert!(
        proxy
            .metric("wirecache_origin_connect_errors_total{cache=\"demo\"} ")
            .await
            >= 1.0
    );
    origin.start();
    let c2 = proxy.connect(&db, "postgres").await;
    let rows = c2.query("SELECT v FROM r", &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, i32>(0), 1);
    // The session that lost its origin is closed once the origin is back.
    proxy
        .wait_for_metric("wirecache_client_connections{cache=\"demo\"} ", 1.0)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_and_notices_pass_through() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("notify");
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
    let (listener, mut conn) =
        tokio_postgres::connect(&proxy.conn_str("demo", &db, "postgres", None), NoTls)
            .await
            .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(Ok(m)) = messages.next().await {
            let _ = tx.send(m);
        }
    });
    listener.batch_execute("LISTEN jobs").await.unwrap();
    let sender = proxy.connect(&db, "postgres").await;
    sender.batch_execute("NOTIFY jobs, 'job-42'").await.unwrap();
    listener
        .batch_execute("DO $$ BEGIN RAISE NOTICE 'careful'; END $$")
        .await
        .unwrap();
    let mut got_notification = false;
    let mut got_notice = false;
    while !(got_notification && got_notice) {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(AsyncMessage::Notification(n))) => {
                assert_eq!((n.channel(), n.payload()), ("jobs", "job-42"));
                got_notification = true;
            }
            Ok(Some(AsyncMessage::Notice(n))) => {
                assert_eq!(n.message(), "careful");
                got_notice = true;
            }
            Ok(Some(_)) => {}
            other => panic!("missing messages ({got_notification}, {got_notice}): {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_queries_and_declined_encryption() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("empty");
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
    let c = proxy.connect(&db, "postgres").await;
    for _ in 0..2 {
        let msgs = c.simple_query("").await.unwrap();
        assert!(
            msgs.iter()
                .all(|m| !matches!(m, SimpleQueryMessage::Row(_)))
        );
        c.simple_query(";").await.unwrap();
    }
    // TLS is offered by default (S); GSS encryption never (N); with tls.client = "off"
    // the SSLRequest is declined too.
    let off = Proxy::builder()
        .postgres_demo(origin.port)
        .toml("[tls]\nclient = \"off\"")
        .start()
        .await;
    for (addr, code, want) in [
        (proxy.pg_addr(), 80877103i32, b"S"),
        (proxy.pg_addr(), 80877104, b"N"),
        (off.pg_addr(), 80877103, b"N"),
        (off.pg_addr(), 80877104, b"N"),
    ] {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut p = 8i32.to_be_bytes().to_vec();
        p.extend_from_slice(&code.to_be_bytes());
        s.write_all(&p).await.unwrap();
        let mut answer = [0u8; 1];
        s.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, want, "request {code}");
    }
    // sslmode=prefer falls back to plain text after the N.
    let conn = format!(
        "{} sslmode=prefer",
        off.conn_str("demo", &db, "postgres", None)
    );
    let (c3, conn) = tokio_postgres::connect(&conn, NoTls).await.unwrap();
    tokio::spawn(conn);
    c3.simple_query("SELECT 1").await.unwrap();
}

/// A scripted origin, for faults a real PostgreSQL does not produce. Each connection:
/// a trust login, then per simple query: `SELECT 'malformed'` gets a message whose
/// declared length is below the minimum; `SELECT 'hang'` gets a row description and
/// one row, then nothing more; anything else gets one row `1`. The end of every
/// connection is reported on the returned channel.
async fn scripted_origin() -> (u16, tokio::sync::mpsc::UnboundedReceiver<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (ended, ended_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let ended = ended.clone();
            tokio::spawn(async move {
                let _ = serve_script(s).await;
                let _ = ended.send(());
            });
        }
    });
    (port, ended_rx)
}

fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    m.extend_from_slice(body);
    m
}

async fn serve_script(mut s: tokio::net::TcpStream) -> std::io::Result<()> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await?;
    let mut startup = vec![0u8; i32::from_be_bytes(len) as usize - 4];
    s.read_exact(&mut startup).await?;
    let mut hello = message(b'R', &0i32.to_be_bytes());
    hello.extend(message(b'Z', b"I"));
    s.write_all(&hello).await?;
    let mut columns = 1i16.to_be_bytes().to_vec();
    columns.extend_from_slice(b"v\0");
    columns.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 25, 0xFF, 0xFF]);
    columns.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0, 0]);
    let mut row = 1i16.to_be_bytes().to_vec();
    row.extend_from_slice(&1i32.to_be_bytes());
    row.push(b'1');
    loop {
        let mut header = [0u8; 5];
        s.read_exact(&mut header).await?;
        let mut body =
            vec![
                0u8;
                i32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize - 4
            ];
        s.read_exact(&mut body).await?;
        match header[0] {
            b'X' => return Ok(()),
            b'Q' if body.starts_with(b"SELECT 'malformed'") => {
                s.write_all(&[b'T', 0, 0, 0, 2]).await?;
            }
            b'Q' if body.starts_with(b"SELECT 'hang'") => {
                let mut answer = message(b'T', &columns);
                answer.extend(message(b'D', &row));
                s.write_all(&answer).await?;
            }
            b'Q' => {
                let mut answer = message(b'T', &columns);
                answer.extend(message(b'D', &row));
                answer.extend(message(b'C', b"SELECT 1\0"));
                answer.extend(message(b'Z', b"I"));
                s.write_all(&answer).await?;
            }
            _ => {}
        }
    }
}

async fn first_value(c: &tokio_postgres::Client, sql: &str) -> String {
    let msgs = tokio::time::timeout(Duration::from_secs(10), c.simple_query(sql))
        .await
        .expect("answered")
        .unwrap();
    msgs.iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .expect("a row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_origin_answer_ends_that_session_only() {
    let (port, mut ended) = scripted_origin().await;
    // The scripted origin speaks no TLS, not even to decline it.
    let proxy = Proxy::builder()
        .postgres_demo(port)
        .cache_lines("demo", "tls = \"disable\"")
        .start()
        .await;
    let url = proxy.conn_str("demo", "db", "postgres", None);
    let (c, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(conn);
    assert_eq!(first_value(&c, "SELECT 'fine'").await, "1");
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        c.simple_query("SELECT 'malformed'"),
    )
    .await
    .expect("an answer, not a hang")
    .unwrap_err();
    let code = err.as_db_error().map(|e| e.code().clone());
    assert_eq!(
        code,
        Some(tokio_postgres::error::SqlState::PROTOCOL_VIOLATION),
        "{err:?}"
    );
    tokio::time::timeout(Duration::from_secs(10), ended.recv())
        .await
        .expect("the origin connection was closed");
    // The daemon keeps serving.
    let (c2, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(conn);
    assert_eq!(first_value(&c2, "SELECT 'again'").await, "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_hanging_mid_result_blocks_only_its_session() {
    let (port, mut ended) = scripted_origin().await;
    // The scripted origin speaks no TLS, not even to decline it.
    let proxy = Proxy::builder()
        .postgres_demo(port)
        .cache_lines("demo", "tls = \"disable\"")
        .start()
        .await;
    let url = proxy.conn_str("demo", "db", "postgres", None);
    let (stuck, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    let stuck_conn = tokio::spawn(conn);
    let query = tokio::spawn(async move { stuck.simple_query("SELECT 'hang'").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!query.is_finished());
    // Other sessions are served meanwhile.
    let (other, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(conn);
    assert_eq!(first_value(&other, "SELECT 'other'").await, "1");
    // The client gives up and closes its connection: wirecache closes the origin's.
    stuck_conn.abort();
    query.abort();
    tokio::time::timeout(Duration::from_secs(10), ended.recv())
        .await
        .expect("the hung origin connection was closed");
    assert_eq!(first_value(&other, "SELECT 'still'").await, "1");
}
