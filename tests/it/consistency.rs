//! The consistency contract (design §4), written once and run against every origin
//! (`NAME::postgres`, `NAME::mariadb`). Each test would fail if its promise broke: it
//! first makes sure the stale answer is in the cache (a hit by text and by prepared
//! statement, and, where the origin can tell, the hit did not reach it), then changes
//! the data the way the promise covers, then reads again through wirecache.
//! Protocol-specific promises are in `pg_consistency` and `mysql_consistency`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::common::origin::{BOTH, Client, Origin, Sql, Via, exec, exec_with, int};
use crate::common::proxy::Proxy;
use crate::for_each_origin;

for_each_origin!(
    with_pooled:
    write_on_one_connection_is_seen_by_another,
    concurrent_readers_never_see_a_value_older_than_an_acknowledged_write,
    trigger_writes_to_a_second_table_invalidate_it,
    cascading_delete_invalidates_the_child_table,
    views_depend_on_their_base_tables,
    functions_and_procedures_that_write_invalidate,
    reads_inside_a_transaction_are_not_served_from_cache,
    a_rolled_back_write_changes_nothing,
    users_with_different_grants_do_not_share_results,
    different_namespaces_do_not_share_results,
);

/// The same promises on SQL Server's protocol (`common::origin_tds`), where its test
/// origin can run them: not those about views, routines, or (in `transactions`)
/// isolation levels and two-phase commit.
mod tds {
    crate::for_tds!(
        write_on_one_connection_is_seen_by_another,
        concurrent_readers_never_see_a_value_older_than_an_acknowledged_write,
        trigger_writes_to_a_second_table_invalidate_it,
        cascading_delete_invalidates_the_child_table,
        reads_inside_a_transaction_are_not_served_from_cache,
        a_rolled_back_write_changes_nothing,
        users_with_different_grants_do_not_share_results,
        different_namespaces_do_not_share_results,
    );
}

/// A fresh database holding `schema`, and a wirecache in front of the origin.
pub async fn setup<O: Origin>(prefix: &str, schema: &str) -> (&'static O, String, Proxy) {
    let origin = O::shared();
    let db = origin.create_db(prefix);
    origin.run(&db, schema);
    // Every write seen shrinks a template's learned TTL, down to 1 s, and on a
    // loaded machine the reads of `warm` can be further apart than that. These tests
    // check invalidation, not expiry: a long minimum only keeps a stale entry longer.
    let proxy = origin.proxy().settings("min_ttl = \"30s\"").start().await;
    (origin, db, proxy)
}

/// Reads `sql` twice prepared, then twice as text: each second read was a hit and,
/// where the origin can tell, did not reach it. Returns the value, which both ways
/// agree on. Prepared first: the first simple-query read of a PostgreSQL view or
/// trigger target may come before wirecache knows its catalog facts, and not be
/// stored. Before the text reads the client settles what the prepared reads left
/// owed (a statement tokio-postgres prepares per call is closed after it, and a read
/// that finds that Close still owed by the origin is not stored).
pub async fn warm<O: Origin>(
    origin: &O,
    proxy: &Proxy,
    c: &mut O::Client,
    db: &str,
    sql: &str,
) -> i64 {
    let mut value = None;
    for via in [Via::Prepared, Via::Text] {
        let a = int(c, via, sql).await;
        let hits = proxy.hits().await;
        // Where the origin counts its reads, `a` is counted once the origin answered
        // the next command on this connection.
        let reads = match origin.reads_at_origin(db) {
            Some(_) => {
                c.settle().await;
                origin.reads_at_origin(db)
            }
            None => None,
        };
        let refreshes = proxy.refreshes().await;
        let b = int(c, via, sql).await;
        assert_eq!(a, b, "{sql} ({via:?})");
        assert!(proxy.hits().await > hits, "{sql} ({via:?}) was not cached");
        if let Some(before) = reads {
            // The origin ran nothing for the hit; a hot entry's refresh ahead of its
            // expiry (counted before it runs) may have run meanwhile.
            let ran = origin.reads_at_origin(db).expect("counted") - before;
            let refreshed = proxy.refreshes().await - refreshes;
            assert!(
                ran as f64 <= refreshed,
                "{sql} ({via:?}): the hit ran at the origin ({ran} reads, {refreshed} refreshes)"
            );
        }
        if let Some(v) = value {
            assert_eq!(a, v, "{sql}: text and prepared reads disagree");
        }
        value = Some(a);
        c.settle().await;
    }
    value.expect("read")
}

