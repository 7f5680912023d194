//! A catalog round of wirecache's (facts about a table or function it has not seen,
//! asked on the session's own origin connection) never changes what the client's
//! next diagnostics read shows, against a real MariaDB: the same script on a
//! dedicated connection straight to the origin is the oracle, in pass-through and
//! in transaction pooling.

use crate::mysql_pooled_diagnostics::{Setup, run};

use crate::common::proxy::Proxy;
use mysql_async::Conn;
use mysql_async::prelude::*;

/// Scripts whose statement after a warning makes wirecache ask the catalog (a
/// function, or facts deferred from a transaction) while it leaves the diagnostics
/// area as it was on a dedicated connection.
const SCRIPTS: &[&[&str]] = &[
    &[
        "SELECT CAST('x' AS SIGNED)",
        "SELECT wc_plus(1)",
        "SHOW WARNINGS",
        "SELECT @@warning_count, @@error_count",
    ],
    &[
        "BEGIN",
        "UPDATE u SET n = n + 1",
        "SELECT CAST('y' AS SIGNED)",
        "COMMIT",
        "SHOW WARNINGS",
        "SELECT @@warning_count",
    ],
    &[
        "SELECT CAST('z' AS SIGNED)",
        "SELECT wc_plus(2) + 1",
        "SHOW COUNT(*) WARNINGS",
        "SELECT nope",
        "SELECT wc_plus(3) + 2",
        "SHOW ERRORS",
    ],
];

async fn script(c: &mut Conn, sqls: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for sql in sqls {
        out.push(run(c, sql).await);
    }
    out
}

async fn check(s: &Setup, proxy: &Proxy, url: impl Fn(&Proxy) -> String) {
    for sqls in SCRIPTS {
        let mut direct = s.direct().await;
        let want = script(&mut direct, sqls).await;
        // The oracle shows the conditions the script reads.
        let shown = |l: &String| l.starts_with("SHOW") && l.contains("'1");
        assert!(want.iter().any(shown), "{want:#?}");
        let mut c = crate::common::mysql::connect(&url(proxy)).await;
        let got = script(&mut c, sqls).await;
        assert_eq!(got, want);
        direct.disconnect().await.unwrap();
        c.disconnect().await.unwrap();
    }
    // The facts are asked for once the warnings are gone, not never.
    let asked = || proxy.metric("wirecache_catalog_queries_total{cache=\"demo\"}");
    let mut c = crate::common::mysql::connect(&url(proxy)).await;
    c.query_drop("SELECT CAST('w' AS SIGNED)").await.unwrap();
    let before = asked().await;
    c.query_drop("SELECT wc_twice(1)").await.unwrap();
    assert_eq!(asked().await, before, "not while the warning is there");
    let n: Option<u64> = c.query_first("SHOW COUNT(*) WARNINGS").await.unwrap();
    assert_eq!(n, Some(1));
    // A table clears the warning; then the function's facts are asked for.
    c.query_drop("SELECT n FROM u WHERE RAND() >= 0")
        .await
        .unwrap();
    c.query_drop("SELECT wc_twice(2)").await.unwrap();
    assert!(asked().await > before, "asked once the warning is gone");
    c.disconnect().await.unwrap();
}

async fn setup(prefix: &str) -> Setup {
    let s = Setup::with_pool(prefix, "pool_size = 1\npool_queue_timeout = \"60s\"").await;
    s.origin.sql(
        &s.db,
        "CREATE FUNCTION wc_plus(x INT) RETURNS INT DETERMINISTIC RETURN x + 1; \
         CREATE FUNCTION wc_twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2; \
         CREATE TABLE u (n INT); INSERT INTO u VALUES (0)",
    );
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_round_keeps_the_warnings_pass_through() {
    let s = setup("cat_warn_pt").await;
    let proxy = Proxy::builder().mysql_demo(s.origin.port).start().await;
    let (user, password, db) = (s.user.name.clone(), s.user.password.clone(), s.db.clone());
    check(&s, &proxy, |p| p.mysql_url("demo", &db, &user, &password)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_round_keeps_the_warnings_pooled() {
    let s = setup("cat_warn_txn").await;
    let (user, password, db) = (s.user.name.clone(), s.user.password.clone(), s.db.clone());
    check(&s, &s.proxy, |p| p.mysql_url("demo", &db, &user, &password)).await;
}
