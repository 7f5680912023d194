//! Transaction pooling (`pool = "transaction"`) and the client's Parse of a named
//! statement: a text the origin refuses fails at the Parse, in the Parse's place of
//! its batch, with the origin's error, the batch skipped to Sync and the statement
//! not created, exactly as on a connection of one's own: compared message for
//! message with a direct connection, in a first session (no text known to the
//! cache) and a second one (the good texts known, answered without the origin where
//! that is safe), and through tokio-postgres and node-postgres. A session's
//! statements are bounded in bytes too, and catalog questions leave each
//! connection within `max_prepared_statements`.

use std::process::Command;

use crate::common;
use crate::pg_scripted::Raw;
use crate::pg_scripted::setup::direct_addr;

use common::PgOrigin;
use common::pg::password_for;

use super::pg_pooled::code;
use super::pg_pooled_txn::{USER, connect, txn_pooled};
use super::pg_pooled_txn_gaps::{IDLE, lines};

async fn answer(c: &mut Raw) -> Vec<String> {
    lines(&c.until(b'Z').await)
}

/// Good and bad Parses, alone, in batches and in transactions, and what the
/// statements they named are afterwards.
async fn parse_script(c: &mut Raw) -> Vec<String> {
    let mut out = Vec::new();
    // A syntax error, an unknown table, a constant of the wrong type.
    c.parse("s1", "SELEC 1").sync().send().await;
    out.extend(answer(c).await);
    c.parse("s2", "SELECT v FROM no_such_table")
        .bind("", "s2", &[])
        .execute("", 0)
        .sync()
        .send()
        .await;
    out.extend(answer(c).await);
    c.parse("s3", "SELECT 'x'::int")
        .describe(b'S', "s3")
        .sync()
        .send()
        .await;
    out.extend(answer(c).await);
    // The failed statement does not exist; its name is free.
    c.bind("", "s1", &[]).execute("", 0).sync().send().await;
    out.extend(answer(c).await);
    c.parse("s1", "SELECT v FROM t")
        .bind("", "s1", &[])
        .execute("", 0)
        .sync()
        .send()
        .await;
    out.extend(answer(c).await);
    // In one batch: the Parse after a failed one is skipped and creates nothing.
    c.parse("s4", "SELECT 4")
        .parse("s5", "SELEC 5")
        .parse("s6", "SELECT 6")
        .sync()
        .send()
        .await;
    out.extend(answer(c).await);
    for stmt in ["s6", "s4", "s5"] {
        c.bind("", stmt, &[]).execute("", 0).sync().send().await;
        out.extend(answer(c).await);
    }
    c.parse("s6", "SELECT 6")
        .bind("", "s6", &[])
        .execute("", 0)
        .sync()
        .send()
        .await;
    out.extend(answer(c).await);
    // A Parse of a text the connection has, after an error of its batch.
    c.parse("s7", "SELECT 1 / (v - v) FROM t")
        .bind("", "s7", &[])
        .execute("", 0)
        .parse("s8", "SELECT 6")
        .sync()
        .send()
        .await;
    out.extend(answer(c).await);
    c.bind("", "s8", &[]).execute("", 0).sync().send().await;
    out.extend(answer(c).await);
    // In a transaction: the bad Parse aborts it, the good one then fails too.
    c.query("BEGIN").send().await;
    out.extend(answer(c).await);
    c.parse("s9", "SELEC 9").sync().send().await;
    out.extend(answer(c).await);
    c.parse("s10", "SELECT 6").sync().send().await;
    out.extend(answer(c).await);
    c.query("ROLLBACK").send().await;
    out.extend(answer(c).await);
    for stmt in ["s9", "s10", "s1"] {
        c.bind("", stmt, &[]).execute("", 0).sync().send().await;
        out.extend(answer(c).await);
    }
    // A good text alone, then used.
    c.parse("s11", "SELECT v FROM t").sync().send().await;
    out.extend(answer(c).await);
    c.bind("", "s11", &[]).execute("", 0).sync().send().await;
    out.extend(answer(c).await);
    // A second batch sent after the first's error but before its ReadyForQuery
    // (as tokio-postgres does): its Parse fails too, and its text is refused again.
    let missing = "SELECT v FROM no_such_table_2";
    c.parse("s12", "SELEC 12").flush().send().await;
    out.extend(lines(&c.until(b'E').await));
    c.sync()
        .parse("s13", missing)
        .describe(b'S', "s13")
        .sync()
        .send()
        .await;
    out.extend(lines(&c.ready(2).await));
    c.parse("s14", missing)
        .describe(b'S', "s14")
        .sync()
        .send()
        .await;
    out.extend(answer(c).await);
    out
}

