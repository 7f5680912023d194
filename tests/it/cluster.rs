//! Several instances sharing invalidations through a private Redis (design §10,
//! issue 14): three wirecache instances in front of one origin (PostgreSQL and
//! MariaDB). A write through A, then reads through B and C, in both modes; without
//! the bus, B serves the old row (so these tests can fail); Redis killed and
//! restarted (empty) mid-run; an instance restarted.

use std::time::{Duration, Instant};

use crate::common::origin::{Client, Origin, Via, exec, int};
use crate::common::proxy::Proxy;
use crate::common::redis::Redis;
use crate::consistency::warm;
use crate::for_each_origin;
use wirecache::cluster::BusState;

for_each_origin!(
    strict_write_through_one_is_seen_by_the_others_at_once,
    bounded_write_through_one_reaches_the_others_within_the_bound,
    without_the_bus_another_instance_serves_the_old_row,
    strict_redis_outage_refuses_hits_and_withholds_acks,
    bounded_redis_outage_stops_hits_after_the_window_and_owes_bumps,
    a_restarted_instance_starts_from_the_shared_generations,
);

const SCHEMA: &str = "CREATE TABLE t (id int PRIMARY KEY, v bigint); INSERT INTO t VALUES (1, 0);";
const READ: &str = "SELECT v FROM t WHERE id = 1";

/// One instance, in the cluster of `redis` (none: alone) in `mode`.
async fn instance<O: Origin>(origin: &O, redis: Option<&Redis>, mode: &str, name: &str) -> Proxy {
    let mut b = origin.proxy().settings("min_ttl = \"30s\"");
    if let Some(r) = redis {
        b = b.toml(&r.cluster_table(mode, name));
    }
    let p = b.start().await;
    if redis.is_some() {
        wait_state(&p, BusState::Up).await;
    }
    p
}

/// Three instances and a fresh database holding [`SCHEMA`].
async fn three<O: Origin>(
    redis: Option<&Redis>,
    mode: &str,
    prefix: &str,
) -> (&'static O, String, [Proxy; 3]) {
    let origin = O::shared();
    let db = origin.create_db(prefix);
    origin.run(&db, SCHEMA);
    let a = instance(origin, redis, mode, "a").await;
    let b = instance(origin, redis, mode, "b").await;
    let c = instance(origin, redis, mode, "c").await;
    (origin, db, [a, b, c])
}

