//! Transaction pooling (`pool = "transaction"`) against a real PostgreSQL origin: more
//! clients than connections work at once, a session's named prepared statements and
//! settings follow it to another backend, what cannot move pins it (and is counted by
//! reason), a hit needs no connection at all, and a cancel reaches the backend
//! serving the client. The clients are `pg_pooled_txn_clients`.

use crate::common;

use common::PgOrigin;
use common::pg::password_for;
use common::proxy::Proxy;

pub const USER: &str = "scram_user";
const ACTIVE: &str = "wirecache_pool_connections{cache=\"demo\",state=\"active\"}";
const IDLE: &str = "wirecache_pool_connections{cache=\"demo\",state=\"idle\"}";

/// A proxy whose cache `demo` pools connections per transaction for `user`.
pub async fn txn_pooled(origin: &PgOrigin, user: &str, extra: &str) -> Proxy {
    let lines = format!(
        "pool = \"transaction\"\nuser = \"{user}\"\npassword = \"{}\"\n{extra}",
        password_for(user)
    );
    Proxy::builder()
        .cache_with(
            "demo",
            common::proxy::Protocol::Postgres,
            origin.port,
            &lines,
        )
        .start()
        .await
}

pub async fn connect(proxy: &Proxy, db: &str) -> tokio_postgres::Client {
    let pw = password_for(USER);
    let client = proxy.try_connect("demo", db, USER, Some(&pw)).await;
    client.unwrap_or_else(|e| panic!("transaction-pooled login: {e}"))
}

async fn pid(client: &tokio_postgres::Client) -> i32 {
    client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
}

async fn show(client: &tokio_postgres::Client, name: &str) -> String {
    let sql = format!("SELECT current_setting('{name}', true)");
    let row = client.query_one(&sql, &[]).await.unwrap();
    row.get::<_, Option<String>>(0).unwrap_or_default()
}