/// A database with `t (v int)` holding one row, granted to the pooled user.
pub(crate) fn fresh_db(origin: &PgOrigin, prefix: &str) -> String {
    let db = origin.create_db(prefix);
    origin.psql(
        &db,
        &format!("CREATE TABLE t (v int); INSERT INTO t VALUES (1); GRANT ALL ON t TO {USER}"),
    );
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_parse_fails_at_the_parse_as_on_a_direct_connection() {
    let origin = PgOrigin::shared();
    let db = fresh_db(origin, "txn_parse_direct");
    let mut direct = Raw::login(direct_addr(origin), "postgres", &db, &[]).await;
    let want = parse_script(&mut direct).await;
    for line in [
        "E 42601 syntax error at or near \"SELEC\"",
        "E 42P01 relation \"no_such_table\" does not exist",
        "E 26000 prepared statement \"s1\" does not exist",
        "E 25P02 current transaction is aborted, commands ignored until end of transaction block",
    ] {
        assert!(want.iter().any(|l| l == line), "{line}: {want:#?}");
    }
    let proxy = txn_pooled(origin, USER, "pool_size = 1").await;
    let db = fresh_db(origin, "txn_parse_via");
    let user = format!("demo-{USER}");
    // The first session finds no text known; the second finds the good ones known.
    for session in ["first", "second"] {
        let mut via = Raw::login_password(proxy.pg_addr(), &user, &password_for(USER), &db).await;
        assert_eq!(parse_script(&mut via).await, want, "{session} session");
    }
}

/// tokio-postgres's `prepare` (Parse + Describe + Sync) of a text the origin refuses
/// returns the origin's error, as on a direct connection; the client goes on, good
/// texts prepare and run, and a bad one fails again every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_prepare_of_a_bad_text_returns_the_origins_error() {
    use tokio_postgres::types::Type;
    let origin = PgOrigin::shared();
    let db = fresh_db(origin, "txn_parse_tokio");
    let proxy = txn_pooled(origin, USER, "pool_size = 1").await;
    let direct = origin.connect(&db, "postgres", None).await.unwrap();
    let via = connect(&proxy, &db).await;
    proxy.wait_for_metric(IDLE, 1.0).await;
    let bad: [(&str, &[Type], &str); 3] = [
        ("SELEC 1", &[], "42601"),
        ("SELECT v FROM no_such_table", &[], "42P01"),
        ("SELECT $1 + 1", &[Type::TEXT], "42883"),
    ];
    for round in 0..2 {
        for (sql, types, want) in bad {
            let d = direct.prepare_typed(sql, types).await.map(|_| ());
            let v = via.prepare_typed(sql, types).await.map(|_| ());
            let (d, v) = (d.unwrap_err(), v.unwrap_err());
            assert_eq!(code(&d), want, "direct: {d}");
            assert_eq!(code(&v), want, "round {round}, {sql}: {v}");
            assert_eq!(v.to_string(), d.to_string(), "{sql}");
        }
        for k in 0..3i32 {
            let good = via.prepare("SELECT $1::int + v FROM t").await.unwrap();
            let row = via.query_one(&good, &[&k]).await.unwrap();
            assert_eq!(row.get::<_, i32>(0), k + 1);
        }
    }
}

/// node-postgres runs a named query with a bad text, then the same name with a good
/// one: it records a name as prepared only at its ParseComplete, so a Parse answered
/// before the origin refused it would make it refuse the good text itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_postgres_reuses_the_name_of_a_failed_statement() {
    let origin = PgOrigin::shared();
    let db = fresh_db(origin, "txn_parse_node");
    let proxy = txn_pooled(origin, USER, "pool_size = 1").await;
    let script = r#"const {Client}=require("pg");
