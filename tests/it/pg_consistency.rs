//! The consistency contract (design §4) against a real PostgreSQL. Each test would fail
//! if its promise broke: it first makes sure the stale answer is in the cache, then
//! changes the data the way the promise covers, then reads again through wirecache.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use common::PgOrigin;
use common::proxy::Proxy;
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
async fn write_on_one_connection_is_seen_by_another() {
    let (_o, db, proxy) = setup(
        "ryw",
        "CREATE TABLE t (id int PRIMARY KEY, v bigint); INSERT INTO t VALUES (1, 0);",
    )
    .await;
    let reader = proxy.connect(&db, "postgres").await;
    let writer = proxy.connect(&db, "postgres").await;
    let q = "SELECT v FROM t WHERE id = 1";
    for i in 1..=20i64 {
        warm(&proxy, &reader, q).await;
        if i % 2 == 0 {
            writer
                .execute("UPDATE t SET v = v + 1 WHERE id = 1", &[])
                .await
                .unwrap();
        } else {
            writer
                .simple_query("UPDATE t SET v = v + 1 WHERE id = 1")
                .await
                .unwrap();
        }
        assert_eq!(one_i64(&reader, q).await, i);
        assert_eq!(
            simple_text(&reader, q).await.as_deref(),
            Some(i.to_string().as_str())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_never_see_a_value_older_than_an_acknowledged_write() {
    let (_o, db, proxy) = setup(
        "race",
        "CREATE TABLE counter (id int PRIMARY KEY, v bigint); INSERT INTO counter VALUES (1, 0);",
    )
    .await;
    let acked = Arc::new(AtomicI64::new(0));
    let writer = proxy.connect(&db, "postgres").await;
    let mut readers = Vec::new();
    for r in 0..3 {
        let c = proxy.connect(&db, "postgres").await;
        let acked = acked.clone();
        readers.push(tokio::spawn(async move {
            let mut stale = 0;
            let mut reads = 0;
            // Read while the writer writes, then a few more times after its last
            // write (those can be hits, and must see the final value).
            let mut after_last = 0;
            while after_last < 5 {
                let floor = acked.load(Ordering::SeqCst);
                if floor >= 300 {
                    after_last += 1;
                }
                let v = if r % 2 == 0 {
                    one_i64(&c, "SELECT v FROM counter WHERE id = 1").await
                } else {
                    simple_text(&c, "SELECT v FROM counter WHERE id = 1")
                        .await
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(-1)
                };
                reads += 1;
                if v < floor {
                    stale += 1;
                }
            }
            (stale, reads)
        }));
    }
    for i in 1..=300i64 {
        let row = writer
            .query_one("UPDATE counter SET v = v + 1 WHERE id = 1 RETURNING v", &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, i64>(0), i);
        acked.store(i, Ordering::SeqCst);
        tokio::task::yield_now().await;
    }
    let mut total_reads = 0;
    for r in readers {
        let (stale, reads) = r.await.unwrap();
        assert_eq!(stale, 0, "stale reads seen");
        total_reads += reads;
    }
    assert!(total_reads >= 15, "{total_reads}");
    assert!(
        proxy.hits().await > 0.0,
        "the race never exercised the cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_writes_to_a_second_table_invalidate_it() {
    let (_o, db, proxy) = setup(
        "trigger",
        "CREATE TABLE orders (id serial PRIMARY KEY, amount int);
         CREATE TABLE audit (n bigint);
         INSERT INTO audit VALUES (0);
         CREATE FUNCTION bump_audit() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN UPDATE audit SET n = n + 1; RETURN NEW; END $$;
         CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION bump_audit();",
    )
    .await;
    let c = proxy.connect(&db, "postgres").await;
    let q = "SELECT n FROM audit";
    assert_eq!(warm(&proxy, &c, q).await, 0);
    c.execute("INSERT INTO orders (amount) VALUES (5)", &[])
        .await
        .unwrap();
    assert_eq!(one_i64(&c, q).await, 1);
    warm(&proxy, &c, q).await;
    c.simple_query("INSERT INTO orders (amount) VALUES (6)")
        .await
        .unwrap();
    assert_eq!(one_i64(&c, q).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_delete_cascade_invalidates_the_child_table() {
    let (_o, db, proxy) = setup(
        "cascade",
        "CREATE TABLE parent (id int PRIMARY KEY);
         CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent ON DELETE CASCADE);
         INSERT INTO parent VALUES (1), (2);
         INSERT INTO child VALUES (10, 1), (11, 1), (20, 2);",
    )
    .await;
    let c = proxy.connect(&db, "postgres").await;
    let q = "SELECT count(*) FROM child";
    assert_eq!(warm(&proxy, &c, q).await, 3);
    c.execute("DELETE FROM parent WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(one_i64(&c, q).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_is_invalidated_by_writes_to_its_base_table() {
    let (_o, db, proxy) = setup(
        "view",
        "CREATE TABLE stock (id int PRIMARY KEY, qty int);
         INSERT INTO stock VALUES (1, 5), (2, 7);
         CREATE VIEW in_stock AS SELECT id FROM stock WHERE qty > 0;
         CREATE VIEW in_stock_count AS SELECT count(*) AS n FROM in_stock;",
    )
    .await;
    let c = proxy.connect(&db, "postgres").await;
    let q = "SELECT n FROM in_stock_count";
    assert_eq!(warm(&proxy, &c, q).await, 2);
    c.execute("UPDATE stock SET qty = 0 WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(one_i64(&c, q).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volatile_function_that_writes_invalidates() {
    let (_o, db, proxy) = setup(
        "volfn",
        "CREATE TABLE hits (n bigint); INSERT INTO hits VALUES (0);
         CREATE FUNCTION add_hit() RETURNS bigint LANGUAGE sql VOLATILE AS
           $$ UPDATE hits SET n = n + 1 RETURNING n $$;",
    )
    .await;
    let c = proxy.connect(&db, "postgres").await;
    let q = "SELECT n FROM hits";
    assert_eq!(warm(&proxy, &c, q).await, 0);
    let r = c.query_one("SELECT add_hit()", &[]).await.unwrap();
    assert_eq!(r.get::<_, i64>(0), 1);
    assert_eq!(one_i64(&c, q).await, 1);
    // Called again: never cached, and invalidates again.
    warm(&proxy, &c, q).await;
    c.simple_query("SELECT add_hit()").await.unwrap();
    assert_eq!(one_i64(&c, q).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_inside_a_transaction_are_not_served_from_cache() {
    let (_o, db, proxy) = setup(
        "txn",
        "CREATE TABLE acct (id int PRIMARY KEY, bal bigint); INSERT INTO acct VALUES (1, 100);",
    )
    .await;
    let mut c = proxy.connect(&db, "postgres").await;
    let other = proxy.connect(&db, "postgres").await;
    let q = "SELECT bal FROM acct WHERE id = 1";
    assert_eq!(warm(&proxy, &c, q).await, 100);
    let tx = c.transaction().await.unwrap();
    tx.execute("UPDATE acct SET bal = 50 WHERE id = 1", &[])
        .await
        .unwrap();
    let hits = proxy.hits().await;
    // Inside the transaction the uncommitted value must be seen, not the cached one.
    assert_eq!(tx.query_one(q, &[]).await.unwrap().get::<_, i64>(0), 50);
    assert_eq!(proxy.hits().await, hits);
    // Outside it, the committed value; it may be cached.
    assert_eq!(one_i64(&other, q).await, 100);
    assert_eq!(one_i64(&other, q).await, 100);
    tx.commit().await.unwrap();
    // After COMMIT, everyone sees the new value.
    assert_eq!(one_i64(&other, q).await, 50);
    assert_eq!(one_i64(&c, q).await, 50);
    // Explicit BEGIN/COMMIT through the simple protocol.
    c.simple_query("BEGIN").await.unwrap();
    c.simple_query("UPDATE acct SET bal = 70 WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(simple_text(&c, q).await.as_deref(), Some("70"));
    assert_eq!(simple_text(&other, q).await.as_deref(), Some("50"));
    c.simple_query("COMMIT").await.unwrap();
    assert_eq!(simple_text(&other, q).await.as_deref(), Some("70"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_write_changes_nothing() {
    let (_o, db, proxy) = setup(
        "rollback",
        "CREATE TABLE acct (id int PRIMARY KEY, bal bigint); INSERT INTO acct VALUES (1, 100);",
    )
    .await;
    let mut c = proxy.connect(&db, "postgres").await;
    let other = proxy.connect(&db, "postgres").await;
    let q = "SELECT bal FROM acct WHERE id = 1";
    assert_eq!(warm(&proxy, &other, q).await, 100);
    let tx = c.transaction().await.unwrap();
    tx.execute("UPDATE acct SET bal = 1 WHERE id = 1", &[])
        .await
        .unwrap();
    // A concurrent reader fills the cache with the committed value meanwhile.
    assert_eq!(one_i64(&other, q).await, 100);
    tx.rollback().await.unwrap();
    assert_eq!(one_i64(&other, q).await, 100);
    assert_eq!(one_i64(&c, q).await, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_with_different_grants_never_share_cached_rows() {
    let (_o, db, proxy) = setup(
        "grants",
        "CREATE TABLE secret (v text); INSERT INTO secret VALUES ('alice-only');
         GRANT SELECT ON secret TO alice;
         CREATE TABLE notes (owner text, body text);
         INSERT INTO notes VALUES ('alice', 'a1'), ('bob', 'b1'), ('bob', 'b2');
         ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
         CREATE POLICY own ON notes USING (owner = current_user);
         GRANT SELECT ON notes TO alice, bob;",
    )
    .await;
    let alice = proxy.connect(&db, "alice").await;
    let bob = proxy.connect(&db, "bob").await;
    for _ in 0..2 {
        let rows = alice.simple_query("SELECT v FROM secret").await.unwrap();
        assert!(format!("{rows:?}").contains("alice-only"));
    }
    let denied = bob.simple_query("SELECT v FROM secret").await;
    assert_eq!(
        denied.unwrap_err().code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
    let q = "SELECT count(*) FROM notes";
    assert_eq!(one_i64(&alice, q).await, 1);
    assert_eq!(one_i64(&alice, q).await, 1);
    assert_eq!(one_i64(&bob, q).await, 2);
    assert_eq!(one_i64(&bob, q).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_search_path_gets_a_different_entry() {
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
