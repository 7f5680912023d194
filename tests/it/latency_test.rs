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

/// Runs `latency-test` with `args` off the test's runtime (the test origin and
/// wirecache run on it).
async fn latency_test_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        latency_test(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .expect("join")
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `mssql://` straight at the TDS test origin (on the private PostgreSQL; not a SQL
/// Server) and through wirecache's TDS listener: the report has the promised shape,
/// the origin's own counter shows every timed execution through wirecache was a hit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mssql_json_report_through_wirecache_hits_the_cache() {
    use common::pg::password_for;
    use common::proxy::Protocol;
    use common::tds_origin::{TdsOrigin, USER, database};
    let db = database();
    let origin = TdsOrigin::start(PgOrigin::shared().port).await;
    let proxy = Proxy::builder()
        .cache("sq", Protocol::MsSql, origin.port())
        .start()
        .await;
    let password = password_for(USER);
    let direct = format!("mssql://{USER}:{password}@127.0.0.1:{}/{db}", origin.port());
    let via = format!(
        "sqlserver://sq-{USER}:{password}@127.0.0.1:{}/{db}?encrypt=prefer",
        proxy.addr(Protocol::MsSql).port()
    );
    let query = "SELECT id, name FROM t ORDER BY id";
    let out = latency_test_async(strings(&[
        "--direct", &direct, "--via", &via, "--query", query, "-n", "20", "--json",
    ]))
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["query"], query);
    assert_eq!(report["n"], 20);
    check_side(&report["direct"], 3, "mssql");
    check_side(&report["via"], 3, "mssql");
    for side in ["direct", "via"] {
        let url = report[side]["url"].as_str().expect("url");
        assert!(url.contains(":***@") && !url.contains(&password), "{url}");
    }
    // Direct: the warm-up and 20 executions; via: the warm-up filled the cache and
    // the 20 timed executions never reached the origin.
    assert_eq!(origin.selects(), 21 + 1, "SELECTs the test origin executed");
    assert_eq!(origin.logins(), 2);
    assert_eq!(proxy.hits_of("sq").await, 20.0, "hits through wirecache");
    proxy.running.shutdown().await;
}

/// A wrong password is refused with the server's own message (straight and through
/// wirecache), a failing query reports the server's ERROR text, the password is
/// never printed, and a prepared mssql run or a malformed mssql URL is a usage error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mssql_errors_carry_the_servers_message_never_the_password() {
    use common::pg::password_for;
    use common::proxy::Protocol;
    use common::tds_origin::{TdsOrigin, USER, database};
    let db = database();
    let origin = TdsOrigin::start(PgOrigin::shared().port).await;
    let proxy = Proxy::builder()
        .cache("sq", Protocol::MsSql, origin.port())
        .start()
        .await;
    let via_port = proxy.addr(Protocol::MsSql).port();
    let wrong = "Wr0ng-hunter2";
    for url in [
        format!("mssql://{USER}:{wrong}@127.0.0.1:{}/{db}", origin.port()),
        format!("mssql://sq-{USER}:{wrong}@127.0.0.1:{via_port}/{db}"),
    ] {
        let out = latency_test_async(strings(&[
            "--direct", &url, "--via", &url, "--query", "SELECT 1", "-n", "1",
        ]))
        .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("direct: cannot connect"), "{stderr}");
        assert!(stderr.contains("Login failed for user"), "{stderr}");
        assert!(!stderr.contains(wrong), "password printed: {stderr}");
        assert!(out.stdout.is_empty());
    }
    assert_eq!(origin.logins(), 0);
    let password = password_for(USER);
    let good = format!("mssql://{USER}:{password}@127.0.0.1:{}/{db}", origin.port());
    let out = latency_test_async(strings(&[
        "--direct",
        &good,
        "--via",
        &good,
        "--query",
        "SELECT x FROM no_such_table",
    ]))
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("direct: query failed: server error"),
        "{stderr}"
    );
    assert!(stderr.contains("no_such_table"), "{stderr}");
    assert!(!stderr.contains(&password), "{stderr}");
    for (args, needle) in [
        (
            vec!["--prepared"],
            "--prepared is not supported for mssql://",
        ),
        (vec![], "invalid URL"),
    ] {
        let bad = if args.is_empty() {
            format!("mssql://u:{password}@127.0.0.1:notaport/db")
        } else {
            good.clone()
        };
        let mut all = strings(&["--direct", &bad, "--via", &good, "--query", "SELECT 1"]);
        all.extend(strings(&args));
        let out = latency_test_async(all).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
        assert!(!stderr.contains(&password), "{stderr}");
    }
    proxy.running.shutdown().await;
}

/// `encrypt=verify-full` against the test origin with a certificate: the whole
/// connection is encrypted (the origin's own record says so) and the certificate is
/// checked against `ca=`; without the CA the handshake fails and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mssql_encrypt_parameter_encrypts_and_verifies() {
    use common::pg::password_for;
    use common::tds_origin::{TdsOrigin, USER, database};
    use common::tds_origin_tls::{OriginEncryption, OriginTls, Seen};
    use common::tls::Pki;
    let db = database();
    let pki = Pki::new();
    let tls = OriginTls::new(OriginEncryption::Off, &pki);
    let origin = TdsOrigin::start_tls(PgOrigin::shared().port, tls).await;
    let password = password_for(USER);
    let ca = pki.file("ca.pem");
    let base = format!("mssql://{USER}:{password}@localhost:{}/{db}", origin.port());
    let full = format!("{base}?encrypt=verify-full&ca={ca}");
    let login_only = format!("{base}?encrypt=prefer");
    let out = latency_test_async(strings(&[
        "--direct",
        &full,
        "--via",
        &login_only,
        "--query",
        "SELECT id FROM t",
        "-n",
        "2",
        "--json",
    ]))
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{:?}", out.stderr);
    assert_eq!(origin.tls.seen(), vec![Seen::Full, Seen::LoginOnly]);
    let unverifiable = format!("{base}?encrypt=verify-full");
    let out = latency_test_async(strings(&[
        "--direct",
        &unverifiable,
        "--via",
        &full,
        "--query",
        "SELECT 1",
        "-n",
        "1",
    ]))
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("direct: cannot connect") && stderr.contains("TLS"),
        "{stderr}"
    );
    assert_eq!(origin.logins(), 2);
}
