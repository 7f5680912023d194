//! Caching through wirecache against a real PostgreSQL: hits are served from memory
//! (proved by the origin's own pg_stat_statements counts), in both the simple and the
//! extended protocol, and what must not be cached is not.

use crate::common;

use common::PgOrigin;
use common::proxy::{Proxy, origin_calls};

async fn setup(prefix: &str) -> (&'static PgOrigin, String, Proxy) {
    let origin = PgOrigin::shared();
    let db = origin.create_db(prefix);
    origin.psql(
        &db,
        "CREATE TABLE items (id int PRIMARY KEY, name text, qty int);
         INSERT INTO items SELECT g, 'item' || g, g * 10 FROM generate_series(1, 100) g;
         SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0);",
    );
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
    (origin, db, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_query_hit_does_not_reach_origin() {
    let (origin, db, proxy) = setup("simple_hit").await;
    let c = proxy.connect(&db, "postgres").await;
    let q = "SELECT name, qty FROM items WHERE id = 7";
    let mut results = Vec::new();
    for _ in 0..5 {
        let rows = c.simple_query(q).await.unwrap();
        results.push(format!("{rows:?}"));
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(origin_calls(origin, &db, "FROM items WHERE id ="), 1);
    assert_eq!(proxy.hits().await, 4.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_query_hit_does_not_reach_origin() {
    let (origin, db, proxy) = setup("ext_hit").await;
    let c = proxy.connect(&db, "postgres").await;
    let stmt = c
        .prepare("SELECT name, qty FROM items WHERE id = $1")
        .await
        .unwrap();
    for _ in 0..5 {
        let row = c.query_one(&stmt, &[&7i32]).await.unwrap();
        assert_eq!(row.get::<_, String>(0), "item7");
        assert_eq!(row.get::<_, i32>(1), 70);
    }
    // Different parameter values are different entries.
    let row = c.query_one(&stmt, &[&8i32]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "item8");
    // Unnamed statements (Parse each time) hit too.
    for _ in 0..3 {
        let rows = c
            .query("SELECT name FROM items WHERE id = $1", &[&9i32])
            .await
            .unwrap();
        assert_eq!(rows[0].get::<_, String>(0), "item9");
    }
    assert_eq!(origin_calls(origin, &db, "FROM items WHERE id ="), 3);
    assert!(proxy.hits().await >= 6.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_and_text_results_are_separate_entries() {
    let (_origin, db, proxy) = setup("formats").await;
    let c = proxy.connect(&db, "postgres").await;
    // tokio-postgres asks for binary results; simple query gets text.
    let q = "SELECT qty FROM items WHERE id = 3";
    let text = c.simple_query(q).await.unwrap();
    let bin = c.query(q, &[]).await.unwrap();
    let text2 = c.simple_query(q).await.unwrap();
    let bin2 = c.query(q, &[]).await.unwrap();
    assert_eq!(bin[0].get::<_, i32>(0), 30);
    assert_eq!(bin2[0].get::<_, i32>(0), 30);
    assert_eq!(format!("{text:?}"), format!("{text2:?}"));
    let row = text2.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
        _ => None,
    });
    assert_eq!(row.and_then(|r| r.get(0)), Some("30"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_immutable_functions_and_catalogs_are_not_cached() {
    let (_origin, db, proxy) = setup("volatile").await;
    let c = proxy.connect(&db, "postgres").await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..5 {
        let rows = c.query("SELECT random()::text", &[]).await.unwrap();
        seen.insert(rows[0].get::<_, String>(0));
    }
    assert_eq!(seen.len(), 5, "random() must not be cached");
    for _ in 0..3 {
        c.simple_query("SELECT count(*) FROM pg_class")
            .await
            .unwrap();
        c.simple_query("SELECT now()").await.unwrap();
    }
    assert_eq!(proxy.hits().await, 0.0);
    let bypass = proxy
        .metric("wirecache_bypasses_total{cache=\"demo\",reason=\"non_immutable_function\"} ")
        .await;
    assert!(bypass >= 8.0, "{bypass}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_not_cached_and_session_recovers() {
    let (origin, db, proxy) = setup("errors").await;
    let c = proxy.connect(&db, "postgres").await;
    for _ in 0..3 {
        let e = c
            .simple_query("SELECT 1 / (qty - qty) FROM items WHERE id = 1")
            .await;
        assert!(e.is_err());
        let e = c
            .query("SELECT 1 / (qty - qty) FROM items WHERE id = 1", &[])
            .await;
        assert_eq!(
            e.unwrap_err().code(),
            Some(&tokio_postgres::error::SqlState::DIVISION_BY_ZERO)
        );
    }
    // pg_stat_statements does not count failed statements: the proxy's figures say
    // attempts ended in error fills (a query the client pipelined behind an error is
    // not even tried) and none was a hit.
    let _ = origin;
    let errors = proxy
        .metric("wirecache_fills_total{cache=\"demo\",outcome=\"error\"} ")
        .await;
    assert!(errors >= 3.0, "{errors}");
    assert_eq!(proxy.hits().await, 0.0);
    let rows = c.query("SELECT count(*) FROM items", &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 100);
    // An error after rows were already sent: the rows and the error reach the client,
    // nothing is stored, and the session goes on.
    for _ in 0..2 {
        let msgs = c
            .simple_query("SELECT 10 / (50 - id) FROM items ORDER BY id")
            .await;
        assert!(msgs.is_err());
    }
    let rows = c
        .query("SELECT id FROM items WHERE id = 50", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_results_stream_through_uncached() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("large");
    origin.psql(&db, "CREATE TABLE big AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 5000) g;");
    let proxy = Proxy::builder()
        .postgres_demo(origin.port)
        .settings("max_entry_size = \"64KiB\"")
        .start()
        .await;
    let c = proxy.connect(&db, "postgres").await;
    for _ in 0..2 {
        let rows = c
            .query("SELECT id, pad FROM big ORDER BY id", &[])
            .await
            .unwrap();
        assert_eq!(rows.len(), 5000);
        assert_eq!(rows[4999].get::<_, i32>(0), 5000);
    }
    assert_eq!(proxy.hits().await, 0.0);
    let too_large = proxy
        .metric("wirecache_fills_total{cache=\"demo\",outcome=\"too_large\"} ")
        .await;
    assert_eq!(too_large, 2.0);
    // A small result is still cached.
    for _ in 0..2 {
        c.query("SELECT pad FROM big WHERE id = 1", &[])
            .await
            .unwrap();
    }
    assert_eq!(proxy.hits().await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_limited_portals_are_never_cached() {
    let (_origin, db, proxy) = setup("portal").await;
    let mut c = proxy.connect(&db, "postgres").await;
    for _ in 0..2 {
        let tx = c.transaction().await.unwrap();
        let stmt = tx
            .prepare("SELECT id FROM items ORDER BY id")
            .await
            .unwrap();
        let portal = tx.bind(&stmt, &[]).await.unwrap();
        let first = tx.query_portal(&portal, 10).await.unwrap();
        let second = tx.query_portal(&portal, 10).await.unwrap();
        assert_eq!(first.len(), 10);
        assert_eq!(second[0].get::<_, i32>(0), 11);
        tx.commit().await.unwrap();
    }
    assert_eq!(proxy.hits().await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_health_endpoints() {
    let (_origin, db, proxy) = setup("metrics").await;
    let c = proxy.connect(&db, "postgres").await;
    c.simple_query("SELECT id FROM items WHERE id = 1")
        .await
        .unwrap();
    c.simple_query("SELECT id FROM items WHERE id = 1")
        .await
        .unwrap();
    let health = common::proxy::http_get(proxy.admin(), "/healthz").await;
    assert_eq!(health.trim(), "ok");
    let m = proxy.metrics().await;
    for series in [
        "wirecache_hits_total{cache=\"demo\"} 1",
        "wirecache_misses_total{cache=\"demo\"} 1",
        "wirecache_client_connections{cache=\"demo\"} 1",
        "wirecache_origin_connections{cache=\"demo\"} 1",
        "wirecache_hit_latency_seconds_count{cache=\"demo\"} 1",
        "# TYPE wirecache_bypasses_total counter",
    ] {
        assert!(m.contains(series), "missing {series} in\n{m}");
    }
    assert!(proxy.metric("wirecache_cache_bytes ").await > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_in_transactions_learn_their_tables_then_invalidate_only_them() {
    let (origin, db, proxy) = setup("txn_facts").await;
    // A table only ever written inside transactions through wirecache.
    origin.psql(&db, "CREATE TABLE audit (n int)");
    let reader = proxy.connect(&db, "postgres").await;
    let writer = proxy.connect(&db, "postgres").await;
    let q = "SELECT name FROM items WHERE id = 3";
    let calls = || origin_calls(origin, &db, "FROM items WHERE id =");
    let whole_db =
        || proxy.metric("wirecache_invalidations_total{cache=\"demo\",scope=\"database\"} ");
    let txn = || async {
        writer.batch_execute("BEGIN").await.unwrap();
        writer
            .execute("INSERT INTO audit VALUES ($1)", &[&1i32])
            .await
            .unwrap();
        writer.batch_execute("COMMIT").await.unwrap();
    };
    for _ in 0..2 {
        reader.simple_query(q).await.unwrap();
    }
    assert_eq!(calls(), 1);
    // Inside the transaction the catalog cannot be asked about `audit`: not knowing
    // whether a trigger or cascade writes elsewhere, the commit invalidates the whole
    // database, the unrelated cached read included.
    let before = whole_db().await;
    txn().await;
    assert!(whole_db().await > before);
    reader.simple_query(q).await.unwrap();
    assert_eq!(calls(), 2);
    reader.simple_query(q).await.unwrap();
    assert_eq!(calls(), 2);
    // The writer's next request outside a transaction (its next BEGIN) asks the
    // catalog what it could not ask before, so the next transaction's write to
    // `audit` invalidates `audit` alone.
    let catalog = proxy
        .metric("wirecache_catalog_queries_total{cache=\"demo\"} ")
        .await;
    let before = whole_db().await;
    txn().await;
    assert_eq!(whole_db().await, before);
    reader.simple_query(q).await.unwrap();
    assert_eq!(calls(), 2, "the unrelated read stayed cached");
    assert_eq!(
        proxy
            .metric("wirecache_catalog_queries_total{cache=\"demo\"} ")
            .await,
        catalog + 1.0
    );
    // And a read of `audit` still sees both rows: its own entries were invalidated.
    let rows = writer
        .query_one("SELECT count(*) FROM audit", &[])
        .await
        .unwrap();
    assert_eq!(rows.get::<_, i64>(0), 2);
}
