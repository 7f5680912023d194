//! The consistency contract (design §4) where PostgreSQL differs: row-level
//! security, `search_path` changed in every way, multi-statement strings with DDL,
//! COPY. The promises every protocol shares are in `consistency`.

use crate::common::PgOrigin;
use crate::common::proxy::Proxy;
use tokio_postgres::Client;

async fn setup(prefix: &str, sql: &str) -> (&'static PgOrigin, String, Proxy) {
    let origin = PgOrigin::shared();
    let db = origin.create_db(prefix);
    origin.psql(&db, sql);
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
    (origin, db, proxy)
}

async fn one_i64(c: &Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).await.unwrap().get::<_, i64>(0)
}

async fn simple_text(c: &Client, sql: &str) -> Option<String> {
    for m in c.simple_query(sql).await.unwrap() {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            return r.get(0).map(str::to_string);
        }
    }
    None
}

/// Reads `sql` twice so the answer is cached, and checks the second was a hit.
async fn warm(proxy: &Proxy, c: &Client, sql: &str) -> i64 {
    let before = proxy.hits().await;
    let a = one_i64(c, sql).await;
    let b = one_i64(c, sql).await;
    assert_eq!(a, b);
    assert!(proxy.hits().await > before, "{sql} was not cached");
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_level_security_partitions_by_user() {
    // (Table grants: consistency::users_with_different_grants_do_not_share_results.)
    let (_o, db, proxy) = setup(
        "rls",
        "CREATE TABLE notes (owner text, body text);
         INSERT INTO notes VALUES ('alice', 'a1'), ('bob', 'b1'), ('bob', 'b2');
         ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
         CREATE POLICY own ON notes USING (owner = current_user);
         GRANT SELECT ON notes TO alice, bob;",
    )
    .await;
    let alice = proxy.connect(&db, "alice").await;
    let bob = proxy.connect(&db, "bob").await;
    let q = "SELECT count(*) FROM notes";
    assert_eq!(one_i64(&alice, q).await, 1);
    assert_eq!(one_i64(&alice, q).await, 1);
    assert_eq!(one_i64(&bob, q).await, 2);
    assert_eq!(one_i64(&bob, q).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_path_set_with_to_or_by_set_config_gets_its_own_entry() {
    // (SET search_path = …: consistency::different_namespaces_do_not_share_results.)
    let (_o, db, proxy) = setup(
        "search_path",
        "CREATE SCHEMA a; CREATE SCHEMA b;
         CREATE TABLE a.t (v text); CREATE TABLE b.t (v text);
         INSERT INTO a.t VALUES ('from a'); INSERT INTO b.t VALUES ('from b');",
    )
    .await;
    let ca = proxy.connect(&db, "postgres").await;
    let cb = proxy.connect(&db, "postgres").await;
    ca.simple_query("SET search_path = a").await.unwrap();
    cb.simple_query("SET search_path TO b").await.unwrap();
    for _ in 0..2 {
        assert_eq!(
            simple_text(&ca, "SELECT v FROM t").await.as_deref(),
            Some("from a")
        );
        assert_eq!(
            simple_text(&cb, "SELECT v FROM t").await.as_deref(),
            Some("from b")
        );
    }
    // A write through a schema-qualified name invalidates the unqualified read.
    ca.simple_query("UPDATE a.t SET v = 'new a'").await.unwrap();
    assert_eq!(
        simple_text(&ca, "SELECT v FROM t").await.as_deref(),
        Some("new a")
    );
    // set_config behind our back makes the session's namespace private.
    cb.simple_query("SELECT set_config('search_path', 'a', false)")
        .await
        .unwrap();
    assert_eq!(
        simple_text(&cb, "SELECT v FROM t").await.as_deref(),
        Some("new a")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_statement_writes_and_ddl_invalidate() {
    let (_o, db, proxy) = setup("multi", "CREATE TABLE m (v int); INSERT INTO m VALUES (1);").await;
    let c = proxy.connect(&db, "postgres").await;
    let q = "SELECT count(*) FROM m";
    assert_eq!(warm(&proxy, &c, q).await, 1);
    c.batch_execute("SELECT 1; INSERT INTO m VALUES (2); SELECT 2")
        .await
        .unwrap();
    assert_eq!(one_i64(&c, q).await, 2);
    warm(&proxy, &c, q).await;
    c.batch_execute("TRUNCATE m").await.unwrap();
    assert_eq!(one_i64(&c, q).await, 0);
    warm(&proxy, &c, q).await;
    c.batch_execute(
        "ALTER TABLE m RENAME TO m_old; CREATE TABLE m (v int); INSERT INTO m VALUES (1), (2), (3)",
    )
    .await
    .unwrap();
    assert_eq!(one_i64(&c, q).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_from_invalidates_and_copy_to_works() {
    use futures_util::SinkExt;
    let (_o, db, proxy) = setup(
        "copy",
        "CREATE TABLE c (id int, v text); INSERT INTO c VALUES (1, 'one');",
    )
    .await;
    let c = proxy.connect(&db, "postgres").await;
    let q = "SELECT count(*) FROM c";
    assert_eq!(warm(&proxy, &c, q).await, 1);
    let sink = c.copy_in("COPY c (id, v) FROM STDIN").await.unwrap();
    let mut sink = Box::pin(sink);
    sink.send(bytes::Bytes::from_static(b"2\ttwo\n3\tthree\n"))
        .await
        .unwrap();
    let n = sink.as_mut().finish().await.unwrap();
    assert_eq!(n, 2);
    assert_eq!(one_i64(&c, q).await, 3);
    let stream = c.copy_out("COPY c TO STDOUT").await.unwrap();
    let mut stream = Box::pin(stream);
    let mut out = Vec::new();
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        out.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 3);
}
