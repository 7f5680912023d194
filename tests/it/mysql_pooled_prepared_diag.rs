//! MySQL/MariaDB transaction pooling and binary prepared statements (COM_STMT_EXECUTE)
//! that read the previous statement's diagnostics or the last insert id, against a
//! real MariaDB: executed in a later lease, after other sessions used the connection,
//! they read what the same interleaving reads on dedicated connections (the oracle),
//! never the connection's values; and many sessions on two connections each read
//! their own.

use crate::mysql_pooled_diagnostics::{Setup, run, shown};

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};

/// A statement executed as a binary prepared statement, shown as [`run`] shows a
/// query.
async fn exec(c: &mut Conn, sql: &str) -> String {
    format!("exec {}", shown(sql, c.exec::<Row, _, _>(sql, ()).await))
}

/// Sessions A, B and C interleaved on `table` (a fresh AUTO_INCREMENT table); what
/// A and B saw, in order.
async fn interleave(a: &mut Conn, b: &mut Conn, mut c: Conn, table: &str) -> Vec<String> {
    let insert = |v: u32| format!("INSERT INTO {table} (v) VALUES ({v})");
    let mut seen = Vec::new();
    // The last insert id, after another session inserted on the connection.
    seen.push(run(a, &insert(1)).await);
    seen.push(run(b, &insert(2)).await);
    seen.push(exec(a, "SELECT LAST_INSERT_ID()").await);
    seen.push(exec(b, "SELECT LAST_INSERT_ID() + 0 AS lid").await);
    seen.push(run(b, &insert(3)).await);
    let copy = format!("INSERT INTO {table} (v) VALUES (LAST_INSERT_ID() + 100)");
    seen.push(exec(a, &copy).await);
    seen.push(run(b, &insert(4)).await);
    let last = format!("SELECT id, v FROM {table} WHERE id = LAST_INSERT_ID()");
    seen.push(run(a, &last).await);
    // ROW_COUNT() after a SELECT (-1) and after a SET (0), read after B's UPDATE.
    seen.push(run(a, "SELECT a FROM t WHERE RAND() >= 0").await);
    seen.push(run(b, "UPDATE t SET n = n + 1 WHERE a = 1").await);
    seen.push(exec(a, "SELECT ROW_COUNT()").await);
    seen.push(run(a, "SET SESSION sql_mode = @@session.sql_mode").await);
    seen.push(run(b, "UPDATE t SET n = n + 1 WHERE a = 1").await);
    seen.push(exec(a, "SELECT ROW_COUNT()").await);
    // A's own warning, read prepared; then cleared by a statement using a table.
    seen.push(run(a, "SELECT CAST('a' AS SIGNED)").await);
    seen.push(exec(a, "SELECT @@warning_count").await);
    seen.push(exec(a, "SHOW WARNINGS").await);
    seen.push(run(a, "SELECT a FROM t WHERE a = 2 AND RAND() >= 0").await);
    // C leaves a warning on the connection and goes: A's diagnostics are empty.
    seen.push(run(&mut c, "SELECT CAST('c' AS SIGNED)").await);
    c.disconnect().await.unwrap();
    seen.push(exec(a, "SELECT @@warning_count, @@error_count").await);
    seen.push(exec(a, "SHOW WARNINGS").await);
    seen.push(exec(b, "SHOW COUNT(*) WARNINGS").await);
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_reads_of_diagnostics_and_insert_ids_are_the_sessions_own() {
    let s = Setup::new_with_pool1("txn_diag_exec").await;
    let ddl = "CREATE TABLE ai_direct (id INT AUTO_INCREMENT PRIMARY KEY, v INT); \
               CREATE TABLE ai_pooled (id INT AUTO_INCREMENT PRIMARY KEY, v INT)";
    s.origin.sql(&s.db, ddl);
    let (mut a, mut b, c) = (s.direct().await, s.direct().await, s.direct().await);
    let want = interleave(&mut a, &mut b, c, "ai_direct").await;
    assert!(want.iter().any(|l| l.contains("'a'")), "{want:#?}");
    let (mut a, mut b, c) = (s.pooled().await, s.pooled().await, s.pooled().await);
    let got = interleave(&mut a, &mut b, c, "ai_pooled").await;
    let want: Vec<String> = want
        .iter()
        .map(|l| l.replace("ai_direct", "ai_pooled"))
        .collect();
    assert_eq!(got, want);
    // A count no statement can set, read prepared in another lease: refused (its
    // binary row is not rewritten), never the other session's.
    a.query_drop("UPDATE t SET n = n + 1").await.unwrap();
    b.query_drop("UPDATE t SET n = n + 1 WHERE a = 1")
        .await
        .unwrap();
    let refused = exec(&mut a, "SELECT ROW_COUNT()").await;
    assert_eq!(refused, "exec SELECT ROW_COUNT() => ERR 1105");
}

/// One session's rounds: insert, read its id prepared; read the count of a SELECT
/// prepared. What it read that a dedicated connection would not have.
async fn rounds(mut c: Conn, n: u32) -> Vec<String> {
    let mut wrong = Vec::new();
    for i in 0..20 {
        c.query_drop(format!("INSERT INTO ai (v) VALUES ({n})"))
            .await
            .unwrap();
        let mine = c.last_insert_id().unwrap();
        let got: Option<u64> = c.exec_first("SELECT LAST_INSERT_ID()", ()).await.unwrap();
        if got != Some(mine) {
            wrong.push(format!("session {n} round {i}: id {got:?}, not {mine}"));
        }
        c.query_drop("SELECT a FROM t WHERE RAND() >= 0")
            .await
            .unwrap();
        let count: Option<i64> = c.exec_first("SELECT ROW_COUNT()", ()).await.unwrap();
        if count != Some(-1) {
            wrong.push(format!(
                "session {n} round {i}: row count {count:?}, not -1"
            ));
        }
    }
    c.disconnect().await.unwrap();
    wrong
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sessions_read_their_own_values_prepared() {
    let extra = "pool_size = 2\npool_queue_timeout = \"60s\"";
    let s = Setup::with_pool("txn_diag_exec_many", extra).await;
    s.origin.sql(
        &s.db,
        "CREATE TABLE ai (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
    );
    let mut tasks = Vec::new();
    for n in 0..6 {
        let c = s.pooled().await;
        tasks.push(tokio::spawn(rounds(c, n)));
    }
    let mut wrong = Vec::new();
    for t in tasks {
        wrong.extend(t.await.unwrap());
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_set_pins_the_session() {
    let s = Setup::new_with_pool1("txn_diag_exec_set").await;
    let mut a = s.pooled().await;
    a.exec_drop("SET SESSION time_zone = ?", ("+05:00",))
        .await
        .unwrap();
    let series = "wirecache_pool_pinned_sessions{cache=\"demo\",reason=\"untracked_state\"}";
    assert_eq!(
        s.proxy.metric(series).await,
        1.0,
        "its parameter is not replayed"
    );
    let tz: Option<String> = a.query_first("SELECT @@session.time_zone").await.unwrap();
    assert_eq!(tz.as_deref(), Some("+05:00"));
    a.disconnect().await.unwrap();
    // The connection went back reset: the next session has the origin's default.
    let mut b = s.pooled().await;
    let tz: Option<String> = b.query_first("SELECT @@session.time_zone").await.unwrap();
    assert_ne!(tz.as_deref(), Some("+05:00"));
}
