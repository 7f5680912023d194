//! The randomized differential consistency checker (issue 8) on every protocol:
//! a bounded run per protocol on every `cargo test` (a long one when
//! `WIRECACHE_CHECKER_OPS` / `WIRECACHE_CHECKER_SECONDS` say so, see
//! `scripts/checker.sh`), and self-tests per protocol proving the checker catches
//! known violations: writes sent straight to the origin behind wirecache's back
//! (stale reads), and a cache whose policy `transactions = "always"` serves
//! REPEATABLE READ and SERIALIZABLE transactions (broken snapshots), where the
//! same programs under the default policy pass.

use crate::checker;

use std::sync::Arc;

use checker::driver::{Rig, Target};
use checker::judge::Verdict;
use checker::model::Level;
use checker::mysql::MyTarget;
use checker::pooled::Pool;
use checker::postgres::PgTarget;
use checker::tds::TdsTarget;
use checker::{Config, Outcome, Workload};

/// Runs the checker on `target` and asserts it found nothing wrong.
async fn clean_run<T: Target>(target: T) -> Outcome {
    let cfg = Config::from_env();
    let out = checker::run(Arc::new(target), &cfg).await;
    eprintln!("{}", out.summary());
    assert!(out.aborted.is_none(), "{}\n{}", out.summary(), out.report);
    assert!(
        out.violations == 0 && out.mismatches == 0,
        "{}\n{}",
        out.summary(),
        out.report
    );
    assert!(
        out.stats.unexpected.is_empty(),
        "unexpected errors: {:?}",
        out.stats.unexpected
    );
    assert!(out.hits > 0.0, "the run never read from the cache");
    assert!(out.stats.transactions() > 0 && out.stats.reads_in_tx > 0);
    if cfg.conns >= 3 {
        // Every level ran, and read (MariaDB's levels are per connection).
        for level in Level::ALL {
            let (txs, reads) = out.stats.at_level(level);
            assert!(txs > 0 && reads > 0, "no reads at {}", level.as_str());
        }
    }
    out
}

/// Runs a short autocommit-only program whose writes bypass wirecache, and
/// asserts the checker reports stale reads (and that they came from the cache).
async fn catches_writes_behind_the_proxy<T: Target>(target: T) {
    let cfg = Config {
        seed: 8,
        ops: 1200,
        seconds: None,
        conns: 3,
        round_ops: 400,
        workload: Workload::AutocommitOnly,
        ddl: false,
        progress: false,
    };
    let out = checker::run(Arc::new(target), &cfg).await;
    eprintln!("{}", out.summary());
    assert!(
        out.violations > 0,
        "writes behind wirecache went unnoticed:\n{}",
        out.summary()
    );
    assert!(out.report.contains("stale read of key"), "{}", out.report);
    assert!(out.report.contains("-- replay script"), "{}", out.report);
    assert_eq!(out.mismatches, 0, "{}", out.report);
}

/// The snapshot probe: read-only REPEATABLE READ and SERIALIZABLE transactions
/// that read the hot keys again and again while others update them.
async fn probe<T: Target>(target: T, ops: u64) -> Outcome {
    let cfg = Config {
        seed: 11,
        ops,
        seconds: None,
        conns: 4,
        round_ops: 200,
        workload: Workload::SnapshotProbe,
        ddl: false,
        progress: false,
    };
    let out = checker::run(Arc::new(target), &cfg).await;
    eprintln!("{}", out.summary());
    assert!(out.aborted.is_none(), "{}\n{}", out.summary(), out.report);
    assert_eq!(out.mismatches, 0, "{}", out.report);
    assert!(
        out.stats.unexpected.is_empty(),
        "unexpected errors: {:?}",
        out.stats.unexpected
    );
    out
}

