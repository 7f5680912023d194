//! Missed bus messages (issue 14): a bump recorded in Redis whose message never
//! arrived, as when a subscriber's output buffer overflows (a fault a real peer does
//! not produce on demand, so the test moves Redis's generations and sequence itself
//! and writes behind wirecache's back to make the missed bump matter). The next
//! message shows a sequence gap and the subscriber re-reads the shared generations;
//! with no next message, Redis's sequence staying ahead makes it re-read too.

use std::time::{Duration, Instant};

use crate::common::origin::{Origin, Postgres, Via, exec, int};
use crate::common::proxy::Proxy;
use crate::common::redis::Redis;
use crate::consistency::warm;
use wirecache::cluster::BusState;

const SCHEMA: &str = "CREATE TABLE t (id int PRIMARY KEY, v bigint); INSERT INTO t VALUES (1, 0);
                      CREATE TABLE u (id int PRIMARY KEY); ";
const READ: &str = "SELECT v FROM t WHERE id = 1";

async fn instance(redis: &Redis, mode: &str, name: &str) -> Proxy {
    let p = Postgres::shared()
        .proxy()
        .settings("min_ttl = \"30s\"")
        .toml(&redis.cluster_table(mode, name))
        .start()
        .await;
    let c = p.engine().cluster().expect("cluster");
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.state() != BusState::Up {
        assert!(Instant::now() < deadline, "bus never up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    p
}

/// What the recording script does for a write to table `t` (the database's
/// generation field, the set of databases, the sequence), but publishing nothing.
async fn lose_a_bump(redis: &Redis, db: &str) {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = redis::cmd("SADD")
        .arg("{wirecache}:dbs")
        .arg(format!("demo/{db}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let hash = format!("{{wirecache}}:g:demo/{db}");
    let _: i64 = redis::cmd("HINCRBY")
        .arg(&hash)
        .arg("t:t")
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: i64 = redis::cmd("INCR")
        .arg("{wirecache}:seq")
        .query_async(&mut conn)
        .await
        .unwrap();
}

fn resyncs(reason: &str, name: &str) -> String {
    format!("wirecache_cluster_resyncs_total{{instance=\"{name}\",reason=\"{reason}\"}} ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequence_gap_makes_the_subscriber_reread_the_generations() {
    let redis = Redis::start();
    let origin = Postgres::shared();
    let db = origin.create_db("cl_gap");
    origin.run(&db, SCHEMA);
    let a = instance(&redis, "strict", "a").await;
    let b = instance(&redis, "strict", "b").await;
    let mut rb = <Postgres as Origin>::connect(&b, &db).await;
    assert_eq!(warm(origin, &b, &mut rb, &db, READ).await, 0);
    // A write to t at the origin whose bump reached Redis but not B.
    origin.run(&db, "UPDATE t SET v = 1 WHERE id = 1");
    lose_a_bump(&redis, &db).await;
    // The next bump (another table) arrives with a gap before it.
    let mut wa = <Postgres as Origin>::connect(&a, &db).await;
    exec(&mut wa, Via::Text, "INSERT INTO u VALUES (1)").await;
    assert_eq!(int(&mut rb, Via::Text, READ).await, 1, "B trusted its copy");
    assert!(
        b.metric(&resyncs("gap", "b")).await >= 1.0,
        "{}",
        b.metrics().await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequence_left_behind_makes_the_subscriber_reread_the_generations() {
    let redis = Redis::start();
    let origin = Postgres::shared();
    let db = origin.create_db("cl_lag");
    origin.run(&db, SCHEMA);
    let b = instance(&redis, "bounded", "b").await;
    let mut rb = <Postgres as Origin>::connect(&b, &db).await;
    assert_eq!(warm(origin, &b, &mut rb, &db, READ).await, 0);
    origin.run(&db, "UPDATE t SET v = 1 WHERE id = 1");
    lose_a_bump(&redis, &db).await;
    // No further message: the health check sees Redis ahead and re-reads.
    let start = Instant::now();
    while int(&mut rb, Via::Text, READ).await != 1 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "B never re-read:\n{}",
            b.metrics().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        b.metric(&resyncs("lag", "b")).await >= 1.0,
        "{}",
        b.metrics().await
    );
}
