//! Real client libraries through wirecache: psycopg2, psycopg 3, node-postgres and
//! pgJDBC each run a script of reads, writes, transactions and prepared statements
//! (tests/clients/) against a fresh database, and must see correct answers.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::PgOrigin;
use common::proxy::Proxy;

pub(crate) fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

pub(crate) fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{stderr}");
    stdout
}

async fn setup(prefix: &str) -> (String, Proxy) {
    let origin = PgOrigin::shared();
    let db = origin.create_db(prefix);
    (
        db,
        Proxy::builder().postgres_demo(origin.port).start().await,
    )
}

fn url(proxy: &Proxy, db: &str) -> String {
    format!(
        "postgresql://demo-postgres@127.0.0.1:{}/{db}",
        proxy.pg_addr().port()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg2() {
    let (db, proxy) = setup("psycopg2").await;
    let dsn = url(&proxy, &db);
    let script = clients_dir().join("psycopg2_check.py");
    let out = tokio::task::spawn_blocking(move || {
        run(Command::new("python3").arg(script).arg(dsn), "psycopg2")
    })
    .await
    .unwrap();
    assert!(out.contains("psycopg2 ok"));
    assert!(proxy.hits().await > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg3() {
    let (db, proxy) = setup("psycopg3").await;
    let dsn = url(&proxy, &db);
    let script = clients_dir().join("psycopg3_check.py");
    let out = tokio::task::spawn_blocking(move || {
        run(Command::new("python3").arg(script).arg(dsn), "psycopg3")
    })
    .await
    .unwrap();
    assert!(out.contains("psycopg3 ok"));
    assert!(proxy.hits().await > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_postgres() {
    let (db, proxy) = setup("nodepg").await;
    let dsn = url(&proxy, &db);
    let dir = clients_dir().join("node");
    let out = tokio::task::spawn_blocking(move || {
        run(
            Command::new("node")
                .arg(dir.join("check.js"))
                .arg(dsn)
                .current_dir(&dir),
            "node-postgres",
        )
    })
    .await
    .unwrap();
    assert!(out.contains("node-postgres ok"));
    assert!(proxy.hits().await > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc() {
    let (db, proxy) = setup("jdbc").await;
    let jdbc_url = format!(
        "jdbc:postgresql://127.0.0.1:{}/{db}",
        proxy.pg_addr().port()
    );
    let out = pgjdbc_check(jdbc_url, "jdbc").await;
    assert!(out.contains("jdbc ok"));
    assert!(proxy.hits().await > 0.0);
}

/// Compiles and runs tests/clients/jdbc/Check.java against `jdbc_url` as
/// `demo-postgres` (classes in a test directory named after `tag`); its output.
pub(crate) async fn pgjdbc_check(jdbc_url: String, tag: &'static str) -> String {
    let src = clients_dir().join("jdbc/Check.java");
    tokio::task::spawn_blocking(move || {
        let jar = "/usr/share/java/postgresql.jar";
        let classes = common::test_dir(tag);
        run(
            Command::new("javac")
                .args(["-cp", jar, "-d"])
                .arg(&classes)
                .arg(&src),
            "javac",
        );
        let cp = format!("{jar}:{}", classes.display());
        let out = run(
            Command::new("java").args(["-cp", &cp, "Check", &jdbc_url, "demo-postgres"]),
            "pgjdbc",
        );
        let _ = std::fs::remove_dir_all(&classes);
        out
    })
    .await
    .unwrap()
}