/// Runs the snapshot probe through a cache that serves snapshot transactions
/// (`transactions = "always"`) and asserts the checker reports their snapshots
/// broken (and nothing else); then the same program under the default policy,
/// which must pass.
async fn catches_served_snapshots<T: Target>(always: T, default: T, ops: u64) {
    let out = probe(always, ops).await;
    eprintln!("{}", out.report);
    let broken = out.found(Verdict::SnapshotMoved) + out.found(Verdict::AfterSnapshot);
    assert!(
        broken > 0,
        "snapshots served from the cache went unnoticed:\n{}",
        out.summary()
    );
    assert_eq!(broken, out.violations, "{}\n{}", out.summary(), out.report);
    assert!(out.report.contains("-- replay script"), "{}", out.report);
    let out = probe(default, ops).await;
    assert_eq!(out.violations, 0, "{}\n{}", out.summary(), out.report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_random_programs_read_nothing_stale() {
    clean_run(PgTarget::start(Rig::Plain).await).await;
}

/// Runs the checker on `target`, whose cache is in pooled mode `pool` sized for
/// `conns` clients, and asserts, beyond [`clean_run`], that sessions ended and logged
/// in again, and on pooled backends: the cache's pool holds some connections at the
/// end, never more than its size.
async fn pooled_clean_run<T: Target>(target: T, pool: Pool, conns: usize) {
    let out = clean_run(target).await;
    assert!(
        out.stats.connects > conns as u64,
        "no client logged in again:\n{}",
        out.summary()
    );
    // `metrics` holds only the checker's cache's lines.
    let pooled: f64 = (out.metrics.lines())
        .filter_map(|l| l.trim().strip_prefix("wirecache_pool_connections{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        pooled > 0.0 && pooled <= pool.size(conns) as f64,
        "pool connections {pooled}, size {}:\n{}",
        pool.size(conns),
        out.metrics
    );
}

/// Issue 18: the random programs through a cache in pooled mode (`pool = "session"`;
/// `WIRECACHE_CHECKER_POOL=transaction` asks for leasing per transaction), clients
/// ending sessions at rest now and then so that backends change hands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pooled_random_programs_read_nothing_stale() {
    let (pool, conns) = (Pool::from_env(), Config::from_env().conns);
    pooled_clean_run(
        PgTarget::start_pooled(Rig::Plain, pool, conns).await,
        pool,
        conns,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_random_programs_read_nothing_stale() {
    clean_run(MyTarget::start(Rig::Plain).await).await;
}

/// Issue 17: SQL Server's protocol, against the test TDS origin (T-SQL on the private
/// PostgreSQL; see `checker::tds` for what it emulates).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mssql_random_programs_read_nothing_stale() {
    clean_run(TdsTarget::start(Rig::Plain).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mssql_checker_catches_writes_behind_wirecache() {
    catches_writes_behind_the_proxy(TdsTarget::start(Rig::WritesBehind).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mssql_checker_catches_snapshots_served_from_the_cache() {
    let always = TdsTarget::start(Rig::ServeSnapshots).await;
    catches_served_snapshots(always, TdsTarget::start(Rig::Plain).await, 1500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_checker_catches_writes_behind_wirecache() {
    catches_writes_behind_the_proxy(PgTarget::start(Rig::WritesBehind).await).await;
}

/// The same with origin connections leased per transaction (`pool = "transaction"`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_txn_pooled_random_programs_read_nothing_stale() {
    let conns = Config::from_env().conns;
    pooled_clean_run(
        PgTarget::start_pooled(Rig::Plain, Pool::Transaction, conns).await,
        Pool::Transaction,
        conns,
    )
    .await;
}

/// The same on MariaDB (pooled mode per session for MySQL/MariaDB caches).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_pooled_random_programs_read_nothing_stale() {
    let (pool, conns) = (Pool::from_env(), Config::from_env().conns);
    pooled_clean_run(
        MyTarget::start_pooled(Rig::Plain, pool, conns).await,
        pool,
        conns,
    )
    .await;
}

/// In pooled mode too, writes behind wirecache's back are reported as stale reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pooled_checker_catches_writes_behind_wirecache() {
    let target = PgTarget::start_pooled(Rig::WritesBehind, Pool::Session, 3).await;
    catches_writes_behind_the_proxy(target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_checker_catches_writes_behind_wirecache() {
    catches_writes_behind_the_proxy(MyTarget::start(Rig::WritesBehind).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_checker_catches_snapshots_served_from_the_cache() {
    let always = PgTarget::start(Rig::ServeSnapshots).await;
    catches_served_snapshots(always, PgTarget::start(Rig::Plain).await, 1500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_checker_catches_snapshots_served_from_the_cache() {
    let always = MyTarget::start(Rig::ServeSnapshots).await;
    catches_served_snapshots(always, MyTarget::start(Rig::Plain).await, 1500).await;
}

/// Issue 14: the random programs spread over three instances in strict mode (client
/// connection `n` through instance `n % 3`): nothing stale, across instances too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_three_strict_instances_read_nothing_stale() {
    clean_run(PgTarget::start(Rig::Cluster).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_three_strict_instances_read_nothing_stale() {
    clean_run(MyTarget::start(Rig::Cluster).await).await;
}

/// The same with the shared result tier (L2): a miss on one instance may be answered
/// from what another stored in Redis, and still nothing is stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_three_strict_instances_with_the_shared_tier_read_nothing_stale() {
    answered_by_the_tier(clean_run(PgTarget::start(Rig::ClusterL2).await).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_three_strict_instances_with_the_shared_tier_read_nothing_stale() {
    answered_by_the_tier(clean_run(MyTarget::start(Rig::ClusterL2).await).await);
}

/// The tier answered some of the run's misses (so the run did test it).
fn answered_by_the_tier(out: Outcome) {
    let hits: f64 = (out.metrics.lines())
        .filter_map(|l| l.trim().strip_prefix("wirecache_cluster_l2_hits_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(hits > 0.0, "the tier never answered:\n{}", out.metrics);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mssql_three_strict_instances_read_nothing_stale() {
    clean_run(TdsTarget::start(Rig::Cluster).await).await;
}

/// The same three instances without the bus: the checker reports the stale reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_checker_catches_instances_without_the_bus() {
    catches_writes_behind_the_proxy(PgTarget::start(Rig::Apart).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_checker_catches_instances_without_the_bus() {
    catches_writes_behind_the_proxy(MyTarget::start(Rig::Apart).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mssql_checker_catches_instances_without_the_bus() {
    catches_writes_behind_the_proxy(TdsTarget::start(Rig::Apart).await).await;
}
