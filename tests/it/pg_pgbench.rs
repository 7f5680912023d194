//! pgbench through wirecache: initialisation (COPY, DDL, VACUUM), the TPC-B-like
//! script and the select-only script in every query mode, with zero failed
//! transactions, and balances that still add up when read back through wirecache.

use crate::common;

use std::process::Command;

use common::PgOrigin;
use common::proxy::Proxy;

fn pgbench(port: u16, db: &str, args: &[&str]) -> String {
    let out = Command::new("pgbench")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "demo-postgres",
        ])
        .args(args)
        .arg(db)
        .output()
        .expect("pgbench runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "pgbench {args:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

fn processed(report: &str) -> (u64, u64) {
    let field = |name: &str| {
        report
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.split('/').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{report}"))
    };
    (
        field("number of transactions actually processed:"),
        field("number of failed transactions:"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_runs_clean_in_every_mode_and_balances_add_up() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("pgbench");
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
    let port = proxy.pg_addr().port();
    let db2 = db.clone();
    tokio::task::spawn_blocking(move || {
        pgbench(port, &db2, &["-i", "-s", "1", "-q"]);
        for mode in ["simple", "extended", "prepared"] {
            for script in [&["-b", "tpcb-like"][..], &["-S"][..]] {
                let mut args = vec!["-M", mode, "-c", "4", "-j", "2", "-t", "150", "-n"];
                args.extend_from_slice(script);
                let report = pgbench(port, &db2, &args);
                let (done, failed) = processed(&report);
                assert_eq!(failed, 0, "{mode} {script:?}:\n{report}");
                assert_eq!(done, 600, "{mode} {script:?}:\n{report}");
            }
        }
    })
    .await
    .unwrap();
    // Read back through wirecache (twice: the second may come from the cache).
    let c = proxy.connect(&db, "postgres").await;
    for _ in 0..2 {
        let sums: Vec<i64> = futures_util::future::join_all(
            [
                ("abalance", "pgbench_accounts"),
                ("bbalance", "pgbench_branches"),
                ("tbalance", "pgbench_tellers"),
            ]
            .map(|(col, t)| {
                let c = &c;
                async move {
                    let sql = format!("SELECT sum({col})::bigint FROM {t}");
                    c.query_one(&sql, &[]).await.unwrap().get::<_, i64>(0)
                }
            }),
        )
        .await;
        assert_eq!(sums[0], sums[1], "accounts vs branches");
        assert_eq!(sums[1], sums[2], "branches vs tellers");
        let direct = origin.psql(&db, "SELECT sum(abalance) FROM pgbench_accounts");
        assert_eq!(direct, sums[0].to_string());
    }
    let history: i64 = origin
        .psql(&db, "SELECT count(*) FROM pgbench_history")
        .parse()
        .unwrap();
    assert_eq!(history, 3 * 600);
    assert!(
        proxy.hits().await > 0.0,
        "select-only runs never hit the cache"
    );
}