/// Another client holds a transaction on the connection idle now (the pool lends
/// the most recently returned first), so the next lease must take another one.
async fn occupy(proxy: &Proxy, db: &str) -> tokio_postgres::Client {
    let other = connect(proxy, db).await;
    other.batch_execute("BEGIN; SELECT 1").await.unwrap();
    other
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_clients_share_four_connections() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("txn_forty");
    origin.psql(
        &db,
        &format!(
            "CREATE TABLE t (c int, n int); GRANT ALL ON t TO {USER}; ALTER DATABASE {db} CONNECTION LIMIT 5"
        ),
    );
    let proxy = txn_pooled(origin, USER, "pool_size = 4\npool_queue_timeout = \"60s\"").await;
    let mut tasks = Vec::new();
    for c in 0..40 {
        let client = connect(&proxy, &db).await;
        tasks.push(tokio::spawn(async move {
            let insert = client
                .prepare("INSERT INTO t VALUES ($1, $2)")
                .await
                .unwrap();
            for n in 0..10i32 {
                client.batch_execute("BEGIN").await.unwrap();
                client.execute(&insert, &[&c, &n]).await.unwrap();
                let count: i64 = client
                    .query_one("SELECT count(*) FROM t WHERE c = $1", &[&c])
                    .await
                    .unwrap()
                    .get(0);
                assert_eq!(count, i64::from(n) + 1, "client {c} reads its own writes");
                client.batch_execute("COMMIT").await.unwrap();
            }
            client
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.expect("a client failed"));
    }
    let total = origin.psql(&db, "SELECT count(*) FROM t");
    assert_eq!(total.trim(), "400");
    assert!(
        super::pg_pooled::backends(origin, &db) <= 4,
        "more backends than pool_size"
    );
    let text = proxy.metrics().await;
    assert!(text.contains(&format!("{ACTIVE} 0")), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_and_settings_follow_the_client_to_another_backend() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("txn_follow");
    let proxy = txn_pooled(origin, USER, "pool_size = 3").await;
    let client = connect(&proxy, &db).await;
    let stmt = client
        .prepare("SELECT $1::int + 1, pg_backend_pid(), current_setting('TimeZone')")
        .await
        .unwrap();
    client
        .batch_execute("SET TimeZone = 'Asia/Tokyo'")
        .await
        .unwrap();
    client
        .batch_execute("SET wirecache.test = 'mine'")
        .await
        .unwrap();
    // A setting changed in a rolled-back transaction does not follow.
    client
        .batch_execute("BEGIN; SET wirecache.gone = 'x'; ROLLBACK")
        .await
        .unwrap();
    let first = pid(&client).await;
    proxy.wait_for_metric(IDLE, 1.0).await;
    let _other = occupy(&proxy, &db).await;
    let row = client.query_one(&stmt, &[&41i32]).await.unwrap();
    let moved: i32 = row.get(1);
    assert_ne!(moved, first, "the session did not move to another backend");
    assert_eq!(row.get::<_, i32>(0), 42);
    assert_eq!(row.get::<_, String>(2), "Asia/Tokyo");
    assert_eq!(show(&client, "wirecache.test").await, "mine");
    assert_eq!(show(&client, "wirecache.gone").await, "");
    // The other client, on the first backend, has none of it.
    assert_eq!(show(&_other, "wirecache.test").await, "");
    drop(_other);
    // Closing the statement is answered; preparing it again works.
    drop(stmt);
    let again = client.prepare("SELECT $1::int * 2").await.unwrap();
    let row = client.query_one(&again, &[&21i32]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
    client.batch_execute("RESET ALL").await.unwrap();
    assert_eq!(show(&client, "wirecache.test").await, "");
}

/// One statement per reason; each pins its session (counted while it lives), and the
/// session keeps its backend while another client comes and goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_pin_reason_pins_and_is_counted() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("txn_pins");
    let proxy = txn_pooled(origin, USER, "pool_size = 4").await;
    let cases = [
        ("temp_table", "CREATE TEMP TABLE tt (a int)"),
        ("advisory_lock", "SELECT pg_advisory_lock(42)"),
        ("listen", "LISTEN wirecache_chan"),
        (
            "hold_cursor",
            "BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT 1; COMMIT",
        ),
        ("sql_prepare", "PREPARE q AS SELECT 7"),
        ("untracked_state", "SELECT set_config('a.b', 'c', false)"),
    ];
    for (reason, sql) in cases {
        let series =
            format!("wirecache_pool_pinned_sessions{{cache=\"demo\",reason=\"{reason}\"}}");
        let client = connect(&proxy, &db).await;
        client.batch_execute(sql).await.unwrap();
        let text = proxy.metrics().await;
        assert!(text.contains(&format!("{series} 1")), "{reason}:\n{text}");
        let before = pid(&client).await;
        let other = connect(&proxy, &db).await;
        other
            .batch_execute("BEGIN; SELECT 1; COMMIT")
            .await
            .unwrap();
        assert_ne!(
            pid(&other).await,
            before,
            "{reason}: a pinned backend was lent"
        );
        assert_eq!(
            pid(&client).await,
            before,
            "{reason}: the pinned session moved"
        );
        drop((client, other));
        for _ in 0..200 {
            if proxy.metric(&series).await == 0.0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(proxy.metric(&series).await, 0.0, "{reason} still counted");
    }
    // A pinned session's connection is reset before it is lent again.
    let client = connect(&proxy, &db).await;
    let leaked = client
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname = 'tt' AND relpersistence = 't'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(leaked.get::<_, i64>(0), 0, "a temporary table leaked");
}

/// With one connection, held by another client's open transaction, and a short
/// queue timeout, a hit is still answered: it needs no connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hit_needs_no_lease() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("txn_hits");
    origin.psql(
        &db,
        &format!("CREATE TABLE k (id int primary key, v text); INSERT INTO k VALUES (1, 'one'); GRANT ALL ON k TO {USER}"),
    );
    let proxy = txn_pooled(origin, USER, "pool_size = 1\npool_queue_timeout = \"1s\"").await;
    let reader = connect(&proxy, &db).await;
    let sql = "SELECT v FROM k WHERE id = 1";
    let filled = reader.simple_query(sql).await.unwrap();
    assert!(!filled.is_empty());
    let stmt = reader
        .prepare("SELECT v FROM k WHERE id = $1")
        .await
        .unwrap();
    let row = reader.query_one(&stmt, &[&1i32]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "one");
    proxy.wait_for_metric(IDLE, 1.0).await;
    let holder = occupy(&proxy, &db).await;
    assert_eq!(proxy.metric(ACTIVE).await, 1.0);
    for _ in 0..50 {
        reader.simple_query(sql).await.expect("a simple hit");
        let row = reader
            .query_one(&stmt, &[&1i32])
            .await
            .expect("a bound hit");
        assert_eq!(row.get::<_, String>(0), "one");
    }
    assert_eq!(proxy.metric(ACTIVE).await, 1.0);
    // A miss does need one: it waits, and fails after the queue timeout.
    let miss = reader.simple_query("SELECT v FROM k WHERE id = 2").await;
    assert!(miss.is_err(), "a miss was answered without a connection");
    drop(holder);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_reaches_the_backend_serving_the_client() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("txn_cancel");
    let proxy = txn_pooled(origin, USER, "pool_size = 2").await;
    let client = connect(&proxy, &db).await;
    // Between transactions the cancel reaches nothing, harmlessly.
    proxy.wait_for_metric(IDLE, 1.0).await;
    let token = client.cancel_token();
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let sleeper = tokio::spawn(async move { client.simple_query("SELECT pg_sleep(30)").await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), sleeper).await;
    let error = result
        .expect("cancel did not end the query")
        .unwrap()
        .err()
        .unwrap();
    assert_eq!(super::pg_pooled::code(&error), "57014");
}

/// 500 clients connected at once share 50 connections of a database that allows 55,
/// each running transactions with no error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_clients_on_fifty_connections() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("txn_500");
    origin.psql(
        &db,
        &format!(
            "CREATE TABLE t (c int); GRANT ALL ON t TO {USER}; ALTER DATABASE {db} CONNECTION LIMIT 55"
        ),
    );
    let proxy = txn_pooled(origin, USER, "pool_size = 50\npool_queue_timeout = \"60s\"").await;
    let mut clients = Vec::new();
    for _ in 0..500 {
        clients.push(connect(&proxy, &db).await);
    }
    let mut tasks = Vec::new();
    for (c, client) in clients.into_iter().enumerate() {
        let c = i32::try_from(c).unwrap_or_default();
        tasks.push(tokio::spawn(async move {
            for _ in 0..2 {
                client
                    .batch_execute(&format!("BEGIN; INSERT INTO t VALUES ({c}); COMMIT"))
                    .await
                    .unwrap();
            }
            let n: i64 = client
                .query_one("SELECT count(*) FROM t WHERE c = $1", &[&c])
                .await
                .unwrap()
                .get(0);
            assert_eq!(n, 2);
        }));
    }
    for t in tasks {
        t.await.expect("a client failed");
    }
    assert_eq!(origin.psql(&db, "SELECT count(*) FROM t").trim(), "1000");
    assert!(super::pg_pooled::backends(origin, &db) <= 50);
}

/// With the origin down, a transaction-pooled session goes on: hits are answered (they
/// need no connection), a miss gets the retryable "unavailable" error, and the
/// session stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_go_on_while_the_origin_is_down() {
    let origin = PgOrigin::private();
    let db = origin.create_db("txn_down");
    origin.psql(
        &db,
        &format!("CREATE TABLE k (id int primary key, v text); INSERT INTO k VALUES (1, 'one'); GRANT ALL ON k TO {USER}"),
    );
    let proxy = txn_pooled(&origin, USER, "").await;
    let client = connect(&proxy, &db).await;
    let sql = "SELECT v FROM k WHERE id = 1";
    client.simple_query(sql).await.unwrap();
    proxy.wait_for_metric(IDLE, 1.0).await;
    origin.stop();
    client
        .simple_query(sql)
        .await
        .expect("a hit with the origin down");
    // The pooled connection the shutdown closed (with a FATAL 57P01, over TLS) is
    // never lent: each miss gets wirecache's own 57P03, and the session goes on.
    for id in 2..4 {
        let miss = client
            .simple_query(&format!("SELECT v FROM k WHERE id = {id}"))
            .await;
        let Err(error) = miss else {
            panic!("a miss was answered with the origin down");
        };
        assert_eq!(super::pg_pooled::code(&error), "57P03", "{error}");
        client
            .simple_query(sql)
            .await
            .expect("a hit after the miss");
    }
    let error = client.simple_query("SELECT 1 FROM k").await.err();
    assert!(error.is_some_and(|e| super::pg_pooled::code(&e) == "57P03"));
}

/// A named statement whose text fails is reported to the client (at its Parse,
/// `pg_pooled_txn_parse`), is not taken as prepared on the connection, and the
/// session and the next statements go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_statement_is_reported_and_forgotten() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("txn_badparse");
    let proxy = txn_pooled(origin, USER, "pool_size = 1").await;
    let client = connect(&proxy, &db).await;
    proxy.wait_for_metric(IDLE, 1.0).await;
    let bad = client.prepare("SELEC 1").await;
    let Err(error) = bad else {
        panic!("a syntax error was prepared");
    };
    assert_eq!(super::pg_pooled::code(&error), "42601", "{error}");
    for _ in 0..3 {
        let good = client.prepare("SELECT $1::int + 1").await.unwrap();
        let row = client.query_one(&good, &[&1i32]).await.unwrap();
        assert_eq!(row.get::<_, i32>(0), 2);
    }
    let again = client.prepare("SELEC 1").await;
    assert!(
        again.is_err(),
        "the failed statement passed the second time"
    );
}