/// `sql` read by text and prepared, which must agree.
pub async fn read<C: Client>(c: &mut C, sql: &str) -> i64 {
    let text = int(c, Via::Text, sql).await;
    let prepared = int(c, Via::Prepared, sql).await;
    assert_eq!(text, prepared, "{sql}: text and prepared reads disagree");
    text
}

async fn write_on_one_connection_is_seen_by_another<O: Origin>() {
    let (origin, db, proxy) = setup::<O>(
        "ryw",
        "CREATE TABLE t (id int PRIMARY KEY, v bigint); INSERT INTO t VALUES (1, 0);",
    )
    .await;
    let mut reader = O::connect(&proxy, &db).await;
    let mut writer = O::connect(&proxy, &db).await;
    let q = "SELECT v FROM t WHERE id = 1";
    let with_param = format!("UPDATE t SET v = v + 1 WHERE id = {}", O::placeholder(1));
    for i in 1..=20i64 {
        warm(origin, &proxy, &mut reader, &db, q).await;
        match i % 3 {
            0 => exec_with(&mut writer, Via::Prepared, &with_param, &[1]).await,
            1 => {
                exec(
                    &mut writer,
                    Via::Text,
                    "UPDATE t SET v = v + 1 WHERE id = 1",
                )
                .await
            }
            _ => {
                let sql = "UPDATE t SET v = v + 1 WHERE id = 1";
                exec(&mut writer, Via::Prepared, sql).await;
            }
        }
        assert_eq!(int(&mut reader, Via::Prepared, q).await, i);
        assert_eq!(int(&mut reader, Via::Text, q).await, i);
    }
}

