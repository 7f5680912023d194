//! The shared result tier (issue 14, L2) against a private Redis and PostgreSQL /
//! MariaDB: a fresh instance answers what another filled without asking the origin
//! (the origin's own statement counter proves it); a write through one instance is
//! never hidden by the tier on the others, in both modes; a corrupt value, another
//! version's, and another key's entry under the same Redis key are misses; an entry
//! over the size bound is not written; with Redis killed, reads stay correct; the
//! writing instance never takes the pre-write entry from the tier while its own bump
//! is on its way back to it.

use std::time::{Duration, Instant};

use crate::common::origin::{Client, Origin, Via, exec, int};
use crate::common::proxy::Proxy;
use crate::common::redis::Redis;
use crate::for_each_origin;
use wirecache::cluster::BusState;

for_each_origin!(
    a_fresh_instance_answers_from_the_shared_tier_without_the_origin,
    strict_a_write_through_a_is_seen_through_b_and_c_at_once,
    bounded_a_write_through_a_is_seen_through_b_and_c_within_the_bound,
    corrupt_foreign_version_and_other_key_values_are_misses,
    an_entry_over_the_size_bound_is_not_written,
    with_redis_killed_reads_stay_correct_through_the_origin,
    bounded_the_writer_reads_its_write_at_once_through_its_own_instance,
);

const SCHEMA: &str = "CREATE TABLE l2_items (id int PRIMARY KEY, v bigint);
                      INSERT INTO l2_items VALUES (1, 0), (2, 200);";
const READ: &str = "SELECT v FROM l2_items WHERE id = 1";
const READ2: &str = "SELECT v FROM l2_items WHERE id = 2";

fn update(v: i64) -> String {
    format!("UPDATE l2_items SET v = {v} WHERE id = 1")
}

/// One instance with the shared tier, in the cluster of `redis` in `mode`.
async fn instance<O: Origin>(origin: &O, redis: &Redis, mode: &str, name: &str) -> Proxy {
    instance_with(origin, redis, mode, name, "").await
}

async fn instance_with<O: Origin>(
    origin: &O,
    redis: &Redis,
    mode: &str,
    name: &str,
    more: &str,
) -> Proxy {
    // A generous timeout: a debug build on a loaded machine, and a timed-out lookup
    // would read the origin, which these tests count.
    let table = format!(
        "{}l2 = true\nl2_timeout = \"2s\"\n{more}",
        redis.cluster_table(mode, name)
    );
    let p = origin
        .proxy()
        .settings("min_ttl = \"30s\"")
        .toml(&table)
        .start()
        .await;
    wait_state(&p, BusState::Up).await;
    p
}

