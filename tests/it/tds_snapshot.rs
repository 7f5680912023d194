//! SQL Server's SNAPSHOT isolation through wirecache's listener (issue 17), against
//! the test origin (which runs SNAPSHOT as PostgreSQL's REPEATABLE READ): wirecache
//! follows it as it follows REPEATABLE READ. A SNAPSHOT transaction reads its own
//! snapshot, never a newer cached row (under the default `transactions =
//! "read_committed"` policy); a SNAPSHOT session's autocommit reads are cached like
//! any other. The origin's SELECT counter proves hits and misses.

use crate::tds_output::{connect, exec, rows, setup};

const SNAPSHOT: &str = "SET TRANSACTION ISOLATION LEVEL SNAPSHOT";
const Q: &str = "SELECT id, name FROM t WHERE id = 1";

fn one(name: &str) -> Vec<(i32, Option<String>)> {
    vec![(1, Some(name.to_string()))]
}

#[tokio::test]
async fn a_snapshot_transaction_never_reads_a_newer_cached_row() {
    let (db, origin, proxy) = setup("SELECT 1").await;
    let mut reader = connect(&proxy, &db).await;
    let mut writer = connect(&proxy, &db).await;
    // The same session text on both: one namespace, so the writer's entries are the
    // reader's to be served.
    exec(&mut reader, SNAPSHOT).await;
    exec(&mut writer, SNAPSHOT).await;

    exec(&mut reader, "BEGIN TRAN").await;
    assert_eq!(
        rows(&mut reader, Q).await,
        one("one"),
        "the snapshot is taken"
    );

    exec(&mut writer, "UPDATE t SET name = 'uno' WHERE id = 1").await;
    assert_eq!(rows(&mut writer, Q).await, one("uno"));
    let s = origin.selects();
    assert_eq!(rows(&mut writer, Q).await, one("uno"));
    assert_eq!(origin.selects(), s, "the newer row is cached");

    assert_eq!(
        rows(&mut reader, Q).await,
        one("one"),
        "inside its snapshot the reader still sees the old row"
    );
    assert_eq!(origin.selects(), s + 1, "read at the origin, not served");
    exec(&mut reader, "COMMIT TRAN").await;

    assert_eq!(rows(&mut reader, Q).await, one("uno"));
    assert_eq!(origin.selects(), s + 1, "after the transaction: a hit");
}

#[tokio::test]
async fn autocommit_reads_of_a_snapshot_session_are_cached() {
    let (db, origin, proxy) = setup("SELECT 1").await;
    let mut a = connect(&proxy, &db).await;
    let mut b = connect(&proxy, &db).await;
    exec(&mut a, SNAPSHOT).await;
    exec(&mut b, SNAPSHOT).await;
    assert_eq!(rows(&mut a, Q).await, one("one"));
    let s = origin.selects();
    assert_eq!(rows(&mut b, Q).await, one("one"));
    assert_eq!(origin.selects(), s, "stored by a's read, served to b");
}

#[tokio::test]
async fn a_level_set_inside_a_transaction_stops_serving_it() {
    let (db, origin, proxy) = setup("SELECT 1").await;
    let rr = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ";
    let mut a = connect(&proxy, &db).await;
    let mut b = connect(&proxy, &db).await;
    exec(&mut a, "BEGIN TRAN").await;
    // SQL Server applies it to the open transaction too: its level is not followed.
    exec(&mut a, rr).await;
    exec(&mut b, rr).await;
    assert_eq!(rows(&mut b, Q).await, one("one"));
    let s = origin.selects();
    assert_eq!(rows(&mut b, Q).await, one("one"));
    assert_eq!(origin.selects(), s, "cached for the namespace both share");
    assert_eq!(rows(&mut a, Q).await, one("one"));
    assert_eq!(origin.selects(), s + 1, "not served inside a's transaction");
    exec(&mut a, "COMMIT TRAN").await;
}