async fn concurrent_readers_never_see_a_value_older_than_an_acknowledged_write<O: Origin>() {
    let (_o, db, proxy) = setup::<O>(
        "race",
        "CREATE TABLE counter (id int PRIMARY KEY, v bigint); INSERT INTO counter VALUES (1, 0);",
    )
    .await;
    let acked = Arc::new(AtomicI64::new(0));
    let mut writer = O::connect(&proxy, &db).await;
    let mut readers = Vec::new();
    for r in 0..3 {
        let mut c = O::connect(&proxy, &db).await;
        let acked = acked.clone();
        readers.push(tokio::spawn(async move {
            let (mut stale, mut reads) = (0, 0);
            let q = "SELECT v FROM counter WHERE id = 1";
            let via = if r % 2 == 0 { Via::Prepared } else { Via::Text };
            // Read while the writer writes, then a few more times after its last
            // write (those can be hits, and must see the final value).
            let mut after_last = 0;
            while after_last < 5 {
                let floor = acked.load(Ordering::SeqCst);
                if floor >= 300 {
                    after_last += 1;
                }
                let v = int(&mut c, via, q).await;
                reads += 1;
                if v < floor {
                    stale += 1;
                }
            }
            (stale, reads)
        }));
    }
    let update = "UPDATE counter SET v = v + 1 WHERE id = 1";
    let returning = O::returning(update, "v");
    for i in 1..=300i64 {
        match &returning {
            // The acknowledgement carries the new value: it must be this write's.
            Some(sql) => assert_eq!(int(&mut writer, Via::Prepared, sql).await, i),
            None => exec(&mut writer, Via::Text, update).await,
        }
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

async fn trigger_writes_to_a_second_table_invalidate_it<O: Origin>() {
    let schema = Sql {
        postgres: "CREATE TABLE orders (id serial PRIMARY KEY, amount int);
         CREATE TABLE audit (n bigint);
         INSERT INTO audit VALUES (0);
         CREATE FUNCTION bump_audit() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN UPDATE audit SET n = n + 1; RETURN NEW; END $$;
         CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION bump_audit();",
        mariadb: "CREATE TABLE orders (id int AUTO_INCREMENT PRIMARY KEY, amount int);
         CREATE TABLE audit (n bigint); INSERT INTO audit VALUES (0);
         CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW UPDATE audit SET n = n + 1;",
    };
    let (origin, db, proxy) = setup::<O>("trigger", O::pick(&schema)).await;
    let mut c = O::connect(&proxy, &db).await;
    let q = "SELECT n FROM audit";
    let with_param = format!("INSERT INTO orders (amount) VALUES ({})", O::placeholder(1));
    assert_eq!(warm(origin, &proxy, &mut c, &db, q).await, 0);
    exec(&mut c, Via::Text, "INSERT INTO orders (amount) VALUES (5)").await;
    assert_eq!(read(&mut c, q).await, 1);
    assert_eq!(warm(origin, &proxy, &mut c, &db, q).await, 1);
    exec(
        &mut c,
        Via::Prepared,
        "INSERT INTO orders (amount) VALUES (6)",
    )
    .await;
    assert_eq!(read(&mut c, q).await, 2);
    assert_eq!(warm(origin, &proxy, &mut c, &db, q).await, 2);
    exec_with(&mut c, Via::Prepared, &with_param, &[7]).await;
    assert_eq!(read(&mut c, q).await, 3);
}

async fn cascading_delete_invalidates_the_child_table<O: Origin>() {
    let schema = Sql {
        postgres: "CREATE TABLE parent (id int PRIMARY KEY);
         CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent ON DELETE CASCADE);
         INSERT INTO parent VALUES (1), (2);
         INSERT INTO child VALUES (10, 1), (11, 1), (20, 2);",
        mariadb: "CREATE TABLE parent (id int PRIMARY KEY) ENGINE=InnoDB;
         CREATE TABLE child (id int PRIMARY KEY, pid int,
           FOREIGN KEY (pid) REFERENCES parent(id) ON DELETE CASCADE) ENGINE=InnoDB;
         INSERT INTO parent VALUES (1), (2); INSERT INTO child VALUES (10, 1), (11, 1), (20, 2);",
    };
    let (origin, db, proxy) = setup::<O>("cascade", O::pick(&schema)).await;
    let mut c = O::connect(&proxy, &db).await;
    let q = "SELECT count(*) FROM child";
    assert_eq!(warm(origin, &proxy, &mut c, &db, q).await, 3);
    exec(&mut c, Via::Prepared, "DELETE FROM parent WHERE id = 1").await;
    assert_eq!(read(&mut c, q).await, 1);
    assert_eq!(warm(origin, &proxy, &mut c, &db, q).await, 1);
    exec(&mut c, Via::Text, "DELETE FROM parent WHERE id = 2").await;
    assert_eq!(read(&mut c, q).await, 0);
}

async fn views_depend_on_their_base_tables<O: Origin>() {
    let (origin, db, proxy) = setup::<O>(
        "views",
        "CREATE TABLE stock (id int PRIMARY KEY, qty int);
         INSERT INTO stock VALUES (1, 5), (2, 7);
         CREATE VIEW in_stock AS SELECT id FROM stock WHERE qty > 0;
         CREATE VIEW in_stock_count AS SELECT count(*) AS n FROM in_stock;",
    )
    .await;
    let mut c = O::connect(&proxy, &db).await;
    let q = "SELECT count(*) FROM in_stock";
    let nested = "SELECT n FROM in_stock_count";
    assert_eq!(warm(origin, &proxy, &mut c, &db, q).await, 2);
    if O::CACHES_NESTED_VIEWS {
        assert_eq!(warm(origin, &proxy, &mut c, &db, nested).await, 2);
    } else {
        assert_eq!(read(&mut c, nested).await, 2);
    }
    exec(
        &mut c,
        Via::Prepared,
        "UPDATE stock SET qty = 0 WHERE id = 1",
    )
    .await;
    assert_eq!(read(&mut c, q).await, 1);
    // A view over a view is right too, cached or not.
    assert_eq!(read(&mut c, nested).await, 1);
    if O::CACHES_NESTED_VIEWS {
        assert_eq!(warm(origin, &proxy, &mut c, &db, nested).await, 1);
    }
    exec(&mut c, Via::Text, "UPDATE stock SET qty = 0 WHERE id = 2").await;
    assert_eq!(read(&mut c, nested).await, 0);
    assert_eq!(read(&mut c, q).await, 0);
}

async fn functions_and_procedures_that_write_invalidate<O: Origin>() {
    let schema = Sql {
        postgres: "CREATE TABLE t (v bigint); INSERT INTO t VALUES (0);
         CREATE FUNCTION bump() RETURNS bigint LANGUAGE sql VOLATILE AS
           $$ UPDATE t SET v = v + 1 RETURNING v $$;
         CREATE FUNCTION twice(x bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$ SELECT 2 * x $$;
         CREATE PROCEDURE bump_proc() LANGUAGE sql AS $$ UPDATE t SET v = v + 10 $$;",
        mariadb: "CREATE TABLE t (v int); INSERT INTO t VALUES (0);
         DELIMITER //
         CREATE FUNCTION bump() RETURNS int MODIFIES SQL DATA BEGIN UPDATE t SET v = v + 1; RETURN 1; END //
         DELIMITER ;
         CREATE FUNCTION twice(x int) RETURNS int DETERMINISTIC NO SQL RETURN 2 * x;
         CREATE PROCEDURE bump_proc() MODIFIES SQL DATA UPDATE t SET v = v + 10;",
    };
    let (origin, db, proxy) = setup::<O>("routines", O::pick(&schema)).await;
    let mut c = O::connect(&proxy, &db).await;
    let q = "SELECT v FROM t";
    assert_eq!(warm(origin, &proxy, &mut c, &db, q).await, 0);
    // A function that writes, called by a prepared statement and as text: never
    // cached, and each call invalidates.
    assert_eq!(int(&mut c, Via::Prepared, "SELECT bump()").await, 1);
    assert_eq!(read(&mut c, q).await, 1);
    assert_eq!(warm(origin, &proxy, &mut c, &db, q).await, 1);
    exec(&mut c, Via::Text, "SELECT bump()").await;
    assert_eq!(read(&mut c, q).await, 2);
    assert_eq!(warm(origin, &proxy, &mut c, &db, q).await, 2);
    exec(&mut c, Via::Text, "CALL bump_proc()").await;
    assert_eq!(read(&mut c, q).await, 12);
    // A deterministic function that reads nothing is immutable: cached.
    assert_eq!(
        warm(origin, &proxy, &mut c, &db, "SELECT twice(v) FROM t").await,
        24
    );
}

async fn reads_inside_a_transaction_are_not_served_from_cache<O: Origin>() {
    let (origin, db, proxy) = setup::<O>(
        "txn",
        "CREATE TABLE acct (id int PRIMARY KEY, bal bigint); INSERT INTO acct VALUES (1, 100);",
    )
    .await;
    let mut c = O::connect(&proxy, &db).await;
    let mut other = O::connect(&proxy, &db).await;
    let q = "SELECT bal FROM acct WHERE id = 1";
    assert_eq!(warm(origin, &proxy, &mut c, &db, q).await, 100);
    // A driver-style transaction: BEGIN as text, a prepared write.
    exec(&mut c, Via::Text, O::BEGIN).await;
    exec(
        &mut c,
        Via::Prepared,
        "UPDATE acct SET bal = 50 WHERE id = 1",
    )
    .await;
    let hits = proxy.hits().await;
    // Inside the transaction its own write is seen, not the cached value.
    assert_eq!(read(&mut c, q).await, 50);
    assert_eq!(proxy.hits().await, hits);
    // Outside it, the committed value; it may be cached.
    assert_eq!(read(&mut other, q).await, 100);
    assert_eq!(read(&mut other, q).await, 100);
    exec(&mut c, Via::Text, "COMMIT").await;
    // After COMMIT, everyone sees the new value.
    assert_eq!(read(&mut other, q).await, 50);
    assert_eq!(read(&mut c, q).await, 50);
    // All as text.
    exec(&mut c, Via::Text, O::BEGIN).await;
    exec(&mut c, Via::Text, "UPDATE acct SET bal = 70 WHERE id = 1").await;
    assert_eq!(int(&mut c, Via::Text, q).await, 70);
    assert_eq!(int(&mut other, Via::Text, q).await, 50);
    exec(&mut c, Via::Text, "COMMIT").await;
    assert_eq!(int(&mut other, Via::Text, q).await, 70);
}

async fn a_rolled_back_write_changes_nothing<O: Origin>() {
    let (origin, db, proxy) = setup::<O>(
        "rollback",
        "CREATE TABLE acct (id int PRIMARY KEY, bal bigint); INSERT INTO acct VALUES (1, 100);",
    )
    .await;
    let mut c = O::connect(&proxy, &db).await;
    let mut other = O::connect(&proxy, &db).await;
    let q = "SELECT bal FROM acct WHERE id = 1";
    assert_eq!(warm(origin, &proxy, &mut other, &db, q).await, 100);
    exec(&mut c, Via::Text, O::BEGIN).await;
    exec(
        &mut c,
        Via::Prepared,
        "UPDATE acct SET bal = 1 WHERE id = 1",
    )
    .await;
    // A concurrent reader fills the cache with the committed value meanwhile.
    assert_eq!(read(&mut other, q).await, 100);
    exec(&mut c, Via::Text, "ROLLBACK").await;
    assert_eq!(warm(origin, &proxy, &mut other, &db, q).await, 100);
    assert_eq!(read(&mut c, q).await, 100);
}

async fn users_with_different_grants_do_not_share_results<O: Origin>() {
    let (origin, db, proxy) = setup::<O>(
        "grants",
        "CREATE TABLE secret (v int); INSERT INTO secret VALUES (42);",
    )
    .await;
    origin.grant_select(&db, "secret", "alice");
    let mut root = O::connect(&proxy, &db).await;
    let q = "SELECT v FROM secret";
    assert_eq!(warm(origin, &proxy, &mut root, &db, q).await, 42);
    // bob may not read it, however he names it, although the answer is cached.
    let (bob_db, bob_sql) = if O::CROSS_DATABASE {
        (
            None,
            format!("SELECT v FROM {}", O::qualified(&db, "secret")),
        )
    } else {
        (Some(db.as_str()), q.to_string())
    };
    let mut bob = O::connect_as(&proxy, bob_db, "bob").await;
    for via in BOTH {
        let err = bob.query(via, &bob_sql, &[]).await.unwrap_err();
        assert!(O::is_access_denied(&err), "{via:?}: {err}");
    }
    let mut alice = O::connect_as(&proxy, Some(&db), "alice").await;
    assert_eq!(warm(origin, &proxy, &mut alice, &db, q).await, 42);
}

async fn different_namespaces_do_not_share_results<O: Origin>() {
    let origin = O::shared();
    let (db, [a, b]) = origin.namespaces("ns");
    let proxy = origin.proxy().start().await;
    let q = "SELECT v FROM t";
    let mut ca = O::connect(&proxy, &db).await;
    let mut cb = O::connect(&proxy, &db).await;
    exec(&mut ca, Via::Text, &O::use_namespace(&a)).await;
    exec(&mut cb, Via::Text, &O::use_namespace(&b)).await;
    assert_eq!(warm(origin, &proxy, &mut ca, &db, q).await, 1);
    assert_eq!(read(&mut cb, q).await, 2);
    assert_eq!(warm(origin, &proxy, &mut cb, &b, q).await, 2);
    assert_eq!(read(&mut ca, q).await, 1);
    // Switching back and forth switches the namespace of the entries too. (Text
    // only: a MySQL statement prepared before the switch keeps its old tables.)
    exec(&mut ca, Via::Text, &O::use_namespace(&b)).await;
    assert_eq!(int(&mut ca, Via::Text, q).await, 2);
    exec(&mut ca, Via::Text, &O::use_namespace(&a)).await;
    assert_eq!(int(&mut ca, Via::Text, q).await, 1);
    // A write through a qualified name reaches readers of that namespace: in another
    // namespace, and in the writer's own.
    let update_b = format!("UPDATE {} SET v = 3", O::qualified(&b, "t"));
    exec(&mut ca, Via::Text, &update_b).await;
    assert_eq!(read(&mut cb, q).await, 3);
    assert_eq!(warm(origin, &proxy, &mut ca, &a, q).await, 1);
    let update_a = format!("UPDATE {} SET v = 4", O::qualified(&a, "t"));
    exec(&mut ca, Via::Text, &update_a).await;
    assert_eq!(read(&mut ca, q).await, 4);
}
