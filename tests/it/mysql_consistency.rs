//! The consistency contract (design §4) against a real MariaDB, through the MySQL
//! listener. Each test first makes sure the stale answer is in the cache (a hit, and
//! the origin's `Com_select` did not move), then changes the data the way the promise
//! covers, then reads again through wirecache.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use common::mysql::{self, MyOrigin, ROOT_PASSWORD, ROOT_USER};
use common::proxy::Proxy;
use mysql_async::Conn;
use mysql_async::prelude::*;

async fn setup(prefix: &str, sql: &str) -> (&'static MyOrigin, String, Proxy) {
    let origin = MyOrigin::shared();
    let db = origin.create_db(prefix);
    origin.sql(&db, sql);
    let proxy = Proxy::builder().mysql_demo(origin.port).start().await;
    (origin, db, proxy)
}

async fn conn(proxy: &Proxy, db: &str) -> Conn {
    mysql::connect(&proxy.mysql_url("demo", db, ROOT_USER, ROOT_PASSWORD)).await
}

async fn one(c: &mut Conn, sql: &str) -> i64 {
    c.query_first::<i64, _>(sql).await.unwrap().unwrap()
}

async fn one_bin(c: &mut Conn, sql: &str) -> i64 {
    c.exec_first::<i64, _, _>(sql, ()).await.unwrap().unwrap()
}