(async()=>{const c=new Client({connectionString:process.argv[1]});await c.connect();
for(const text of ["SELEC 1","SELECT v FROM no_such_table"]){
try{await c.query({name:"q",text});console.log("ran")}catch(e){console.log(e.code||e.message)}}
for(const k of [1,2]){console.log((await c.query({name:"q",text:"SELECT $1::int + v AS n FROM t",values:[k]})).rows[0].n)}
await c.end()})().catch(e=>{console.error(e);process.exit(1)})"#;
    let run = |url: String| {
        let dir = crate::pg_clients::clients_dir().join("node");
        let mut cmd = Command::new("node");
        cmd.args(["-e", script, &url]).current_dir(&dir);
        crate::pg_clients::run(&mut cmd, "node-postgres")
    };
    let direct = format!("postgresql://postgres@127.0.0.1:{}/{db}", origin.port);
    let via = format!(
        "postgresql://demo-{USER}:{}@127.0.0.1:{}/{db}",
        password_for(USER),
        proxy.pg_addr().port()
    );
    let (want, got) = tokio::task::spawn_blocking(move || (run(direct), run(via)))
        .await
        .unwrap();
    assert_eq!(
        want.lines().collect::<Vec<_>>(),
        ["42601", "42P01", "2", "3"]
    );
    assert_eq!(got, want);
}

/// A session's named statements hold at most 16 MiB of text: the Parse past it is
/// refused with 54000 (its batch failing as after any error), the session goes on,
/// and a Close makes room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_text_is_bounded_per_session() {
    let origin = PgOrigin::shared();
    let db = fresh_db(origin, "txn_parse_bytes");
    let proxy = txn_pooled(origin, USER, "pool_size = 1").await;
    let user = format!("demo-{USER}");
    let mut c = Raw::login_password(proxy.pg_addr(), &user, &password_for(USER), &db).await;
    let big = |k: usize| format!("SELECT {k} -- {}", "x".repeat(5 << 20));
    for k in 0..3 {
        c.parse(&format!("big{k}"), &big(k)).sync().send().await;
        assert_eq!(answer(&mut c).await, ["1", "Z I"], "statement {k}");
    }
    c.parse("big3", &big(3))
        .bind("", "big0", &[])
        .execute("", 0)
        .sync()
        .send()
        .await;
    let refused = answer(&mut c).await;
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        refused[0].starts_with("E 54000 ") && refused[0].contains("16 MiB"),
        "{refused:?}"
    );
    // The statements it has still work; after a Close there is room again.
    c.bind("", "big1", &[]).execute("", 0).sync().send().await;
    assert_eq!(
        answer(&mut c).await,
        ["2", "D [Some(\"1\")]", "C SELECT 1", "Z I"]
    );
    c.close(b'S', "big0")
        .parse("big3", &big(3))
        .sync()
        .send()
        .await;
    assert_eq!(answer(&mut c).await, ["3", "1", "Z I"]);
    c.bind("", "big3", &[]).execute("", 0).sync().send().await;
    assert_eq!(
        answer(&mut c).await,
        ["2", "D [Some(\"3\")]", "C SELECT 1", "Z I"]
    );
}

/// Catalog questions (a user function, a view) between uses of more statements than
/// `max_prepared_statements`: the only connection never carries more than the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_questions_keep_the_connection_within_the_cap() {
    let origin = PgOrigin::shared();
    let db = fresh_db(origin, "txn_parse_catalog");
    origin.psql(
        &db,
        &format!(
            "CREATE FUNCTION f(int) RETURNS int LANGUAGE sql STABLE AS 'SELECT $1 + 1';
             CREATE VIEW tv AS SELECT v FROM t;
             GRANT ALL ON tv TO {USER}; GRANT EXECUTE ON FUNCTION f(int) TO {USER}"
        ),
    );
    let extra = "pool_size = 1\nmax_prepared_statements = 2";
    let proxy = txn_pooled(origin, USER, extra).await;
    let client = connect(&proxy, &db).await;
    let catalog = "wirecache_catalog_queries_total{cache=\"demo\"} ";
    let before = proxy.metric(catalog).await;
    let count = "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'wc\\_%'";
    for k in 0..4i32 {
        let stmt = client
            .prepare(&format!("SELECT $1::int + {k}"))
            .await
            .unwrap();
        proxy.wait_for_metric(IDLE, 1.0).await;
        let asks = [format!("SELECT f({k})"), format!("SELECT v + {k} FROM tv")];
        for sql in asks {
            client.simple_query(&sql).await.unwrap();
            let row = client.query_one(&stmt, &[&k]).await.unwrap();
            assert_eq!(row.get::<_, i32>(0), 2 * k);
            let carried = client.simple_query(count).await.unwrap();
            let carried = carried.iter().find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                _ => None,
            });
            let carried: i64 = carried.unwrap().parse().unwrap();
            assert!(
                carried <= 2,
                "statement {k}, after {sql}: {carried} carried"
            );
        }
    }
    assert!(proxy.metric(catalog).await > before, "no catalog question");
}
