//! PostgreSQL sessions through an origin outage: a cut link (shared origin) and a
//! real fast shutdown of a private origin.

use crate::common;

use common::PgOrigin;
use common::proxy::Protocol;
use common::proxy::{Proxy, http_get};
use tokio_postgres::{Client, SimpleQueryMessage};

use super::guarded;
use super::link::Link;

/// The first column of the first row of a simple query.
async fn first(c: &Client, sql: &str) -> Result<String, tokio_postgres::Error> {
    let msgs = guarded(sql, c.simple_query(sql)).await?;
    let row = msgs.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("").to_string()),
        _ => None,
    });
    Ok(row.unwrap_or_default())
}

fn code(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.code().code().to_string())
        .unwrap_or_else(|| format!("no SQLSTATE: {e:?}"))
}

/// The error `sql` must get: 57P03, the session staying open.
async fn unavailable(c: &Client, sql: &str) {
    let e = first(c, sql).await.expect_err(sql);
    assert_eq!(code(&e), "57P03", "{sql}: {e:?}");
    assert!(!c.is_closed(), "{sql} closed the session");
}

/// Waits (within the guard) until `c`'s connection is closed.
async fn closes(c: &Client) {
    guarded("session closes once the origin is back", async {
        while !c.is_closed() {
            let _ = c.simple_query("SELECT 1").await;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_origin_leaves_cached_reads_answered_and_refuses_the_rest() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("outage_cut");
    origin.psql(&db, "CREATE TABLE r (v int); INSERT INTO r VALUES (1);");
    let link = Link::start(origin.port).await;
    let proxy = Proxy::builder()
        .cache("demo", Protocol::Postgres, link.port)
        .start()
        .await;
    let c = proxy.connect(&db, "postgres").await;
    let in_txn = proxy.connect(&db, "postgres").await;
    let by_value = c.prepare("SELECT v FROM r WHERE v = $1").await.unwrap();
    for _ in 0..2 {
        assert_eq!(first(&c, "SELECT v FROM r").await.unwrap(), "1");
        assert_eq!(c.query(&by_value, &[&1i32]).await.unwrap().len(), 1);
    }
    in_txn.batch_execute("BEGIN").await.unwrap();
    assert_eq!(first(&in_txn, "SELECT v FROM r").await.unwrap(), "1");

    link.cut();
    let offline = "wirecache_sessions_offline_total{cache=\"demo\"} ";
    proxy.wait_for_metric(offline, 1.0).await;
    // Cached reads, simple and prepared, are answered; the rest get 57P03 at once.
    assert_eq!(first(&c, "SELECT v FROM r").await.unwrap(), "1");
    let rows = guarded("prepared hit", c.query(&by_value, &[&1i32])).await;
    assert_eq!(rows.unwrap().len(), 1);
    unavailable(&c, "SELECT v + 1 FROM r").await;
    unavailable(&c, "INSERT INTO r VALUES (2)").await;
    unavailable(&c, "BEGIN").await;
    let e = guarded("extended miss", c.query(&by_value, &[&5i32])).await;
    assert_eq!(code(&e.unwrap_err()), "57P03");
    assert_eq!(
        first(&c, "SELECT v FROM r").await.unwrap(),
        "1",
        "still served"
    );
    // The session in a transaction is told and closed: its transaction is gone.
    assert!(first(&in_txn, "SELECT v FROM r").await.is_err());
    assert!(in_txn.is_closed());
    // A new login cannot reach the origin: a connection error, at once.
    let e = guarded("login", proxy.try_connect("demo", &db, "postgres", None)).await;
    assert_eq!(code(&e.unwrap_err()), "08006");
    let ready = http_get(proxy.admin(), "/readyz").await;
    assert!(ready.contains("cache demo: origin down since"), "{ready}");
    let caches = http_get(proxy.admin(), "/api/caches").await;
    assert!(caches.contains("\"up\":false"), "{caches}");
    assert!(
        proxy
            .metric("wirecache_unavailable_total{cache=\"demo\"} ")
            .await
            >= 4.0
    );
    assert_eq!(
        proxy.metric("wirecache_origin_up{cache=\"demo\"} ").await,
        0.0
    );

    link.restore().await;
    // Offline sessions cannot log in again (wirecache holds no password): closed.
    closes(&c).await;
    let c2 = proxy.connect(&db, "postgres").await;
    assert_eq!(first(&c2, "SELECT count(*) FROM r").await.unwrap(), "1");
    let ready = http_get(proxy.admin(), "/readyz").await;
    assert!(
        ready.contains("cache demo: origin up (last failure: "),
        "{ready}"
    );
    assert_eq!(
        proxy.metric("wirecache_origin_up{cache=\"demo\"} ").await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_entries_serve_within_serve_stale_and_never_after_a_write() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("outage_stale");
    origin.psql(
        &db,
        "CREATE TABLE kept (v int); INSERT INTO kept VALUES (1);
         CREATE TABLE written (v int); INSERT INTO written VALUES (1);",
    );
    let link = Link::start(origin.port).await;
    let proxy = Proxy::builder()
        .cache_with(
            "stale",
            Protocol::Postgres,
            link.port,
            "serve_stale = \"1h\"",
        )
        .cache("fresh", Protocol::Postgres, link.port)
        .toml("[[rules]]\npattern = \"*\"\naction = \"cache\"\nttl = \"1s\"")
        .start()
        .await;
    let connect = |cache: &'static str| {
        let proxy = &proxy;
        let db = db.clone();
        async move {
            proxy
                .try_connect(cache, &db, "postgres", None)
                .await
                .unwrap()
        }
    };
    let (a, b) = (connect("stale").await, connect("fresh").await);
    for sql in ["SELECT v FROM kept", "SELECT v FROM written"] {
        assert_eq!(first(&a, sql).await.unwrap(), "1");
    }
    assert_eq!(first(&b, "SELECT v FROM kept").await.unwrap(), "1");
    a.batch_execute("UPDATE written SET v = 2").await.unwrap();
    // Past every entry's TTL (a wait, not a timing assertion).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    link.cut();
    for cache in ["stale", "fresh"] {
        let series = format!("wirecache_sessions_offline_total{{cache=\"{cache}\"}} ");
        proxy.wait_for_metric(&series, 1.0).await;
    }
    assert_eq!(first(&a, "SELECT v FROM kept").await.unwrap(), "1", "stale");
    let stale = "wirecache_stale_served_total{cache=\"stale\"} ";
    assert_eq!(proxy.metric(stale).await, 1.0);
    // Invalidated by a write: never served stale.
    unavailable(&a, "SELECT v FROM written").await;
    // serve_stale off: an expired entry is gone.
    unavailable(&b, "SELECT v FROM kept").await;
    assert_eq!(proxy.metric(stale).await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_origin_keeps_cached_reads_answered_until_it_is_back() {
    let origin = PgOrigin::private();
    let db = origin.create_db("outage_stop");
    origin.psql(&db, "CREATE TABLE r (v int); INSERT INTO r VALUES (1);");
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
    let c = proxy.connect(&db, "postgres").await;
    for _ in 0..2 {
        assert_eq!(first(&c, "SELECT v FROM r").await.unwrap(), "1");
    }
    // Fast shutdown: the origin sends its FATAL 57P01 and closes.
    origin.stop();
    proxy
        .wait_for_metric("wirecache_sessions_offline_total{cache=\"demo\"} ", 1.0)
        .await;
    assert_eq!(first(&c, "SELECT v FROM r").await.unwrap(), "1");
    unavailable(&c, "SELECT v FROM r WHERE v > 0").await;
    let e = guarded("login", proxy.try_connect("demo", &db, "postgres", None)).await;
    assert_eq!(code(&e.unwrap_err()), "08006");
    origin.start();
    closes(&c).await;
    let c2 = proxy.connect(&db, "postgres").await;
    assert_eq!(
        first(&c2, "SELECT v FROM r WHERE v > 0").await.unwrap(),
        "1"
    );
}

/// One request of the randomized outage run, and what it must get.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// A cached simple read: its row.
    CachedSimple,
    /// A cached prepared read: its row.
    CachedPrepared,
    /// A simple read never run before: 57P03.
    MissSimple(u32),
    /// A prepared read with a value never run before: 57P03.
    MissPrepared(i32),
    /// A write: 57P03, and it never reaches the origin.
    Write(u32),
}

/// Random requests, pipelined in bursts on one offline session: every answer is the
/// cached row or 57P03, in order, and nothing hangs or reaches the origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomized_pipelines_without_an_origin_get_exactly_their_answers() {
    use futures_util::future::join_all;
    let origin = PgOrigin::shared();
    let db = origin.create_db("outage_random");
    origin.psql(&db, "CREATE TABLE r (v int); INSERT INTO r VALUES (1);");
    let link = Link::start(origin.port).await;
    let proxy = Proxy::builder()
        .cache("demo", Protocol::Postgres, link.port)
        .start()
        .await;
    let c = proxy.connect(&db, "postgres").await;
    let by_value = c.prepare("SELECT v FROM r WHERE v >= $1").await.unwrap();
    for _ in 0..2 {
        assert_eq!(first(&c, "SELECT v FROM r").await.unwrap(), "1");
        assert_eq!(c.query(&by_value, &[&1i32]).await.unwrap().len(), 1);
    }
    link.cut();
    proxy
        .wait_for_metric("wirecache_sessions_offline_total{cache=\"demo\"} ", 1.0)
        .await;
    let seed = std::env::var("WIRECACHE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let mut state = seed | 1;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    for burst in 0..40 {
        let ops: Vec<Op> = (0..1 + next(8))
            .map(|i| {
                let tag = (burst * 8 + i) as u32;
                match next(5) {
                    0 => Op::CachedSimple,
                    1 => Op::CachedPrepared,
                    2 => Op::MissSimple(tag),
                    3 => Op::MissPrepared(-(tag as i32) - 1),
                    _ => Op::Write(tag),
                }
            })
            .collect();
        let answers = join_all(ops.iter().map(|op| {
            let (c, by_value) = (&c, &by_value);
            async move {
                match *op {
                    Op::CachedSimple => first(c, "SELECT v FROM r").await,
                    Op::CachedPrepared => {
                        let rows = c.query(by_value, &[&1i32]).await?;
                        Ok(rows[0].get::<_, i32>(0).to_string())
                    }
                    Op::MissSimple(t) => first(c, &format!("SELECT v + {t} FROM r")).await,
                    Op::MissPrepared(v) => {
                        let rows = c.query(by_value, &[&v]).await?;
                        Ok(format!("{} rows", rows.len()))
                    }
                    Op::Write(t) => first(c, &format!("INSERT INTO r VALUES ({t})")).await,
                }
            }
        }));
        let answers = guarded("a burst of requests", answers).await;
        for (op, answer) in ops.iter().zip(answers) {
            match (op, answer) {
                (Op::CachedSimple | Op::CachedPrepared, Ok(v)) => assert_eq!(v, "1"),
                (Op::MissSimple(_) | Op::MissPrepared(_) | Op::Write(_), Err(e)) => {
                    assert_eq!(code(&e), "57P03", "seed {seed}: {op:?}")
                }
                (op, answer) => panic!("seed {seed}: {op:?} got {answer:?}"),
            }
        }
        assert!(!c.is_closed(), "seed {seed}");
    }
    link.restore().await;
    closes(&c).await;
    let c2 = proxy.connect(&db, "postgres").await;
    assert_eq!(first(&c2, "SELECT count(*) FROM r").await.unwrap(), "1");
}
