//! Faults and asynchronous traffic: an origin that goes away and comes back, NOTIFY
//! delivered through wirecache, empty queries, and declined SSL/GSS encryption.

mod common;

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
    let proxy = Proxy::postgres(origin.port, "").await;
    let c = proxy.connect(&db, "postgres").await;
    for _ in 0..2 {
        c.simple_query("SELECT v FROM r").await.unwrap();
    }
    origin.stop();
    // The live session gets an error (the origin's FATAL or wirecache's), not a hang.
    let res =
        tokio::time::timeout(Duration::from_secs(10), c.simple_query("SELECT v FROM r")).await;
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
    assert_eq!(
        proxy
            .metric("wirecache_client_connections{cache=\"demo\"} ")
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_and_notices_pass_through() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("notify");
    let proxy = Proxy::postgres(origin.port, "").await;
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
    let proxy = Proxy::postgres(origin.port, "").await;
    let c = proxy.connect(&db, "postgres").await;
    for _ in 0..2 {
        let msgs = c.simple_query("").await.unwrap();
        assert!(
            msgs.iter()
                .all(|m| !matches!(m, SimpleQueryMessage::Row(_)))
        );
        c.simple_query(";").await.unwrap();
    }
    for code in [80877103i32, 80877104] {
        let mut s = tokio::net::TcpStream::connect(proxy.pg).await.unwrap();
        let mut p = 8i32.to_be_bytes().to_vec();
        p.extend_from_slice(&code.to_be_bytes());
        s.write_all(&p).await.unwrap();
        let mut answer = [0u8; 1];
        s.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"N", "request {code}");
    }
    // sslmode=prefer falls back to plain text after the N.
    let conn = format!(
        "{} sslmode=prefer",
        proxy.conn_str("demo", &db, "postgres", None)
    );
    let (c3, conn) = tokio_postgres::connect(&conn, NoTls).await.unwrap();
    tokio::spawn(conn);
    c3.simple_query("SELECT 1").await.unwrap();
}