async fn wait_state(p: &Proxy, state: BusState) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let cluster = p.engine().cluster().expect("in a cluster");
    while cluster.state() != state {
        assert!(Instant::now() < deadline, "bus never reached {state:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `series` of instance `name`: `wirecache_cluster_l2_<what>{instance="name"<labels>}`.
async fn l2(p: &Proxy, name: &str, what: &str, labels: &str) -> f64 {
    let series = format!("wirecache_cluster_l2_{what}{{instance=\"{name}\"{labels}}} ");
    p.metric(&series).await
}

/// Waits until instance `name` has written `n` entries to the tier.
async fn written(p: &Proxy, name: &str, n: f64) {
    let series = format!("wirecache_cluster_l2_writes_total{{instance=\"{name}\"}} ");
    p.wait_for_metric(&series, n).await;
}

/// The tier's keys in Redis.
async fn l2_keys(redis: &Redis) -> Vec<String> {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("wirecache:l2:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    keys
}

async fn redis_cmd<T: redis::FromRedisValue>(redis: &Redis, cmd: &mut redis::Cmd) -> T {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    cmd.query_async(&mut conn).await.unwrap()
}

async fn fresh<O: Origin>(prefix: &str) -> (&'static O, String) {
    let origin = O::shared();
    let db = origin.create_db(prefix);
    origin.run(&db, SCHEMA);
    (origin, db)
}

/// Reads `sql` as text and returns it with how many SELECTs of `l2_items` the origin
/// ran for it.
async fn read_counted<O: Origin>(origin: &O, c: &mut O::Client, db: &str, sql: &str) -> (i64, i64) {
    c.settle().await;
    let before = origin.selects_of(db, "l2_items");
    let v = int(c, Via::Text, sql).await;
    c.settle().await;
    (v, origin.selects_of(db, "l2_items") - before)
}

async fn a_fresh_instance_answers_from_the_shared_tier_without_the_origin<O: Origin>() {
    let redis = Redis::start();
    let (origin, db) = fresh::<O>("l2_fresh").await;
    let a = instance(origin, &redis, "bounded", "a").await;
    let mut ca = O::connect(&a, &db).await;
    let (v, ran) = read_counted(origin, &mut ca, &db, READ).await;
    assert_eq!((v, ran), (0, 1), "A fills from the origin");
    assert_eq!(int(&mut ca, Via::Prepared, READ).await, 0);
    written(&a, "a", 2.0).await;
    // A fresh instance: its first read is answered from the tier.
    let b = instance(origin, &redis, "bounded", "b").await;
    let mut cb = O::connect(&b, &db).await;
    let (v, ran) = read_counted(origin, &mut cb, &db, READ).await;
    assert_eq!(v, 0);
    assert_eq!(ran, 0, "B asked the origin: {}", b.metrics().await);
    assert_eq!(l2(&b, "b", "hits_total", "").await, 1.0);
    assert_eq!(int(&mut cb, Via::Prepared, READ).await, 0);
    assert_eq!(l2(&b, "b", "hits_total", "").await, 2.0, "prepared too");
    // Then it is a local hit: the tier is not asked again (settled first: the
    // driver's Close of its statement may still be owed, and a request behind it is
    // not looked up).
    cb.settle().await;
    let hits = b.hits().await;
    assert_eq!(int(&mut cb, Via::Text, READ).await, 0);
    assert!(b.hits().await > hits, "{}", b.metrics().await);
    assert_eq!(l2(&b, "b", "hits_total", "").await, 2.0);
    // Another connection of the same user shares the namespace, hence the entry.
    let c = instance(origin, &redis, "bounded", "c").await;
    let mut cc = O::connect(&c, &db).await;
    let (v, ran) = read_counted(origin, &mut cc, &db, READ).await;
    assert_eq!((v, ran), (0, 0), "C: {}", c.metrics().await);
}

/// Rounds of: fill through A (the tier gets the current row), write through A,
/// read through B and C, which must not be answered the pre-write row by the tier.
async fn write_rounds<O: Origin>(mode: &str, prefix: &str) {
    let redis = Redis::start();
    let (origin, db) = fresh::<O>(prefix).await;
    let a = instance(origin, &redis, mode, "a").await;
    let b = instance(origin, &redis, mode, "b").await;
    let c = instance(origin, &redis, mode, "c").await;
    let mut writer = O::connect(&a, &db).await;
    let all = [(&a, "a"), (&b, "b"), (&c, "c")];
    for v in 1..=5 {
        // A fills (from the origin, or from the tier that B and C filled in the
        // previous round): either way the tier holds the pre-write row once A wrote
        // its entry or took one.
        let (writes, hits) = (
            l2_total(&all, "writes_total").await,
            l2(&a, "a", "hits_total", "").await,
        );
        let mut ca = O::connect(&a, &db).await;
        assert_eq!(int(&mut ca, Via::Text, READ).await, v - 1);
        let deadline = Instant::now() + Duration::from_secs(10);
        while l2_total(&all, "writes_total").await == writes
            && l2(&a, "a", "hits_total", "").await == hits
        {
            assert!(
                Instant::now() < deadline,
                "A neither wrote nor read the tier"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        exec(&mut writer, Via::Text, &update(v)).await;
        // Fresh connections, and B and C never read this row locally before the
        // write: only the tier could answer them the old one.
        let mut rb = O::connect(&b, &db).await;
        let mut rc = O::connect(&c, &db).await;
        for (name, r) in [("B", &mut rb), ("C", &mut rc)] {
            if mode == "strict" {
                assert_eq!(int(r, Via::Text, READ).await, v, "{name} after write {v}");
            } else {
                until(r, v, Duration::from_secs(2)).await;
            }
        }
    }
    // The tier was asked and refused the pre-write entries for their generations.
    let stale = ",reason=\"stale\"";
    let refused =
        l2(&b, "b", "misses_total", stale).await + l2(&c, "c", "misses_total", stale).await;
    assert!(refused >= 5.0, "{}", b.metrics().await);
}

/// `what` summed over instances.
async fn l2_total(all: &[(&Proxy, &str)], what: &str) -> f64 {
    let mut n = 0.0;
    for (p, name) in all {
        n += l2(p, name, what, "").await;
    }
    n
}

async fn until<C: Client>(c: &mut C, want: i64, limit: Duration) {
    let start = Instant::now();
    loop {
        let got = int(c, Via::Text, READ).await;
        if got == want {
            return;
        }
        assert!(start.elapsed() < limit, "still {got}, not {want}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn strict_a_write_through_a_is_seen_through_b_and_c_at_once<O: Origin>() {
    write_rounds::<O>("strict", "l2_strict").await;
}

async fn bounded_a_write_through_a_is_seen_through_b_and_c_within_the_bound<O: Origin>() {
    write_rounds::<O>("bounded", "l2_bounded").await;
}

async fn corrupt_foreign_version_and_other_key_values_are_misses<O: Origin>() {
    let redis = Redis::start();
    let (origin, db) = fresh::<O>("l2_corrupt").await;
    let a = instance(origin, &redis, "bounded", "a").await;
    let mut ca = O::connect(&a, &db).await;
    assert_eq!(int(&mut ca, Via::Text, READ).await, 0);
    written(&a, "a", 1.0).await;
    let keys = l2_keys(&redis).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key = keys[0].clone();
    assert_eq!(int(&mut ca, Via::Text, READ2).await, 200);
    written(&a, "a", 2.0).await;
    let other = l2_keys(&redis)
        .await
        .into_iter()
        .find(|k| *k != key)
        .unwrap();
    let cases: [(&str, &str); 4] = [
        ("flip", "corrupt"),
        ("foreign", "corrupt"),
        ("version", "version"),
        ("other_key", "collision"),
    ];
    for (i, (how, reason)) in cases.into_iter().enumerate() {
        let value: Vec<u8> = redis_cmd(&redis, redis::cmd("GET").arg(&other)).await;
        let mut mine: Vec<u8> = redis_cmd(&redis, redis::cmd("GET").arg(&key)).await;
        match how {
            "flip" => {
                let at = mine.len() / 2;
                mine[at] ^= 0x20;
            }
            "foreign" => mine = b"{\"json\": \"from another program\"}".to_vec(),
            "version" => mine[4] = 9,
            _ => mine = value,
        }
        let _: () = redis_cmd(
            &redis,
            redis::cmd("SET").arg(&key).arg(mine).arg("PX").arg(60_000),
        )
        .await;
        let name = format!("r{i}");
        let r = instance(origin, &redis, "bounded", &name).await;
        let mut cr = O::connect(&r, &db).await;
        let (v, ran) = read_counted(origin, &mut cr, &db, READ).await;
        assert_eq!(v, 0, "{how}: another query's row");
        assert_eq!(ran, 1, "{how}: read from the origin");
        let label = format!(",reason=\"{reason}\"");
        assert_eq!(l2(&r, &name, "misses_total", &label).await, 1.0, "{how}");
        assert_eq!(l2(&r, &name, "hits_total", "").await, 0.0, "{how}");
        // R's own fill writes a good entry over it; the next case spoils it again.
        written(&r, &name, 1.0).await;
    }
}

async fn an_entry_over_the_size_bound_is_not_written<O: Origin>() {
    let redis = Redis::start();
    let (origin, db) = fresh::<O>("l2_big").await;
    origin.run(
        &db,
        "CREATE TABLE l2_big (id int PRIMARY KEY, s varchar(8000));
         INSERT INTO l2_big VALUES (1, 'small');",
    );
    origin.run(
        &db,
        &format!("INSERT INTO l2_big VALUES (2, '{}');", "x".repeat(4000)),
    );
    let a = instance_with(
        origin,
        &redis,
        "bounded",
        "a",
        "l2_max_entry_size = \"2KiB\"\n",
    )
    .await;
    let mut ca = O::connect(&a, &db).await;
    let big = "SELECT s FROM l2_big WHERE id = 2";
    let rows = ca.query(Via::Text, big, &[]).await.unwrap();
    assert_eq!(rows[0][0].as_deref().map(str::len), Some(4000));
    let rows = ca
        .query(Via::Text, "SELECT s FROM l2_big WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(rows[0][0].as_deref(), Some("small"));
    // The small one is written (the writer works), the large one is not.
    written(&a, "a", 1.0).await;
    assert_eq!(
        l2(&a, "a", "dropped_total", ",reason=\"too_large\"").await,
        1.0
    );
    assert_eq!(l2_keys(&redis).await.len(), 1);
    // Served locally all the same.
    let hits = a.hits().await;
    ca.query(Via::Text, big, &[]).await.unwrap();
    assert!(a.hits().await > hits);
}

async fn with_redis_killed_reads_stay_correct_through_the_origin<O: Origin>() {
    let redis = Redis::start();
    let (origin, db) = fresh::<O>("l2_kill").await;
    let a = instance(origin, &redis, "bounded", "a").await;
    let b = instance(origin, &redis, "bounded", "b").await;
    let mut ca = O::connect(&a, &db).await;
    assert_eq!(int(&mut ca, Via::Text, READ).await, 0);
    written(&a, "a", 1.0).await;
    redis.kill();
    wait_state(&a, BusState::Down).await;
    wait_state(&b, BusState::Down).await;
    // Acknowledged anyway (bounded: the bump is owed); B must not take the old row
    // from anywhere, and the proxy keeps relaying.
    exec(&mut ca, Via::Text, &update(1)).await;
    let mut cb = O::connect(&b, &db).await;
    assert_eq!(int(&mut cb, Via::Text, READ).await, 1);
    assert_eq!(int(&mut cb, Via::Prepared, READ).await, 1);
    assert_eq!(l2(&b, "b", "hits_total", "").await, 0.0);
    // Back, empty: the tier fills again and answers again.
    redis.restart();
    wait_state(&a, BusState::Up).await;
    wait_state(&b, BusState::Up).await;
    // The owed bump recorded first (it moves the generations the tier checks).
    a.wait_for_metric("wirecache_cluster_owed{instance=\"a\"} ", 0.0)
        .await;
    exec(&mut ca, Via::Text, &update(2)).await;
    let mut cb = O::connect(&b, &db).await;
    until(&mut cb, 2, Duration::from_secs(3)).await;
    let c = instance(origin, &redis, "bounded", "c").await;
    let mut cc = O::connect(&c, &db).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while l2_keys(&redis).await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "nothing written after the restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(int(&mut cc, Via::Text, READ).await, 2);
    assert_eq!(
        l2(&c, "c", "hits_total", "").await,
        1.0,
        "{}",
        c.metrics().await
    );
}

/// Bounded mode promises read-your-writes on the writer's own instance without any
/// delay: right after the acknowledgement, the tier holds B's pre-write entry
/// stamped with the generations A's view still shows until A's own bump comes back
/// through the subscription. A must not take it meanwhile.
async fn bounded_the_writer_reads_its_write_at_once_through_its_own_instance<O: Origin>() {
    let redis = Redis::start();
    let (origin, db) = fresh::<O>("l2_own").await;
    let a = instance(origin, &redis, "bounded", "a").await;
    let b = instance(origin, &redis, "bounded", "b").await;
    let mut writer = O::connect(&a, &db).await;
    let mut rb = O::connect(&b, &db).await;
    for v in 1..=30 {
        // B holds the current row and the tier gets it (or B took it from there).
        let before = l2(&b, "b", "writes_total", "").await + l2(&b, "b", "hits_total", "").await;
        until(&mut rb, v - 1, Duration::from_secs(2)).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while l2(&b, "b", "writes_total", "").await + l2(&b, "b", "hits_total", "").await == before
        {
            assert!(
                Instant::now() < deadline,
                "B neither wrote nor read the tier"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        exec(&mut writer, Via::Text, &update(v)).await;
        assert_eq!(
            int(&mut writer, Via::Text, READ).await,
            v,
            "A after its write {v}"
        );
    }
}
