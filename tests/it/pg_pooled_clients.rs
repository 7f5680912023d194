//! The client libraries of `pg_clients` through pooled mode (`pool = "session"`): each
//! runs its script of reads, writes, transactions and prepared statements
//! (tests/clients/) after logging in with SCRAM-SHA-256 against wirecache itself, and
//! its repeated reads are cache hits.

use crate::common;

use std::process::Command;

use common::PgOrigin;
use common::proxy::{Protocol, Proxy};

use crate::pg_clients::{clients_dir, pgjdbc_check, run};

/// The superuser's password in these tests' pooled cache (the origin trusts it).
const PW: &str = "pooled-clients-pw";

async fn setup(prefix: &str) -> (String, Proxy, String) {
    let origin = PgOrigin::shared();
    let db = origin.create_db(prefix);
    let lines = format!("pool = \"session\"\nuser = \"postgres\"\npassword = \"{PW}\"");
    let proxy = Proxy::builder()
        .cache_with("demo", Protocol::Postgres, origin.port, &lines)
        .start()
        .await;
    let url = format!(
        "postgresql://demo-postgres:{PW}@127.0.0.1:{}/{db}",
        proxy.pg_addr().port()
    );
    (db, proxy, url)
}

async fn script(prefix: &str, mut cmd: impl FnMut(&str) -> Command + Send + 'static, ok: &str) {
    let (_db, proxy, url) = setup(prefix).await;
    let what = prefix.to_owned();
    let out = tokio::task::spawn_blocking(move || run(&mut cmd(&url), &what))
        .await
        .unwrap();
    assert!(out.contains(ok), "{out}");
    assert!(proxy.hits().await > 0.0);
    // The script's last session gives its connection back once the script is gone.
    let idle = "wirecache_pool_connections{cache=\"demo\",state=\"idle\"}";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while proxy.metric(idle).await < 1.0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        proxy.metric(idle).await >= 1.0,
        "no connection went back to the pool"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg2_pooled() {
    let cmd = |url: &str| {
        let mut c = Command::new("python3");
        c.arg(clients_dir().join("psycopg2_check.py")).arg(url);
        c
    };
    script("pooled_psycopg2", cmd, "psycopg2 ok").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg3_pooled() {
    let cmd = |url: &str| {
        let mut c = Command::new("python3");
        c.arg(clients_dir().join("psycopg3_check.py")).arg(url);
        c
    };
    script("pooled_psycopg3", cmd, "psycopg3 ok").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_postgres_pooled() {
    let cmd = |url: &str| {
        let dir = clients_dir().join("node");
        let mut c = Command::new("node");
        c.arg(dir.join("check.js")).arg(url).current_dir(&dir);
        c
    };
    script("pooled_nodepg", cmd, "node-postgres ok").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_pooled() {
    let (db, proxy, _) = setup("pooled_jdbc").await;
    let jdbc_url = format!(
        "jdbc:postgresql://127.0.0.1:{}/{db}?password={PW}",
        proxy.pg_addr().port()
    );
    let out = pgjdbc_check(jdbc_url, "jdbc-pooled").await;
    assert!(out.contains("jdbc ok"), "{out}");
    assert!(proxy.hits().await > 0.0);
}
