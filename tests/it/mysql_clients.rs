//! Real MySQL clients through wirecache against a real MariaDB: PyMySQL (a script in
//! tests/clients/) and sysbench's OLTP workloads with and without server-side prepared
//! statements, on both the MySQL (9000) and the MariaDB (9001) listener. After the
//! read-write run, every table read in full through wirecache equals the same table
//! read straight from the origin.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::mysql::{self, MyOrigin, ROOT_PASSWORD, ROOT_USER};
use common::proxy::Proxy;
use mysql_async::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymysql_script() {
    let origin = MyOrigin::shared();
    let db = origin.create_db("pymysql");
    let proxy = Proxy::builder().mysql_demo(origin.port).start().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/pymysql_check.py");
    for (port, user) in [
        (proxy.mysql_addr().port(), format!("demo-{ROOT_USER}")),
        (
            proxy.mariadb_addr().port(),
            format!("demo-maria-{ROOT_USER}"),
        ),
    ] {
        origin.sql(&db, "DROP TABLE IF EXISTS py");
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .args(["127.0.0.1", &port.to_string(), &user, ROOT_PASSWORD, &db]);
        let (ok, out, err) = mysql::run_blocking(cmd).await;
        assert!(
            ok && out.ends_with("ok"),
            "pymysql on {port}:\n{out}\n{err}"
        );
    }
    assert!(proxy.hits().await >= 2.0);
    assert!(proxy.hits_of("demo-maria").await >= 2.0);
}

/// Runs one sysbench step; returns its output, asserting it succeeded with no errors.
async fn sysbench(
    port: u16,
    user: &str,
    db: &str,
    test: &str,
    ps_mode: &str,
    step: &str,
) -> String {
    sysbench_sized(port, user, db, test, ps_mode, step, 10_000).await
}

/// [`sysbench`] on a table of `rows` rows.
async fn sysbench_sized(
    port: u16,
    user: &str,
    db: &str,
    test: &str,
    ps_mode: &str,
    step: &str,
    rows: u32,
) -> String {
    let mut cmd = Command::new("sysbench");
    cmd.arg(test)
        .args(["--db-driver=mysql", "--mysql-host=127.0.0.1"])
        .arg(format!("--mysql-port={port}"))
        .arg(format!("--mysql-user={user}"))
        .arg(format!("--mysql-password={ROOT_PASSWORD}"))
        .arg(format!("--mysql-db={db}"))
        .arg(format!("--db-ps-mode={ps_mode}"))
        .args(["--tables=1", "--threads=4"])
        .arg(format!("--table-size={rows}"))
        .args(["--time=3", "--events=20000", "--report-interval=0"])
        .arg(step);
    let (ok, out, err) = mysql::run_blocking(cmd).await;
    if !ok {
        // Lost connections at once on every thread have meant the origin crashed: say so.
        let origin_log = common::file_tail(&MyOrigin::shared().log_path(), 40);
        panic!(
            "sysbench {test} {step} ({ps_mode}) failed:\n{out}\n{err}\n--- origin log:\n{origin_log}"
        );
    }
    if step == "run" {
        let errors = out
            .lines()
            .find_map(|l| l.trim().strip_prefix("ignored errors:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok());
        // sysbench exits non-zero on any error it does not retry; read-write runs may
        // meet InnoDB deadlocks (1213), which the origin reports and sysbench retries.
        if test == "oltp_read_write" {
            assert!(errors.is_some(), "sysbench {test} ({ps_mode}):\n{out}");
        } else {
            assert_eq!(errors, Some(0), "sysbench {test} ({ps_mode}):\n{out}");
        }
        let transactions = out
            .lines()
            .find(|l| l.trim().starts_with("transactions:"))
            .unwrap_or("transactions: ?");
        eprintln!(
            "sysbench {test} --db-ps-mode={ps_mode} port {port}: {}, ignored errors (deadlocks, retried): {}",
            transactions.trim(),
            errors.unwrap_or(0)
        );
    }
    out
}

type SbRow = (i64, i64, String, String);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysbench_oltp_through_both_listeners_then_tables_match_the_origin() {
    let origin = MyOrigin::shared();
    let proxy = Proxy::builder().mysql_demo(origin.port).start().await;
    let listeners = [
        (
            proxy.mysql_addr().port(),
            format!("demo-{ROOT_USER}"),
            "auto",
        ),
        (
            proxy.mariadb_addr().port(),
            format!("demo-maria-{ROOT_USER}"),
            "disable",
        ),
    ];
    for (port, user, ps_mode) in &listeners {
        let db = origin.create_db("sysbench");
        sysbench(*port, user, &db, "oltp_read_write", ps_mode, "prepare").await;
        for test in ["oltp_point_select", "oltp_read_only", "oltp_read_write"] {
            sysbench(*port, user, &db, test, ps_mode, "run").await;
        }
        let via = proxy.mysql_url("demo", &db, ROOT_USER, ROOT_PASSWORD);
        let mut via = mysql::connect(&via).await;
        let mut direct = mysql::connect(&origin.url(&db, ROOT_USER, ROOT_PASSWORD)).await;
        let q = "SELECT id, k, c, pad FROM sbtest1 ORDER BY id";
        for _ in 0..2 {
            let a: Vec<SbRow> = via.query(q).await.unwrap();
            let b: Vec<SbRow> = direct.query(q).await.unwrap();
            assert_eq!(a.len(), b.len());
            assert!(a == b, "sbtest1 through wirecache differs from the origin");
            eprintln!(
                "sbtest1: {} rows equal through wirecache and at the origin",
                a.len()
            );
        }
    }
    assert!(proxy.hits().await > 0.0);
}

/// libmysqlclient binds parameter types only on a statement's first EXECUTE. When that
/// EXECUTE is answered from the cache (an entry filled by another connection), the
/// origin must still learn the types, or the statement's later executes that miss fail
/// there with error 1210. Ids 1–4 are cached first; then every new connection's first
/// EXECUTE is a hit half of the time and its later ones on ids 5–8 miss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_whose_first_execute_is_a_hit_keep_working() {
    let origin = MyOrigin::shared();
    let proxy = Proxy::builder().mysql_demo(origin.port).start().await;
    let port = proxy.mysql_addr().port();
    let user = format!("demo-{ROOT_USER}");
    let db = origin.create_db("sysbench_small");
    sysbench_sized(port, &user, &db, "oltp_point_select", "auto", "prepare", 8).await;
    sysbench_sized(port, &user, &db, "oltp_point_select", "auto", "run", 4).await;
    for _ in 0..3 {
        sysbench_sized(port, &user, &db, "oltp_point_select", "auto", "run", 8).await;
    }
    assert!(proxy.hits().await > 0.0);
}