/// Reads `sql` until it is a hit, and checks the hit did not reach the origin.
async fn warm(origin: &MyOrigin, proxy: &Proxy, c: &mut Conn, sql: &str) -> i64 {
    let a = one(c, sql).await;
    let db: String = c.query_first("SELECT DATABASE()").await.unwrap().unwrap();
    let hits = proxy.hits().await;
    let selects = origin.selects(&db);
    let b = one(c, sql).await;
    assert_eq!(a, b);
    assert!(proxy.hits().await > hits, "{sql} was not cached");
    assert_eq!(
        origin.selects(&db),
        selects,
        "{sql}: the hit ran at the origin"
    );
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_on_one_connection_is_seen_by_another() {
    let (origin, db, proxy) = setup(
        "ryw",
        "CREATE TABLE t (id int PRIMARY KEY, v bigint); INSERT INTO t VALUES (1, 0);",
    )
    .await;
    let mut reader = conn(&proxy, &db).await;
    let mut writer = conn(&proxy, &db).await;
    let q = "SELECT v FROM t WHERE id = 1";
    for i in 1..=10i64 {
        warm(origin, &proxy, &mut reader, q).await;
        one_bin(&mut reader, q).await;
        if i % 2 == 0 {
            writer
                .exec_drop("UPDATE t SET v = v + 1 WHERE id = ?", (1,))
                .await
                .unwrap();
        } else {
            writer
                .query_drop("UPDATE t SET v = v + 1 WHERE id = 1")
                .await
                .unwrap();
        }
        assert_eq!(one(&mut reader, q).await, i);
        assert_eq!(one_bin(&mut reader, q).await, i);
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
    let mut writer = conn(&proxy, &db).await;
    let mut readers = Vec::new();
    for r in 0..3 {
        let mut c = conn(&proxy, &db).await;
        let acked = acked.clone();
        readers.push(tokio::spawn(async move {
            let (mut stale, mut reads) = (0, 0);
            let q = "SELECT v FROM counter WHERE id = 1";
            // Read while the writer writes, then a few more times after its last
            // write (those can be hits, and must see the final value).
            let mut after_last = 0;
            while after_last < 5 {
                let floor = acked.load(Ordering::SeqCst);
                if floor >= 300 {
                    after_last += 1;
                }
                let v = if r % 2 == 0 {
                    one(&mut c, q).await
                } else {
                    one_bin(&mut c, q).await
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
        writer
            .query_drop("UPDATE counter SET v = v + 1 WHERE id = 1")
            .await
            .unwrap();
        acked.store(i, Ordering::SeqCst);
        tokio::task::yield_now().await;
    }
    let mut total = 0;
    for r in readers {
        let (stale, reads) = r.await.unwrap();
        assert_eq!(stale, 0, "stale reads seen");
        total += reads;
    }
    assert!(total >= 15, "{total}");
    assert!(
        proxy.hits().await > 0.0,
        "the race never exercised the cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_writes_to_a_second_table_invalidate_it() {
    let (origin, db, proxy) = setup(
        "trigger",
        "CREATE TABLE orders (id int AUTO_INCREMENT PRIMARY KEY, amount int);
         CREATE TABLE audit (n bigint); INSERT INTO audit VALUES (0);
         CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW UPDATE audit SET n = n + 1;",
    )
    .await;
    let mut c = conn(&proxy, &db).await;
    let q = "SELECT n FROM audit";
    assert_eq!(warm(origin, &proxy, &mut c, q).await, 0);
    c.query_drop("INSERT INTO orders (amount) VALUES (5)")
        .await
        .unwrap();
    assert_eq!(one(&mut c, q).await, 1);
    assert_eq!(warm(origin, &proxy, &mut c, q).await, 1);
    c.exec_drop("INSERT INTO orders (amount) VALUES (?)", (6,))
        .await
        .unwrap();
    assert_eq!(one(&mut c, q).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cascading_delete_invalidates_the_child_table() {
    let (origin, db, proxy) = setup(
        "cascade",
        "CREATE TABLE parent (id int PRIMARY KEY) ENGINE=InnoDB;
         CREATE TABLE child (id int PRIMARY KEY, pid int,
           FOREIGN KEY (pid) REFERENCES parent(id) ON DELETE CASCADE) ENGINE=InnoDB;
         INSERT INTO parent VALUES (1), (2); INSERT INTO child VALUES (10, 1), (20, 2);",
    )
    .await;
    let mut c = conn(&proxy, &db).await;
    let q = "SELECT count(*) FROM child";
    assert_eq!(warm(origin, &proxy, &mut c, q).await, 2);
    c.query_drop("DELETE FROM parent WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(one(&mut c, q).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_depend_on_their_base_tables() {
    let (origin, db, proxy) = setup(
        "views",
        "CREATE TABLE items (id int PRIMARY KEY, price int);
         INSERT INTO items VALUES (1, 10), (2, 20);
         CREATE VIEW expensive AS SELECT id FROM items WHERE price > 15;
         CREATE VIEW expensive2 AS SELECT id FROM expensive;",
    )
    .await;
    let mut c = conn(&proxy, &db).await;
    let q = "SELECT count(*) FROM expensive";
    assert_eq!(warm(origin, &proxy, &mut c, q).await, 1);
    c.query_drop("UPDATE items SET price = 30 WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(one(&mut c, q).await, 2);
    // A view over a view is never cached, and always right.
    let nested = "SELECT count(*) FROM expensive2";
    assert_eq!(one(&mut c, nested).await, 2);
    c.query_drop("UPDATE items SET price = 1 WHERE id = 2")
        .await
        .unwrap();
    assert_eq!(one(&mut c, nested).await, 1);
    assert_eq!(one(&mut c, q).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_and_procedures_that_write_invalidate() {
    let (origin, db, proxy) = setup(
        "routines",
        "CREATE TABLE t (v int); INSERT INTO t VALUES (0);
         DELIMITER //
         CREATE FUNCTION bump() RETURNS int MODIFIES SQL DATA BEGIN UPDATE t SET v = v + 1; RETURN 1; END //
         DELIMITER ;
         CREATE FUNCTION twice(x int) RETURNS int DETERMINISTIC NO SQL RETURN 2 * x;
         CREATE PROCEDURE bump_proc() MODIFIES SQL DATA UPDATE t SET v = v + 10;",
    )
    .await;
    let mut c = conn(&proxy, &db).await;
    let q = "SELECT v FROM t";
    assert_eq!(warm(origin, &proxy, &mut c, q).await, 0);
    assert_eq!(one(&mut c, "SELECT bump()").await, 1);
    assert_eq!(one(&mut c, q).await, 1);
    assert_eq!(warm(origin, &proxy, &mut c, q).await, 1);
    c.query_drop("CALL bump_proc()").await.unwrap();
    assert_eq!(one(&mut c, q).await, 11);
    // A deterministic function that reads nothing is immutable: cached.
    assert_eq!(
        warm(origin, &proxy, &mut c, "SELECT twice(v) FROM t").await,
        22
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_are_not_served_from_cache_and_commit_invalidates() {
    let (origin, db, proxy) = setup(
        "txn",
        "CREATE TABLE t (id int PRIMARY KEY, v int) ENGINE=InnoDB; INSERT INTO t VALUES (1, 0);",
    )
    .await;
    let mut c = conn(&proxy, &db).await;
    let mut other = conn(&proxy, &db).await;
    let q = "SELECT v FROM t WHERE id = 1";
    assert_eq!(warm(origin, &proxy, &mut c, q).await, 0);
    c.query_drop("START TRANSACTION").await.unwrap();
    c.query_drop("UPDATE t SET v = 5 WHERE id = 1")
        .await
        .unwrap();
    let hits = proxy.hits().await;
    // Inside the transaction: its own write is visible, nothing comes from the cache.
    assert_eq!(one(&mut c, q).await, 5);
    assert_eq!(one_bin(&mut c, q).await, 5);
    assert_eq!(proxy.hits().await, hits);
    // Outside, the committed value is still 0; reading it may fill the cache.
    assert_eq!(one(&mut other, q).await, 0);
    assert_eq!(one(&mut other, q).await, 0);
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(one(&mut other, q).await, 5);
    // autocommit = 0: every statement is inside a transaction.
    c.query_drop("SET autocommit = 0").await.unwrap();
    let hits = proxy.hits().await;
    assert_eq!(one(&mut c, q).await, 5);
    assert_eq!(one(&mut c, q).await, 5);
    assert_eq!(proxy.hits().await, hits);
    c.query_drop("UPDATE t SET v = 6 WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(warm(origin, &proxy, &mut other, q).await, 5);
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(one(&mut other, q).await, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_leaves_the_committed_value() {
    let (origin, db, proxy) = setup(
        "rollback",
        "CREATE TABLE t (id int PRIMARY KEY, v int) ENGINE=InnoDB; INSERT INTO t VALUES (1, 0);",
    )
    .await;
    let mut c = conn(&proxy, &db).await;
    let mut other = conn(&proxy, &db).await;
    let q = "SELECT v FROM t WHERE id = 1";
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("UPDATE t SET v = 9 WHERE id = 1")
        .await
        .unwrap();
    c.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(warm(origin, &proxy, &mut other, q).await, 0);
    assert_eq!(one(&mut c, q).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_with_different_grants_do_not_share_results() {
    let (origin, db, proxy) = setup(
        "grants",
        "CREATE TABLE secret (v int); INSERT INTO secret VALUES (42);",
    )
    .await;
    origin.sql("", &format!("GRANT SELECT ON `{db}`.* TO 'alice'@'%';"));
    let mut root = conn(&proxy, &db).await;
    let q = "SELECT v FROM secret";
    assert_eq!(warm(origin, &proxy, &mut root, q).await, 42);
    let url = proxy.mysql_url("demo", "", "bob", &mysql::password_for("bob"));
    let mut bob = mysql::connect(&url).await;
    let err = bob
        .query_first::<i64, _>(format!("SELECT v FROM `{db}`.secret"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("denied"), "{err}");
    let url = proxy.mysql_url("demo", &db, "alice", &mysql::password_for("alice"));
    let mut alice = mysql::connect(&url).await;
    assert_eq!(warm(origin, &proxy, &mut alice, q).await, 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_default_databases_do_not_share_results() {
    let origin = MyOrigin::shared();
    let a = origin.create_db("db_a");
    let b = origin.create_db("db_b");
    origin.sql(&a, "CREATE TABLE t (v int); INSERT INTO t VALUES (1);");
    origin.sql(&b, "CREATE TABLE t (v int); INSERT INTO t VALUES (2);");
    let proxy = Proxy::builder().mysql_demo(origin.port).start().await;
    let q = "SELECT v FROM t";
    let mut ca = conn(&proxy, &a).await;
    let mut cb = conn(&proxy, &b).await;
    assert_eq!(warm(origin, &proxy, &mut ca, q).await, 1);
    assert_eq!(one(&mut cb, q).await, 2);
    // USE and COM_INIT_DB switch the namespace too.
    ca.query_drop(format!("USE `{b}`")).await.unwrap();
    assert_eq!(one(&mut ca, q).await, 2);
    ca.query_drop(format!("USE `{a}`")).await.unwrap();
    assert_eq!(one(&mut ca, q).await, 1);
    // A write in one database through a qualified name reaches readers of the other.
    assert_eq!(warm(origin, &proxy, &mut cb, q).await, 2);
    ca.query_drop(format!("UPDATE `{b}`.t SET v = 3"))
        .await
        .unwrap();
    assert_eq!(one(&mut cb, q).await, 3);
}
