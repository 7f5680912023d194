//! `wirecache latency-test` end to end: the binary runs a query 20 times against a
//! private PostgreSQL and 20 times through an in-process wirecache, and its JSON
//! report has the promised shape and the right counts (never timings). Also: the
//! subcommand needs no configuration file, and refuses a URL it cannot use.

use crate::common;

use std::process::{Command, Output};

use common::PgOrigin;
use common::proxy::Proxy;

fn latency_test(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wirecache"))
        .arg("latency-test")
        .args(args)
        // No config anywhere: neither the environment nor a file may be needed.
        .env_remove("WIRECACHE_CONFIG")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run the wirecache binary")
}

fn number(v: &serde_json::Value, key: &str) -> f64 {
    v.get(key)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or_else(|| panic!("no number {key:?} in {v}"))
}

/// Checks one side of the report: 20 executions, ordered percentiles, a histogram
/// that counts each execution once, and the rows the query returns.
fn check_side(side: &serde_json::Value, rows: u64, kind: &str) {
    assert_eq!(side["kind"], kind, "{side}");
    assert_eq!(side["count"], 20, "{side}");
    assert_eq!(side["rows"], rows, "{side}");
    assert_eq!(side["row_mismatches"], 0, "{side}");
    let order = ["min_us", "p50_us", "p90_us", "p99_us", "max_us"];
    let values: Vec<f64> = order.iter().map(|k| number(side, k)).collect();
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{side}");
    assert!(number(side, "mean_us") > 0.0, "{side}");
    let buckets = side["histogram"].as_array().expect("histogram array");
    assert!(!buckets.is_empty(), "{side}");
    let total: u64 = buckets
        .iter()
        .map(|b| {
            assert!(number(b, "lo_us") <= number(b, "hi_us"), "{b}");
            b["count"].as_u64().expect("bucket count")
        })
        .sum();
    assert_eq!(total, 20, "{side}");
    let url = side["url"].as_str().expect("url");
    assert!(!url.contains("lt-secret"), "password not redacted: {url}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_report_through_wirecache_counts_every_execution() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("latency");
    origin.psql(
        &db,
        "CREATE TABLE lt (id int PRIMARY KEY, v text);
         INSERT INTO lt SELECT g, 'v' || g FROM generate_series(1, 3) g;",
    );
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
    let hits_before = proxy.hits().await;
    // The password is not checked (trust) but must never be printed.
    let direct = format!(
        "postgres://postgres:lt-secret@127.0.0.1:{}/{db}",
        origin.port
    );
    let via = format!(
        "postgres://demo-postgres:lt-secret@127.0.0.1:{}/{db}",
        proxy.pg_addr().port()
    );
    let query = "SELECT id, v FROM lt ORDER BY id";
    let args = [
        "--direct", &direct, "--via", &via, "--query", query, "-n", "20", "--json",
    ];
    let out = tokio::task::spawn_blocking({
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        move || latency_test(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "latency-test failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["query"], query);
    assert_eq!(report["n"], 20);
    assert_eq!(report["protocol"], "simple");
    assert!(number(&report, "p50_ratio") > 0.0, "{report}");
    check_side(&report["direct"], 3, "postgres");
    check_side(&report["via"], 3, "postgres");
    // The direct and via histograms share their buckets.
    let edges = |side: &str| -> Vec<f64> {
        report[side]["histogram"]
            .as_array()
            .expect("histogram")
            .iter()
            .map(|b| number(b, "lo_us"))
            .collect()
    };
    assert_eq!(edges("direct"), edges("via"));
    // The warm-up filled the cache; all 20 timed executions were hits.
    let hits = proxy.hits().await - hits_before;
    assert_eq!(hits, 20.0, "hits through wirecache");
    proxy.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_text_report_without_any_config() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("latency_prep");
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
    let direct = format!("postgres://postgres@127.0.0.1:{}/{db}", origin.port);
    let via = format!(
        "postgresql://demo-postgres@127.0.0.1:{}/{db}",
        proxy.pg_addr().port()
    );
    let out = tokio::task::spawn_blocking(move || {
        latency_test(&[
            "--direct",
            &direct,
            "--via",
            &via,
            "--query",
            "SELECT 1 AS one",
            "-n",
            "20",
            "--prepared",
        ])
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{:?}", out.stderr);
    for needle in [
        "prepared protocol",
        "p50 direct / p50 via",
        "direct ",
        "via ",
    ] {
        assert!(stdout.contains(needle), "no {needle:?} in:\n{stdout}");
    }
    proxy.running.shutdown().await;
}

#[test]
fn unusable_url_is_a_usage_error() {
    let out = latency_test(&[
        "--direct",
        "redis://127.0.0.1:1",
        "--via",
        "postgres://u:pw@127.0.0.1:1/db",
        "--query",
        "SELECT 1",
    ]);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unsupported URL"), "{stderr}");
}

#[test]
fn unreachable_origin_fails_cleanly() {
    let port = common::free_port();
    let out = latency_test(&[
        "--direct",
        &format!("postgres://u:topsecret@127.0.0.1:{port}/db"),
        "--via",
        &format!("postgres://u:topsecret@127.0.0.1:{port}/db"),
        "--query",
        "SELECT 1",
        "-n",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("direct: cannot connect"), "{stderr}");
    assert!(!stderr.contains("topsecret"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_json_report_through_wirecache_counts_every_execution() {
    use common::mysql::{MyOrigin, ROOT_PASSWORD, ROOT_USER};
    let origin = MyOrigin::shared();
    let db = origin.create_db("latency");
    origin.sql(
        &db,
        "CREATE TABLE lt (id INT PRIMARY KEY, v VARCHAR(10));
         INSERT INTO lt VALUES (1, 'a'), (2, 'b');",
    );
    let proxy = Proxy::builder().mysql_demo(origin.port).start().await;
    let hits_before = proxy.hits_of("demo").await;
    let direct = origin.url(&db, ROOT_USER, ROOT_PASSWORD);
    let via = proxy.mysql_url("demo", &db, ROOT_USER, ROOT_PASSWORD);
    let query = "SELECT id, v FROM lt ORDER BY id";
    let out = tokio::task::spawn_blocking(move || {
        latency_test(&[
            "--direct", &direct, "--via", &via, "--query", query, "-n", "20", "--json",
        ])
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "latency-test failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["n"], 20);
    check_side(&report["direct"], 2, "mysql");
    check_side(&report["via"], 2, "mysql");
    let url = report["via"]["url"].as_str().expect("via url");
    assert!(url.contains(":***@"), "{url}");
    // Every timed execution went through wirecache and was a hit (the driver did
    // not slip off to the origin's unix socket).
    let hits = proxy.hits_of("demo").await - hits_before;
    assert_eq!(hits, 20.0, "hits through wirecache");
    proxy.running.shutdown().await;
}
