//! Transaction pooling and a Parse that fails, beyond the named one's own answer
//! (`pg_pooled_txn_parse`): the unnamed statement's Parse fails at the Parse as on
//! a direct connection, and a Bind or Describe of a statement whose Parse failed is
//! told the client's name for it, never wirecache's server-side `wc_<n>`.

use crate::pg_scripted::Raw;
use crate::pg_scripted::setup::direct_addr;

use crate::common::PgOrigin;
use crate::common::pg::password_for;

use super::pg_pooled::code;
use super::pg_pooled_txn::{USER, connect, txn_pooled};
use super::pg_pooled_txn_gaps::{IDLE, lines};
use super::pg_pooled_txn_parse::fresh_db;

async fn answer(c: &mut Raw) -> Vec<String> {
    lines(&c.until(b'Z').await)
}

/// Unnamed Parses of bad and good texts: alone, bound and executed, described, in
/// a failed transaction, and behind a failed Parse in the same batch.
async fn unnamed_script(c: &mut Raw) -> Vec<String> {
    let mut out = Vec::new();
    for sql in ["SELEC 1", "SELECT v FROM no_such_table", "SELECT v FROM t"] {
        c.parse("", sql).bind("", "", &[]).execute("", 0).sync();
        c.send().await;
        out.extend(answer(c).await);
    }
    c.parse("", "SELECT 'x'::int")
        .describe(b'S', "")
        .sync()
        .send()
        .await;
    out.extend(answer(c).await);
    // No unnamed statement is left after a failed Parse.
    c.parse("", "SELEC 2").sync().send().await;
    out.extend(answer(c).await);
    c.bind("", "", &[]).execute("", 0).sync().send().await;
    out.extend(answer(c).await);
    // Behind a failed Parse in the same batch: skipped.
    c.parse("s1", "SELEC 3")
        .parse("", "SELECT v FROM t")
        .bind("", "", &[])
        .execute("", 0)
        .sync()
        .send()
        .await;
    out.extend(answer(c).await);
    // In a failed transaction even a good text is refused at the Parse.
    c.query("BEGIN").send().await;
    out.extend(answer(c).await);
    c.parse("", "SELEC 4").sync().send().await;
    out.extend(answer(c).await);
    c.parse("", "SELECT v FROM t").sync().send().await;
    out.extend(answer(c).await);
    c.query("ROLLBACK").send().await;
    out.extend(answer(c).await);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_unnamed_parse_fails_at_the_parse_as_on_a_direct_connection() {
    let origin = PgOrigin::shared();
    let db = fresh_db(origin, "txn_unnamed_direct");
    let mut direct = Raw::login(direct_addr(origin), "postgres", &db, &[]).await;
    let want = unnamed_script(&mut direct).await;
    for line in [
        "E 42601 syntax error at or near \"SELEC\"",
        "E 42P01 relation \"no_such_table\" does not exist",
        "E 26000 unnamed prepared statement does not exist",
        "E 25P02 current transaction is aborted, commands ignored until end of transaction block",
    ] {
        assert!(want.iter().any(|l| l == line), "{line}: {want:#?}");
    }
    let proxy = txn_pooled(origin, USER, "pool_size = 1").await;
    let db = fresh_db(origin, "txn_unnamed_via");
    let user = format!("demo-{USER}");
    // The first session finds no text known; the second finds the good ones known.
    for session in ["first", "second"] {
        let mut via = Raw::login_password(proxy.pg_addr(), &user, &password_for(USER), &db).await;
        assert_eq!(unnamed_script(&mut via).await, want, "{session} session");
    }
}

/// tokio-postgres's `query_typed` (the unnamed statement: Parse, Bind, Describe,
/// Execute, Sync in one batch) of a bad text gets the origin's error, as direct.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_unprepared_query_of_a_bad_text_returns_the_origins_error() {
    let origin = PgOrigin::shared();
    let db = fresh_db(origin, "txn_unnamed_tokio");
    let proxy = txn_pooled(origin, USER, "pool_size = 1").await;
    let direct = origin.connect(&db, "postgres", None).await.unwrap();
    let via = connect(&proxy, &db).await;
    proxy.wait_for_metric(IDLE, 1.0).await;
    for round in 0..2 {
        for (sql, want) in [
            ("SELEC 1", "42601"),
            ("SELECT v FROM no_such_table", "42P01"),
        ] {
            let d = direct.query_typed(sql, &[]).await.unwrap_err();
            let v = via.query_typed(sql, &[]).await.unwrap_err();
            assert_eq!(code(&d), want, "direct: {d}");
            assert_eq!(code(&v), want, "round {round}, {sql}: {v}");
            assert_eq!(v.to_string(), d.to_string(), "{sql}");
        }
        let rows = via.query_typed("SELECT v FROM t", &[]).await.unwrap();
        assert_eq!(rows[0].get::<_, i32>(0), 1);
    }
}

/// Statements whose Parse failed, bound and described: in the Parse's batch (skipped)
/// and in batches pipelined behind it, before its answer arrived (then the statement
/// is still thought to exist and goes out under its server-side name).
async fn missing_script(c: &mut Raw) -> Vec<String> {
    let mut out = Vec::new();
    c.parse("s1", "SELEC 1")
        .bind("", "s1", &[])
        .execute("", 0)
        .sync();
    c.parse("s2", "SELECT v FROM no_such_table").sync();
    c.bind("", "s2", &[]).execute("", 0).sync();
    c.describe(b'S', "s2").sync();
    c.bind("", "s1", &[])
        .describe(b'P', "")
        .execute("", 0)
        .sync();
    c.close(b'S', "s2").sync();
    c.send().await;
    for _ in 0..6 {
        out.extend(answer(c).await);
    }
    // And later, once the failures are known.
    c.describe(b'S', "s1").sync().send().await;
    out.extend(answer(c).await);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_whose_parse_failed_is_missing_under_the_clients_name() {
    let origin = PgOrigin::shared();
    let db = fresh_db(origin, "txn_missing_direct");
    let mut direct = Raw::login(direct_addr(origin), "postgres", &db, &[]).await;
    let want = missing_script(&mut direct).await;
    for line in [
        "E 26000 prepared statement \"s1\" does not exist",
        "E 26000 prepared statement \"s2\" does not exist",
    ] {
        assert!(want.iter().any(|l| l == line), "{line}: {want:#?}");
    }
    let proxy = txn_pooled(origin, USER, "pool_size = 1").await;
    let db = fresh_db(origin, "txn_missing_via");
    let user = format!("demo-{USER}");
    for session in ["first", "second"] {
        let mut via = Raw::login_password(proxy.pg_addr(), &user, &password_for(USER), &db).await;
        let got = missing_script(&mut via).await;
        assert!(
            !got.iter().any(|l| l.contains("wc_")),
            "{session}: {got:#?}"
        );
        assert_eq!(got, want, "{session} session");
    }
}
