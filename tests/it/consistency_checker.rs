//! The randomized differential consistency checker (issue 8) on every protocol:
//! a bounded run per protocol on every `cargo test` (a long one when
//! `WIRECACHE_CHECKER_OPS` / `WIRECACHE_CHECKER_SECONDS` say so, see
//! `scripts/checker.sh`), and a self-test per protocol proving the checker catches
//! a known violation: writes sent straight to the origin behind wirecache's back.

use crate::checker;

use std::sync::Arc;

use checker::driver::Target;
use checker::mysql::MyTarget;
use checker::postgres::PgTarget;
use checker::{Config, Outcome};

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
        autocommit_only: true,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_random_programs_read_nothing_stale() {
    clean_run(PgTarget::start(false).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_random_programs_read_nothing_stale() {
    clean_run(MyTarget::start(false).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_checker_catches_writes_behind_wirecache() {
    catches_writes_behind_the_proxy(PgTarget::start(true).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_checker_catches_writes_behind_wirecache() {
    catches_writes_behind_the_proxy(MyTarget::start(true).await).await;
}