/// Waits (up to 10 s) until `p`'s bus is in `state`.
async fn wait_state(p: &Proxy, state: BusState) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let cluster = p.engine().cluster().expect("in a cluster");
    while cluster.state() != state {
        assert!(Instant::now() < deadline, "bus never reached {state:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn update(v: i64) -> String {
    format!("UPDATE t SET v = {v} WHERE id = 1")
}

async fn strict_write_through_one_is_seen_by_the_others_at_once<O: Origin>() {
    let redis = Redis::start();
    let (origin, db, [a, b, c]) = three::<O>(Some(&redis), "strict", "cl_strict").await;
    let mut writer = O::connect(&a, &db).await;
    let mut rb = O::connect(&b, &db).await;
    let mut rc = O::connect(&c, &db).await;
    for v in 1..=5 {
        // Hits on B and C (strict hits are served once the bus vouched).
        warm(origin, &b, &mut rb, &db, READ).await;
        warm(origin, &c, &mut rc, &db, READ).await;
        exec(&mut writer, Via::Text, &update(v)).await;
        // No retry: the first read after the acknowledgement must be current.
        for via in [Via::Text, Via::Prepared] {
            assert_eq!(
                int(&mut rb, via, READ).await,
                v,
                "B {via:?} after write {v}"
            );
            assert_eq!(
                int(&mut rc, via, READ).await,
                v,
                "C {via:?} after write {v}"
            );
        }
    }
}

/// Reads through `c` until it returns `want`; how long that took.
async fn until<C: Client>(c: &mut C, want: i64, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let got = int(c, Via::Text, READ).await;
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "still {got}, not {want}, after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn bounded_write_through_one_reaches_the_others_within_the_bound<O: Origin>() {
    let redis = Redis::start();
    let (origin, db, [a, b, c]) = three::<O>(Some(&redis), "bounded", "cl_bounded").await;
    let mut writer = O::connect(&a, &db).await;
    let mut rb = O::connect(&b, &db).await;
    let mut rc = O::connect(&c, &db).await;
    for v in 1..=5 {
        warm(origin, &b, &mut rb, &db, READ).await;
        warm(origin, &c, &mut rc, &db, READ).await;
        exec(&mut writer, Via::Text, &update(v)).await;
        until(&mut rb, v, Duration::from_secs(2)).await;
        until(&mut rc, v, Duration::from_secs(2)).await;
    }
    let lag = "wirecache_cluster_invalidation_lag_seconds_count{instance=\"b\"} ";
    assert!(b.metric(lag).await >= 5.0, "{}", b.metrics().await);
}

/// The same steps with every instance alone: B serves the pre-write row, which is
/// what the tests above would catch if the bus failed to carry a write.
async fn without_the_bus_another_instance_serves_the_old_row<O: Origin>() {
    let (origin, db, [a, b, _c]) = three::<O>(None, "", "cl_alone").await;
    let mut writer = O::connect(&a, &db).await;
    let mut rb = O::connect(&b, &db).await;
    assert_eq!(warm(origin, &b, &mut rb, &db, READ).await, 0);
    exec(&mut writer, Via::Text, &update(1)).await;
    assert_eq!(
        int(&mut rb, Via::Text, READ).await,
        0,
        "B served the stale row"
    );
    assert_eq!(int(&mut writer, Via::Text, READ).await, 1);
}

async fn strict_redis_outage_refuses_hits_and_withholds_acks<O: Origin>() {
    let redis = Redis::start();
    let (origin, db, [a, b, _c]) = three::<O>(Some(&redis), "strict", "cl_s_out").await;
    let mut rb = O::connect(&b, &db).await;
    assert_eq!(warm(origin, &b, &mut rb, &db, READ).await, 0);
    redis.kill();
    wait_state(&a, BusState::Down).await;
    wait_state(&b, BusState::Down).await;
    // The proxy keeps relaying; B's hits stop.
    let hits = b.hits().await;
    assert_eq!(int(&mut rb, Via::Text, READ).await, 0);
    assert_eq!(b.hits().await, hits, "a strict hit while the bus is down");
    // A write reaches the origin, but its acknowledgement is withheld.
    let mut writer = O::connect(&a, &db).await;
    let failed = writer.execute(Via::Text, &update(1), &[]).await;
    assert!(
        failed.is_err(),
        "a strict write was acknowledged without the bus"
    );
    assert_eq!(
        int(&mut rb, Via::Text, READ).await,
        1,
        "B read from the origin"
    );
    // Redis comes back empty (a new epoch): everything local is void, hits resume.
    redis.restart();
    wait_state(&a, BusState::Up).await;
    wait_state(&b, BusState::Up).await;
    let mut writer = O::connect(&a, &db).await;
    assert_eq!(warm(origin, &b, &mut rb, &db, READ).await, 1);
    exec(&mut writer, Via::Text, &update(2)).await;
    assert_eq!(int(&mut rb, Via::Text, READ).await, 2);
}

async fn bounded_redis_outage_stops_hits_after_the_window_and_owes_bumps<O: Origin>() {
    let redis = Redis::start();
    let (origin, db, [a, b, _c]) = three::<O>(Some(&redis), "bounded", "cl_b_out").await;
    let mut rb = O::connect(&b, &db).await;
    let mut writer = O::connect(&a, &db).await;
    assert_eq!(warm(origin, &b, &mut rb, &db, READ).await, 0);
    redis.kill();
    wait_state(&a, BusState::Down).await;
    // Acknowledged anyway (bounded), the bump is owed.
    exec(&mut writer, Via::Text, &update(1)).await;
    // B stops serving hits once the stale window (300 ms) has passed.
    until(&mut rb, 1, Duration::from_secs(3)).await;
    let owed = "wirecache_cluster_owed{instance=\"a\"} ";
    assert!(a.metric(owed).await >= 1.0, "{}", a.metrics().await);
    redis.restart();
    wait_state(&a, BusState::Up).await;
    wait_state(&b, BusState::Up).await;
    a.wait_for_metric("wirecache_cluster_published_total{instance=\"a\"} ", 1.0)
        .await;
    assert_eq!(warm(origin, &b, &mut rb, &db, READ).await, 1);
    exec(&mut writer, Via::Text, &update(2)).await;
    until(&mut rb, 2, Duration::from_secs(2)).await;
}

async fn a_restarted_instance_starts_from_the_shared_generations<O: Origin>() {
    let redis = Redis::start();
    let (origin, db, [a, b, c]) = three::<O>(Some(&redis), "strict", "cl_restart").await;
    let mut writer = O::connect(&a, &db).await;
    exec(&mut writer, Via::Text, &update(1)).await;
    c.running.shutdown().await;
    exec(&mut writer, Via::Text, &update(2)).await;
    let c = instance(origin, Some(&redis), "strict", "c").await;
    let mut rc = O::connect(&c, &db).await;
    assert_eq!(warm(origin, &c, &mut rc, &db, READ).await, 2);
    exec(&mut writer, Via::Text, &update(3)).await;
    assert_eq!(int(&mut rc, Via::Text, READ).await, 3);
    let mut rb = O::connect(&b, &db).await;
    assert_eq!(int(&mut rb, Via::Text, READ).await, 3);
}
