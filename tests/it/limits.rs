//! Connection limits against real origins: a cache's `limits.cache_connections`
//! admits that many sessions; the next clients wait in a queue of `limits.queue`
//! for `limits.queue_timeout`, then get their protocol's "too many connections"
//! (PostgreSQL 53300, MySQL 1040), counted by reason; a freed place admits the next
//! client, and other caches are not held up. `limits.idle_timeout` closes an idle
//! client with 57P05 / 4031 and leaves a busy one alone.

use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::common::PgOrigin;
use crate::common::mysql::{MyOrigin, ROOT_PASSWORD, ROOT_USER, try_connect};
use crate::common::proxy::Proxy;

const LIMITS: &str = "[limits]\ncache_connections = 1\nqueue = 1\nqueue_timeout = \"500ms\"";

fn sqlstate(e: &tokio_postgres::Error) -> Option<String> {
    e.as_db_error().map(|d| d.code().code().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_clients_past_the_limit_queue_then_get_53300() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("limits_pg");
    let proxy = Proxy::builder()
        .postgres_demo(origin.port)
        .toml(LIMITS)
        .start()
        .await;
    let first = proxy.connect(&db, "postgres").await;
    // The second waits in the queue; the third finds it full and is refused at once.
    let proxy = std::sync::Arc::new(proxy);
    let p = proxy.clone();
    let d = db.clone();
    let waiter = tokio::spawn(async move { p.try_connect("demo", &d, "postgres", None).await });
    proxy
        .wait_for_metric("wirecache_connection_queue{cache=\"demo\"}", 1.0)
        .await;
    let third = proxy.try_connect("demo", &db, "postgres", None).await;
    assert_eq!(
        sqlstate(&third.expect_err("refused")).as_deref(),
        Some("53300")
    );
    // The waiter times out.
    let second = waiter.await.unwrap();
    assert_eq!(
        sqlstate(&second.expect_err("refused")).as_deref(),
        Some("53300")
    );
    let refused =
        |r| format!("wirecache_connections_refused_total{{cache=\"demo\",reason=\"{r}\"}}");
    assert_eq!(proxy.metric(&refused("queue_full")).await, 1.0);
    assert_eq!(proxy.metric(&refused("queue_timeout")).await, 1.0);
    // Another cache has its own places.
    let other = proxy.try_connect("my-app", &db, "postgres", None).await;
    assert!(other.is_ok(), "{other:?}");
    // A waiter gets the place the first session frees.
    let p = proxy.clone();
    let d = db.clone();
    let waiter = tokio::spawn(async move { p.try_connect("demo", &d, "postgres", None).await });
    proxy
        .wait_for_metric("wirecache_connection_queue{cache=\"demo\"}", 1.0)
        .await;
    assert_eq!(
        first
            .query_one("SELECT 1", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        1
    );
    drop(first);
    let next = waiter
        .await
        .unwrap()
        .expect("admitted once the place is free");
    assert_eq!(
        next.query_one("SELECT 2", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_clients_past_the_limit_get_1040() {
    let origin = MyOrigin::shared();
    let db = origin.create_db("limits_my");
    let proxy = Proxy::builder()
        .mysql_demo(origin.port)
        .toml(LIMITS)
        .start()
        .await;
    let url = proxy.mysql_url("demo", &db, ROOT_USER, ROOT_PASSWORD);
    let mut first = try_connect(&url).await.expect("first session");
    let refused = try_connect(&url)
        .await
        .expect_err("refused after the queue timeout");
    match refused {
        mysql_async::Error::Server(e) => assert_eq!(e.code, 1040, "{e:?}"),
        other => panic!("expected ER_CON_COUNT_ERROR, got {other:?}"),
    }
    let one: i64 = first.query_first("SELECT 1").await.unwrap().unwrap();
    assert_eq!(one, 1);
    first.disconnect().await.unwrap();
    let mut again = try_connect(&url)
        .await
        .expect("a freed place admits the next client");
    let two: i64 = again.query_first("SELECT 2").await.unwrap().unwrap();
    assert_eq!(two, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_clients_are_closed_with_57p05_and_busy_ones_kept() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("limits_idle");
    let proxy = Proxy::builder()
        .postgres_demo(origin.port)
        .toml("[limits]\nidle_timeout = \"400ms\"")
        .start()
        .await;
    let url = proxy.conn_str("demo", &db, "postgres", None);
    let (idle, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let closed = tokio::spawn(conn);
    // A transaction left open is not idle at rest: it is kept.
    let busy = proxy.connect(&db, "postgres").await;
    busy.batch_execute("BEGIN").await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), closed)
        .await
        .expect("closed");
    let err = ended.unwrap().expect_err("closed with an error");
    assert_eq!(sqlstate(&err).as_deref(), Some("57P05"), "{err:?}");
    assert!(idle.is_closed());
    tokio::time::sleep(Duration::from_millis(600)).await;
    let n: i32 = busy.query_one("SELECT 3", &[]).await.unwrap().get(0);
    assert_eq!(n, 3);
    busy.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        proxy
            .metric("wirecache_idle_closed_total{cache=\"demo\"}")
            .await,
        1.0
    );
}
