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
