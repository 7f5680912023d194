//! Graceful shutdown: once wirecache is told to stop it accepts no new connections,
//! closes each open session as soon as it is between requests and outside a
//! transaction, lets sessions inside a transaction finish it, and gives up on the
//! rest after `cache.shutdown_grace`; the admin port stays up meanwhile, not ready.
//! Checked with real clients against real origins.

use crate::common;

use std::time::{Duration, Instant};

use common::PgOrigin;
use common::mysql::{self, MyOrigin, ROOT_PASSWORD, ROOT_USER};
use common::proxy::{Proxy, http};
use mysql_async::prelude::*;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

/// Polls `f` (up to 10 s) until it returns true.
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn pg_backends(origin: &PgOrigin, db: &str) -> i64 {
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
    );
    origin.psql(db, &sql).trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sessions_close_at_rest_and_transactions_finish() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("drain");
    origin.psql(&db, "CREATE TABLE t (v int)");
    let proxy = Proxy::builder()
        .postgres_demo(origin.port)
        .settings("shutdown_grace = \"30s\"")
        .start()
        .await;
    let url = proxy.conn_str("demo", &db, "postgres", None);
    // An idle session whose connection task reports how it ended.
    let (idle, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    let idle_end = tokio::spawn(conn);
    idle.simple_query("SELECT count(*) FROM t").await.unwrap();
    // A session in the middle of a transaction.
    let busy = proxy.connect(&db, "postgres").await;
    busy.batch_execute("BEGIN; INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    assert_eq!(pg_backends(origin, &db), 2);

    let (pg, admin) = (proxy.pg_addr(), proxy.admin());
    let running = proxy.running;
    assert_eq!(http(admin, "GET", "/readyz", None, None).await.0, 200);
    let stopping = tokio::spawn(running.shutdown());

    // The idle session is closed with PostgreSQL's own shutdown error.
    let ended = tokio::time::timeout(Duration::from_secs(10), idle_end)
        .await
        .expect("idle session closed")
        .unwrap();
    let err = ended.expect_err("closed with an error");
    assert_eq!(
        err.as_db_error().map(|e| e.code()),
        Some(&SqlState::ADMIN_SHUTDOWN),
        "{err:?}"
    );
    assert!(idle.simple_query("SELECT 1").await.is_err());
    // New connections are refused.
    eventually("listener closed", || {
        std::net::TcpStream::connect(pg).is_err()
    })
    .await;
    // While sessions drain, the admin port answers: not ready, but alive, with metrics.
    assert_eq!(http(admin, "GET", "/readyz", None, None).await.0, 503);
    assert_eq!(http(admin, "GET", "/healthz", None, None).await.0, 200);
    // The closed session leaves the gauge once it has also said goodbye to its
    // origin, a moment after its client saw the error (later on a loaded machine).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, metrics) = http(admin, "GET", "/metrics", None, None).await;
        assert_eq!(status, 200);
        if metrics.contains("wirecache_client_connections{cache=\"demo\"} 1") {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The transaction goes on and commits; then that session is closed too.
    busy.execute("INSERT INTO t VALUES (2)", &[]).await.unwrap();
    assert!(!stopping.is_finished());
    busy.batch_execute("COMMIT").await.unwrap();
    let left = tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("shutdown ends once every session closed")
        .unwrap();
    assert_eq!(left, 0);
    assert!(busy.simple_query("SELECT 1").await.is_err());
    // The admin port closes last.
    assert!(tokio::net::TcpStream::connect(admin).await.is_err());
    assert_eq!(origin.psql(&db, "SELECT sum(v) FROM t").trim(), "3");
    // Both origin connections were ended, not left behind.
    eventually("origin backends gone", || pg_backends(origin, &db) == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grace_period_bounds_a_shutdown() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("grace");
    let proxy = Proxy::builder()
        .postgres_demo(origin.port)
        .settings("shutdown_grace = \"1s\"")
        .start()
        .await;
    let busy = proxy.connect(&db, "postgres").await;
    busy.batch_execute("BEGIN").await.unwrap();
    let left = tokio::time::timeout(Duration::from_secs(20), proxy.running.shutdown())
        .await
        .expect("shutdown ends after its grace period");
    assert_eq!(left, 1, "the session in a transaction was still open");
}

fn my_connections(origin: &MyOrigin, db: &str) -> i64 {
    let sql = format!(
        "SELECT count(*) FROM information_schema.processlist WHERE db = '{db}' AND id <> connection_id()"
    );
    origin.sql(db, &sql).trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_sessions_close_at_rest_and_transactions_finish() {
    let origin = MyOrigin::shared();
    let db = origin.create_db("drain");
    origin.sql(&db, "CREATE TABLE t (v int)");
    let proxy = Proxy::builder()
        .mysql_demo(origin.port)
        .settings("shutdown_grace = \"30s\"")
        .start()
        .await;
    let url = proxy.mysql_url("demo", &db, ROOT_USER, ROOT_PASSWORD);
    let mut idle = mysql::connect(&url).await;
    let _: Option<i64> = idle.query_first("SELECT count(*) FROM t").await.unwrap();
    let mut busy = mysql::connect(&url).await;
    busy.query_drop("BEGIN").await.unwrap();
    busy.query_drop("INSERT INTO t VALUES (1)").await.unwrap();
    eventually("two origin connections", || {
        my_connections(origin, &db) == 2
    })
    .await;

    let addr = proxy.mysql_addr();
    let Proxy { running, .. } = proxy;
    let stopping = tokio::spawn(running.shutdown());

    // The idle session is disconnected (a MySQL client awaits nothing when idle, so it
    // learns at its next command) and new connections are refused.
    eventually("listener closed", || {
        std::net::TcpStream::connect(addr).is_err()
    })
    .await;
    eventually("idle session's origin connection gone", || {
        my_connections(origin, &db) == 1
    })
    .await;
    assert!(idle.query_drop("SELECT 1").await.is_err());
    // The transaction goes on and commits; then that session is closed too.
    busy.query_drop("INSERT INTO t VALUES (2)").await.unwrap();
    assert!(!stopping.is_finished());
    busy.query_drop("COMMIT").await.unwrap();
    let left = tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("shutdown ends once every session closed")
        .unwrap();
    assert_eq!(left, 0);
    assert!(busy.query_drop("SELECT 1").await.is_err());
    assert_eq!(origin.sql(&db, "SELECT sum(v) FROM t").trim(), "3");
    eventually("origin connections gone", || {
        my_connections(origin, &db) == 0
    })
    .await;
}

/// A connection that has not finished logging in (PostgreSQL: no startup packet yet;
/// MySQL: the greeting read, no handshake response) is given up at shutdown rather
/// than holding it until the login timeout (the TDS twin is in `tds_shutdown.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_under_way_are_given_up_at_shutdown() {
    use common::proxy::Protocol;
    use tokio::io::AsyncReadExt;
    let proxy = Proxy::builder()
        .cache("pg", Protocol::Postgres, PgOrigin::shared().port)
        .cache("my", Protocol::MySql, MyOrigin::shared().port)
        .settings("shutdown_grace = \"60s\"\nlogin_timeout = \"60s\"")
        .start()
        .await;
    let pg_port = proxy.addr(Protocol::Postgres).port();
    let my_port = proxy.addr(Protocol::MySql).port();
    let mut pg = tokio::net::TcpStream::connect(("127.0.0.1", pg_port))
        .await
        .unwrap();
    let mut my = tokio::net::TcpStream::connect(("127.0.0.1", my_port))
        .await
        .unwrap();
    let mut greeting = [0u8; 4];
    my.read_exact(&mut greeting).await.expect("a greeting");
    let left = tokio::time::timeout(Duration::from_secs(20), proxy.running.shutdown())
        .await
        .expect("shutdown does not wait for logins under way");
    assert_eq!(left, 0);
    for (name, s) in [("postgres", &mut pg), ("mysql", &mut my)] {
        let mut rest = [0u8; 256];
        let mut closed = false;
        for _ in 0..4 {
            match tokio::time::timeout(Duration::from_secs(5), s.read(&mut rest)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    closed = true;
                    break;
                }
                Ok(Ok(_)) => continue,
                Err(_) => break,
            }
        }
        assert!(closed, "{name}: the login under way was closed");
    }
}
