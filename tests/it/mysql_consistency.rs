//! The consistency contract (design §4) where MySQL differs: with autocommit off every
//! statement is inside a transaction. The promises every protocol shares are in
//! `consistency`.

use crate::common::origin::{MariaDb, Origin, Via, exec, int};
use crate::consistency::{read, setup, warm};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocommit_off_reads_are_not_served_from_cache_and_commit_invalidates() {
    let (origin, db, proxy) = setup::<MariaDb>(
        "ac0",
        "CREATE TABLE t (id int PRIMARY KEY, v int) ENGINE=InnoDB; INSERT INTO t VALUES (1, 5);",
    )
    .await;
    let mut c = MariaDb::connect(&proxy, &db).await;
    let mut other = MariaDb::connect(&proxy, &db).await;
    let q = "SELECT v FROM t WHERE id = 1";
    assert_eq!(warm(origin, &proxy, &mut other, &db, q).await, 5);
    // autocommit = 0: every statement is inside a transaction.
    exec(&mut c, Via::Text, "SET autocommit = 0").await;
    let hits = proxy.hits().await;
    assert_eq!(int(&mut c, Via::Text, q).await, 5);
    assert_eq!(int(&mut c, Via::Text, q).await, 5);
    assert_eq!(int(&mut c, Via::Prepared, q).await, 5);
    assert_eq!(proxy.hits().await, hits);
    exec(&mut c, Via::Text, "UPDATE t SET v = 6 WHERE id = 1").await;
    assert_eq!(warm(origin, &proxy, &mut other, &db, q).await, 5);
    exec(&mut c, Via::Text, "COMMIT").await;
    assert_eq!(read(&mut other, q).await, 6);
}

/// MySQL's executable comments (`/*! … */`, MariaDB's `/*M! … */`) run as SQL: a read
/// that names a table inside one is invalidated by writes to that table, though its
/// template (comments dropped) is that of a read without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_read_inside_an_executable_comment_is_invalidated() {
    let (origin, db, proxy) = setup::<MariaDb>(
        "xc",
        "CREATE TABLE t (id int PRIMARY KEY, v int) ENGINE=InnoDB; \
         CREATE TABLE u (id int PRIMARY KEY, w int) ENGINE=InnoDB; \
         INSERT INTO t VALUES (1, 5); INSERT INTO u VALUES (1, 7);",
    )
    .await;
    let mut c = MariaDb::connect(&proxy, &db).await;
    let mut writer = MariaDb::connect(&proxy, &db).await;
    // The plain read first: its classification is what a text of its template gets.
    assert_eq!(
        warm(origin, &proxy, &mut c, &db, "SELECT v FROM t WHERE id = 1").await,
        5
    );
    for (comment, then) in [("/*!", 8), ("/*M!100000", 9)] {
        let q =
            format!("SELECT v {comment} + (SELECT w FROM u WHERE u.id = 1) */ FROM t WHERE id = 1");
        let before = then - 1;
        assert_eq!(warm(origin, &proxy, &mut c, &db, &q).await, 5 + before);
        exec(
            &mut writer,
            Via::Text,
            &format!("UPDATE u SET w = {then} WHERE id = 1"),
        )
        .await;
        assert_eq!(read(&mut c, &q).await, 5 + then, "{q}");
    }
}

/// MySQL names may start with digits. `2024_orders` and `2025_orders` are two
/// tables: a read of the second must follow writes to the second, not be taken for
/// a read of the first (whose text it shares but for the name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_whose_names_start_with_digits_are_told_apart() {
    let (origin, db, proxy) = setup::<MariaDb>(
        "digits",
        "CREATE TABLE 2024_orders (id int PRIMARY KEY, v int) ENGINE=InnoDB; \
         CREATE TABLE 2025_orders (id int PRIMARY KEY, v int) ENGINE=InnoDB; \
         INSERT INTO 2024_orders VALUES (1, 10); INSERT INTO 2025_orders VALUES (1, 20);",
    )
    .await;
    let mut c = MariaDb::connect(&proxy, &db).await;
    let mut writer = MariaDb::connect(&proxy, &db).await;
    let first = "SELECT v FROM 2024_orders WHERE id = 1";
    let second = "SELECT v FROM 2025_orders WHERE id = 1";
    assert_eq!(warm(origin, &proxy, &mut c, &db, first).await, 10);
    assert_eq!(warm(origin, &proxy, &mut c, &db, second).await, 20);
    exec(
        &mut writer,
        Via::Text,
        "UPDATE 2025_orders SET v = 21 WHERE id = 1",
    )
    .await;
    assert_eq!(read(&mut c, second).await, 21, "{second}");
    assert_eq!(read(&mut c, first).await, 10, "{first}");
}
