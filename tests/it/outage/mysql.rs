//! MySQL/MariaDB sessions through an origin outage (a cut link to the shared MariaDB).

use crate::common;

use common::mysql::{self, MyOrigin, ROOT_PASSWORD, ROOT_USER};
use common::proxy::Protocol;
use common::proxy::{Proxy, http_get};
use mysql_async::prelude::*;

use super::guarded;
use super::link::Link;

fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_origin_leaves_cached_reads_answered_and_refuses_the_rest() {
    let origin = MyOrigin::shared();
    let db = origin.create_db("outage");
    origin.sql(&db, "CREATE TABLE r (v INT); INSERT INTO r VALUES (1);");
    let link = Link::start(origin.port).await;
    let proxy = Proxy::builder()
        .cache_with("demo", Protocol::MySql, link.port, "serve_stale = \"1h\"")
        .start()
        .await;
    let url = proxy.mysql_url("demo", &db, ROOT_USER, ROOT_PASSWORD);
    let mut c = mysql::connect(&url).await;
    let mut in_txn = mysql::connect(&url).await;
    for _ in 0..2 {
        let v: Option<i64> = c.query_first("SELECT v FROM r").await.unwrap();
        assert_eq!(v, Some(1));
        let v: Option<i64> = c
            .exec_first("SELECT v FROM r WHERE v = ?", (1,))
            .await
            .unwrap();
        assert_eq!(v, Some(1));
    }
    in_txn.query_drop("START TRANSACTION").await.unwrap();
    in_txn.query_drop("SELECT v FROM r").await.unwrap();

    link.cut();
    proxy
        .wait_for_metric("wirecache_sessions_offline_total{cache=\"demo\"} ", 1.0)
        .await;
    let v: Option<i64> = guarded("hit", c.query_first("SELECT v FROM r"))
        .await
        .unwrap();
    assert_eq!(v, Some(1));
    let v = guarded(
        "prepared hit",
        c.exec_first("SELECT v FROM r WHERE v = ?", (1,)),
    )
    .await;
    assert_eq!(v.unwrap(), Some(1i64));
    for sql in ["SELECT v + 1 FROM r", "INSERT INTO r VALUES (2)"] {
        let e = guarded(sql, c.query_drop(sql)).await.unwrap_err();
        assert_eq!(server_code(&e), Some(1053), "{sql}: {e:?}");
    }
    // A statement never prepared, and a ping: the origin is needed.
    let e = guarded(
        "new prepare",
        c.exec_drop("SELECT v FROM r WHERE v > ?", (0,)),
    )
    .await;
    assert_eq!(server_code(&e.unwrap_err()), Some(1053));
    let e = guarded("ping", c.ping()).await;
    assert_eq!(server_code(&e.unwrap_err()), Some(1053));
    let v: Option<i64> = guarded("hit", c.query_first("SELECT v FROM r"))
        .await
        .unwrap();
    assert_eq!(v, Some(1), "still served after errors");
    // In a transaction: the client is disconnected, its next command fails.
    assert!(
        guarded("in txn", in_txn.query_drop("SELECT v FROM r"))
            .await
            .is_err()
    );
    // A new login cannot reach the origin.
    let e = guarded("login", mysql::try_connect(&url))
        .await
        .unwrap_err();
    assert_eq!(server_code(&e), Some(1429), "{e:?}");
    if let mysql_async::Error::Server(s) = &e {
        assert_eq!(s.state, "08S01", "a connection exception");
    }
    let ready = http_get(proxy.admin(), "/readyz").await;
    assert!(ready.contains("cache demo: origin down since"), "{ready}");

    link.restore().await;
    guarded("offline session closes once the origin is back", async {
        while c.query_drop("SELECT v FROM r").await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    let mut c2 = mysql::connect(&url).await;
    let n: Option<i64> = c2.query_first("SELECT COUNT(*) FROM r").await.unwrap();
    assert_eq!(n, Some(1), "no write reached the origin");
}
