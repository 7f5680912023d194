//! `query_timeout` cancels the origin query and answers the client with the origin's
//! 57014; a stalled origin that does not answer the cancel ends the session one
//! timeout later; a client that goes away mid-query gets its query cancelled; a
//! client that stalls its login is disconnected at `login_timeout`, on both protocols.

use crate::common;

use std::time::Duration;

use common::PgOrigin;
use common::mysql::MyOrigin;
use common::proxy::{Protocol, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::guarded;
use super::link::Link;

fn code(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.code().code().to_string())
        .unwrap_or_else(|| format!("no SQLSTATE: {e:?}"))
}

/// Backends of `db` at the origin running `pg_sleep` (other than the asker).
async fn sleepers(origin: &PgOrigin, db: &str) -> i64 {
    let direct = origin.connect(db, "postgres", None).await.unwrap();
    let sql = "SELECT count(*) FROM pg_stat_activity \
               WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep%' \
               AND pid <> pg_backend_pid() AND state = 'active'";
    direct.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_timeout_cancels_the_origin_query_and_the_session_goes_on() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("qtimeout");
    let proxy = Proxy::builder()
        .postgres_demo(origin.port)
        .settings("query_timeout = \"1s\"")
        .start()
        .await;
    let c = proxy.connect(&db, "postgres").await;
    let e = guarded("timed out query", c.simple_query("SELECT pg_sleep(30)")).await;
    assert_eq!(code(&e.unwrap_err()), "57014");
    let msgs = guarded("next query", c.simple_query("SELECT 1"))
        .await
        .unwrap();
    let row = msgs.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
        _ => None,
    });
    assert_eq!(
        row.as_deref(),
        Some("1"),
        "the next answer is its own: {msgs:?}"
    );
    assert_eq!(
        proxy
            .metric("wirecache_query_timeouts_total{cache=\"demo\"} ")
            .await,
        1.0
    );
    assert_eq!(
        proxy
            .metric("wirecache_cancellations_total{cache=\"demo\"} ")
            .await,
        1.0
    );
    assert_eq!(sleepers(origin, &db).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_origin_ends_the_session_instead_of_hanging_it() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("qstall");
    let link = Link::start(origin.port).await;
    let proxy = Proxy::builder()
        .cache("demo", Protocol::Postgres, link.port)
        .settings("query_timeout = \"1s\"")
        .start()
        .await;
    let c = proxy.connect(&db, "postgres").await;
    c.simple_query("SELECT 1").await.unwrap();
    link.stall();
    let e = guarded("query to a stalled origin", c.simple_query("SELECT 2")).await;
    assert_eq!(code(&e.unwrap_err()), "57014");
    guarded("session closed", async {
        while !c.is_closed() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gone_mid_query_gets_its_origin_query_cancelled() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("gone");
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
    let (client, conn) = tokio_postgres::connect(
        &proxy.conn_str("demo", &db, "postgres", None),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    let conn = tokio::spawn(conn);
    let query = tokio::spawn(async move { client.simple_query("SELECT pg_sleep(30)").await });
    guarded("the query runs at the origin", async {
        while sleepers(origin, &db).await == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // The client vanishes: its connection is dropped mid-answer.
    conn.abort();
    query.abort();
    guarded("the origin query is cancelled", async {
        while sleepers(origin, &db).await != 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(
        proxy
            .metric("wirecache_cancellations_total{cache=\"demo\"} ")
            .await,
        1.0
    );
}

/// Reads until the peer closes (true) or the guard passes.
async fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    guarded("closed at the login deadline", async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_login_is_closed_at_login_timeout() {
    let pg = PgOrigin::shared();
    let my = MyOrigin::shared();
    let proxy = Proxy::builder()
        .cache("pg", Protocol::Postgres, pg.port)
        .cache("my", Protocol::MySql, my.port)
        .settings("login_timeout = \"1s\"")
        .start()
        .await;
    // PostgreSQL: nothing at all.
    let mut silent = TcpStream::connect(proxy.pg_addr()).await.unwrap();
    assert!(closed_by_peer(&mut silent).await);
    // PostgreSQL: a startup packet, then no answer to the origin's password request.
    let mut stalled = TcpStream::connect(proxy.pg_addr()).await.unwrap();
    let startup = startup_packet(&[("user", "pg-scram_user"), ("database", "postgres")]);
    stalled.write_all(&startup).await.unwrap();
    let mut first = [0u8; 1];
    stalled.read_exact(&mut first).await.unwrap();
    assert_eq!(first[0], b'R', "an authentication request");
    assert!(closed_by_peer(&mut stalled).await);
    // MySQL: the greeting, then no handshake response.
    let mut silent = TcpStream::connect(proxy.mysql_addr()).await.unwrap();
    assert!(closed_by_peer(&mut silent).await);
}

/// A protocol 3.0 StartupMessage.
fn startup_packet(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = 196_608i32.to_be_bytes().to_vec();
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut p = (body.len() as i32 + 4).to_be_bytes().to_vec();
    p.extend_from_slice(&body);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_query_timeout_answers_err_3024_and_ends_the_session() {
    use common::mysql::{self, ROOT_PASSWORD, ROOT_USER};
    use mysql_async::prelude::*;
    let origin = MyOrigin::shared();
    let proxy = Proxy::builder()
        .mysql_demo(origin.port)
        .settings("query_timeout = \"1s\"")
        .start()
        .await;
    let url = proxy.mysql_url("demo", "", ROOT_USER, ROOT_PASSWORD);
    let mut c = mysql::connect(&url).await;
    let e = guarded("timed out query", c.query_drop("SELECT SLEEP(30)")).await;
    match e.unwrap_err() {
        mysql_async::Error::Server(s) => assert_eq!(s.code, 3024, "{s:?}"),
        other => panic!("expected ERR 3024, got {other:?}"),
    }
    assert!(guarded("ended", c.query_drop("SELECT 1")).await.is_err());
    assert_eq!(
        proxy
            .metric("wirecache_query_timeouts_total{cache=\"demo\"} ")
            .await,
        1.0
    );
    // The next connection works.
    let mut c2 = mysql::connect(&url).await;
    let one: Option<i64> = c2.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
}

/// An origin that accepts connections but never speaks: logins fail within
/// `origin_connect_timeout` on both protocols, with a connection error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_origin_fails_logins_at_origin_connect_timeout() {
    use common::mysql::{self, ROOT_PASSWORD, ROOT_USER};
    let (pg, my) = (PgOrigin::shared(), MyOrigin::shared());
    let (pg_link, my_link) = (Link::start(pg.port).await, Link::start(my.port).await);
    pg_link.stall();
    my_link.stall();
    let proxy = Proxy::builder()
        .cache("pg", Protocol::Postgres, pg_link.port)
        .cache("my", Protocol::MySql, my_link.port)
        .settings("origin_connect_timeout = \"1s\"")
        .start()
        .await;
    let e = guarded(
        "pg login",
        proxy.try_connect("pg", "postgres", "postgres", None),
    )
    .await;
    assert_eq!(code(&e.unwrap_err()), "08006");
    let url = proxy.mysql_url("my", "", ROOT_USER, ROOT_PASSWORD);
    let e = guarded("mysql login", mysql::try_connect(&url))
        .await
        .unwrap_err();
    match e {
        mysql_async::Error::Server(s) => assert_eq!(s.code, 1429, "{s:?}"),
        other => panic!("expected ERR 1429, got {other:?}"),
    }
    let timed_out = "wirecache_origin_last_fault{cache=\"pg\",kind=\"timed_out\"} ";
    assert_eq!(proxy.metric(timed_out).await, 1.0);
}

/// A stalled origin while wirecache waits for the answer to its own catalog query
/// (the first read of a table it does not know yet): with `query_timeout` set, the
/// session ends with an error instead of hanging, on both protocols (TDS's twin is in
/// `tds_outage.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_catalog_query_ends_the_session_instead_of_hanging_it() {
    use common::mysql::{self, ROOT_PASSWORD, ROOT_USER};
    use mysql_async::prelude::Queryable;
    let (pg, my) = (PgOrigin::shared(), MyOrigin::shared());
    let pg_db = pg.create_db("catstall");
    pg.psql(&pg_db, "CREATE TABLE kv (k int PRIMARY KEY, v text)");
    let my_db = my.create_db("catstall");
    my.sql(&my_db, "CREATE TABLE kv (k int PRIMARY KEY, v text)");
    let (pg_link, my_link) = (Link::start(pg.port).await, Link::start(my.port).await);
    let proxy = Proxy::builder()
        .cache("pg", Protocol::Postgres, pg_link.port)
        .cache("my", Protocol::MySql, my_link.port)
        .settings("query_timeout = \"1s\"")
        .start()
        .await;
    let pg_client = (proxy.try_connect("pg", &pg_db, "postgres", None).await).unwrap();
    let url = proxy.mysql_url("my", &my_db, ROOT_USER, ROOT_PASSWORD);
    let mut my_client = mysql::connect(&url).await;
    pg_link.stall();
    my_link.stall();
    let e = guarded(
        "postgres read waiting for a catalog answer",
        pg_client.simple_query("SELECT v FROM kv WHERE k = 1"),
    )
    .await;
    assert!(e.is_err(), "postgres: {e:?}");
    let e = guarded(
        "mysql read waiting for a catalog answer",
        my_client.query_drop("SELECT v FROM kv WHERE k = 1"),
    )
    .await;
    assert!(e.is_err(), "mysql: {e:?}");
}
