//! A new connection per transaction (`pgbench -C`, serverless functions) through
//! transaction pooling, against a real PostgreSQL origin, where a hit starts a refresh
//! ahead of expiry: the hit is answered without waiting for an origin connection (the
//! refresh runs only on one idle in the pool, else a later hit refreshes), and a
//! client that leaves right after the hit leaves the refresh to finish and its
//! connection to go back to the pool, not to be closed and opened again (under
//! session pooling too).

use crate::common;

use std::time::{Duration, Instant};

use common::PgOrigin;
use common::pg::password_for;
use common::proxy::{Protocol, Proxy};

use crate::pg_pooled_txn::{USER, connect};

const IDLE: &str = "wirecache_pool_connections{cache=\"demo\",state=\"idle\"}";
const ACTIVE: &str = "wirecache_pool_connections{cache=\"demo\",state=\"active\"}";
const REFRESHES: &str = "wirecache_refreshes_total{cache=\"demo\"} ";
const STORED: &str = "wirecache_fills_total{cache=\"demo\",outcome=\"stored\"} ";
const SQL: &str = "SELECT v FROM k WHERE id = 1";
/// A pinned TTL of 10 s: the refresh window is its last fifth, 8 s to 10 s.
const RULE: &str = "[[rules]]\npattern = \"*from k where id*\"\nttl = \"10s\"\n";
const IN_WINDOW: Duration = Duration::from_millis(8300);

/// A cache `demo` pooled per `mode` (`transaction` or `session`) with one
/// connection, and the rule above.
async fn proxy(origin: &PgOrigin, mode: &str) -> Proxy {
    let lines = format!(
        "pool = \"{mode}\"\nuser = \"{USER}\"\npassword = \"{}\"\npool_size = 1\npool_queue_timeout = \"1s\"",
        password_for(USER)
    );
    Proxy::builder()
        .cache_with("demo", Protocol::Postgres, origin.port, &lines)
        .toml(RULE)
        .start()
        .await
}

/// A database with table `k`, a proxy, and the entry of [`SQL`] filled and hit once
/// (a refresh needs a second hit); returns when the entry was filled.
async fn filled(origin: &PgOrigin, prefix: &str, mode: &str) -> (String, Proxy, Instant) {
    let db = origin.create_db(prefix);
    origin.psql(
        &db,
        &format!("CREATE TABLE k (id int primary key, v text); INSERT INTO k VALUES (1, 'one'); GRANT ALL ON k TO {USER}"),
    );
    let proxy = proxy(origin, mode).await;
    let at = Instant::now();
    let client = connect(&proxy, &db).await;
    for _ in 0..2 {
        assert_eq!(value(&client).await, "one");
    }
    drop(client);
    proxy.wait_for_metric(IDLE, 1.0).await;
    (db, proxy, at)
}

async fn value(client: &tokio_postgres::Client) -> String {
    let messages = client.simple_query(SQL).await.expect("the query");
    messages
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap_or_default()
}

/// The origin backends of `db` (pid and start), one line each.
fn backends(origin: &PgOrigin, db: &str) -> String {
    let sql = format!(
        "SELECT pid || ' ' || backend_start FROM pg_stat_activity WHERE datname = '{db}' ORDER BY pid"
    );
    origin.psql("postgres", &sql).trim().to_owned()
}

/// The hit that starts a refresh is a client's only query: it logs in, reads, and
/// leaves. The refresh still completes (its result is stored) and the pool's one
/// connection goes back to the pool: the same origin backend serves on, no login.
async fn leaving_client_keeps_the_connection(mode: &str) {
    let origin = PgOrigin::shared();
    let (db, proxy, at) = filled(origin, &format!("connect_refresh_end_{mode}"), mode).await;
    let before = backends(origin, &db);
    assert_eq!(before.lines().count(), 1, "{before}");
    let stored = proxy.metric(STORED).await;
    tokio::time::sleep_until((at + IN_WINDOW).into()).await;
    let client = connect(&proxy, &db).await;
    assert_eq!(value(&client).await, "one");
    drop(client);
    proxy.wait_for_metric(REFRESHES, 1.0).await;
    proxy.wait_for_metric(STORED, stored + 1.0).await;
    proxy.wait_for_metric(IDLE, 1.0).await;
    assert_eq!(
        backends(origin, &db),
        before,
        "the connection was closed under the refresh (and another opened)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_left_in_flight_by_a_leaving_client_keeps_its_connection() {
    leaving_client_keeps_the_connection("transaction").await;
}

/// The same under session pooling, where the refresh runs on the session's own
/// connection, reset and given back at its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_pooling_keeps_the_connection_of_a_refresh_left_in_flight() {
    leaving_client_keeps_the_connection("session").await;
}

/// With the pool's one connection held by another client's transaction, a hit in the
/// refresh window is answered and the session goes on: the refresh does not wait for
/// a connection (nor fail the session at the queue timeout). It is left to a later
/// hit, which refreshes once a connection is idle again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refreshing_hit_never_waits_for_a_connection() {
    let origin = PgOrigin::shared();
    let (db, proxy, at) = filled(origin, "connect_refresh_busy", "transaction").await;
    let reader = connect(&proxy, &db).await;
    let stored = proxy.metric(STORED).await;
    tokio::time::sleep_until((at + IN_WINDOW).into()).await;
    let holder = connect(&proxy, &db).await;
    holder.batch_execute("BEGIN; SELECT 1").await.unwrap();
    assert_eq!(proxy.metric(ACTIVE).await, 1.0);
    for _ in 0..3 {
        assert_eq!(
            value(&reader).await,
            "one",
            "a hit while no connection is free"
        );
    }
    assert_eq!(
        proxy.refreshes().await,
        0.0,
        "a refresh waited for a connection"
    );
    holder.batch_execute("COMMIT").await.unwrap();
    proxy.wait_for_metric(IDLE, 1.0).await;
    assert_eq!(value(&reader).await, "one");
    proxy.wait_for_metric(REFRESHES, 1.0).await;
    proxy.wait_for_metric(STORED, stored + 1.0).await;
    proxy.wait_for_metric(IDLE, 1.0).await;
}
