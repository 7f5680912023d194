//! Transaction pooling where it once differed from a connection of one's own: a
//! Parse of a statement name in use is refused exactly as PostgreSQL refuses it (in
//! every pool mode), `max_prepared_statements` bounds what each origin connection
//! carries, a session past its bound of statements is told so, a session outlives an
//! origin restart, and a hit pipelined before a miss is answered while the miss waits
//! for a connection.

use crate::common;
use crate::pg_scripted::setup::direct_addr;
use crate::pg_scripted::{Msg, Raw};

use common::PgOrigin;
use common::pg::password_for;
use common::proxy::{Protocol, Proxy};

use super::pg_pooled::code;
use super::pg_pooled_txn::{USER, connect, txn_pooled};

pub const IDLE: &str = "wirecache_pool_connections{cache=\"demo\",state=\"idle\"}";

/// What a test compares of an answer: tags, with an error's SQLSTATE and message, a
/// row's values, a command's tag and a ReadyForQuery's status.
pub fn lines(msgs: &[Msg]) -> Vec<String> {
    let line = |m: &Msg| match m.tag {
        b'E' => Some(format!(
            "E {} {}",
            m.sqlstate().unwrap_or_default(),
            m.field(b'M').unwrap_or_default()
        )),
        b'D' => Some(format!("D {:?}", m.columns())),
        b'C' => Some(format!("C {}", m.text())),
        b'Z' => Some(format!("Z {}", m.body[0] as char)),
        b'N' | b'S' | b'A' => None,
        t => Some((t as char).to_string()),
    };
    msgs.iter().filter_map(line).collect()
}

/// Statement `s1` prepared, then prepared again: alone, after a write in the same
/// batch (whose implicit transaction the refusal rolls back), inside a transaction
/// (which it aborts), and with a text that fails to parse (that error comes first).
async fn reparse_script(c: &mut Raw) -> Vec<String> {
    let mut out = Vec::new();
    c.parse("s1", "SELECT 1").sync().send().await;
    out.extend(lines(&c.until(b'Z').await));
    c.parse("s1", "SELECT 2")
        .bind("", "s1", &[])
        .execute("", 0)
        .sync()
        .send()
        .await;
    out.extend(lines(&c.until(b'Z').await));
    c.bind("", "s1", &[]).execute("", 0).sync().send().await;
    out.extend(lines(&c.until(b'Z').await));
    c.parse("w", "INSERT INTO t VALUES (1)")
        .bind("", "w", &[])
        .execute("", 0)
        .parse("s1", "SELECT 3")
        .sync()
        .send()
        .await;
    out.extend(lines(&c.until(b'Z').await));
    for sql in ["SELECT count(*) FROM t", "BEGIN"] {
        c.query(sql).send().await;
        out.extend(lines(&c.until(b'Z').await));
    }
    c.parse("s1", "SELECT 4").sync().send().await;
    out.extend(lines(&c.until(b'Z').await));
    for sql in ["SELECT 1", "ROLLBACK"] {
        c.query(sql).send().await;
        out.extend(lines(&c.until(b'Z').await));
    }
    c.parse("s1", "SELEC 5").sync().send().await;
    out.extend(lines(&c.until(b'Z').await));
    c.bind("", "s1", &[]).execute("", 0).sync().send().await;
    out.extend(lines(&c.until(b'Z').await));
    out
}

fn fresh_db(origin: &PgOrigin, prefix: &str) -> String {
    let db = origin.create_db(prefix);
    origin.psql(
        &db,
        &format!("CREATE TABLE t (v int); GRANT ALL ON t TO {USER}"),
    );
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_statement_name_is_refused_as_the_origin_refuses_it() {
    let origin = PgOrigin::shared();
    let pw = password_for(USER);
    let login = format!("user = \"{USER}\"\npassword = \"{pw}\"\n");
    let proxy = Proxy::builder()
        .cache("demo", Protocol::Postgres, origin.port)
        .cache_with(
            "sess",
            Protocol::Postgres,
            origin.port,
            &format!("pool = \"session\"\n{login}"),
        )
        .cache_with(
            "txn",
            Protocol::Postgres,
            origin.port,
            &format!("pool = \"transaction\"\npool_size = 2\n{login}"),
        )
        .start()
        .await;
    let db = fresh_db(origin, "reparse_direct");
    let mut direct = Raw::login(direct_addr(origin), "postgres", &db, &[]).await;
    let want = reparse_script(&mut direct).await;
    assert!(
        want.iter()
            .any(|l| l == "E 42P05 prepared statement \"s1\" already exists"),
        "{want:#?}"
    );
    assert!(want.contains(&"D [Some(\"0\")]".to_owned()), "{want:#?}");
    let db = fresh_db(origin, "reparse_off");
    let mut off = Raw::login(proxy.pg_addr(), "demo-postgres", &db, &[]).await;
    assert_eq!(reparse_script(&mut off).await, want, "pass-through");
    for mode in ["sess", "txn"] {
        let db = fresh_db(origin, &format!("reparse_{mode}"));
        let user = format!("{mode}-{USER}");
        let mut via = Raw::login_password(proxy.pg_addr(), &user, &pw, &db).await;
        assert_eq!(reparse_script(&mut via).await, want, "{mode}");
        let rows = origin.psql(&db, "SELECT count(*) FROM t");
        assert_eq!(rows.trim(), "0", "{mode}: a refused batch's write stayed");
    }
}

/// With `max_prepared_statements = 2`, five statements used in turn on one
/// connection: every answer is right and the backend never carries more than two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_prepared_statements_bounds_each_connection() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("txn_cap");
    let proxy = txn_pooled(origin, USER, "pool_size = 1\nmax_prepared_statements = 2").await;
    let client = connect(&proxy, &db).await;
    let mut stmts = Vec::new();
    for k in 0..5i32 {
        let sql = format!("SELECT $1::int + {k}");
        stmts.push(client.prepare(&sql).await.unwrap());
    }
    let count = "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'wc\\_%'";
    for round in 0..3i32 {
        for (k, stmt) in (0i32..).zip(&stmts) {
            let arg = round * 100 + k;
            let row = client.query_one(stmt, &[&arg]).await.unwrap();
            assert_eq!(row.get::<_, i32>(0), arg + k, "statement {k}");
            let carried = client.simple_query(count).await.unwrap();
            let carried = carried.iter().find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                _ => None,
            });
            let carried: i64 = carried.unwrap().parse().unwrap();
            assert!(
                carried <= 2,
                "round {round}, statement {k}: {carried} carried"
            );
        }
    }
}

/// A session preparing more named statements than it may hold gets a clear error
/// for the one too many (its batch failing as after any error), and goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_statement_too_many_is_refused() {
    const MAX: usize = 10_000;
    let origin = PgOrigin::shared();
    let db = origin.create_db("txn_too_many");
    let proxy = txn_pooled(origin, USER, "").await;
    let user = format!("demo-{USER}");
    let mut c = Raw::login_password(proxy.pg_addr(), &user, &password_for(USER), &db).await;
    for n in 0..=MAX {
        c.parse(&format!("s{n}"), "SELECT 1");
    }
    c.bind("", "s0", &[]).execute("", 0).sync().send().await;
    let msgs = c.until(b'Z').await;
    let tags = crate::pg_scripted::tags(&msgs);
    assert_eq!(tags, format!("{}EZ", "1".repeat(MAX)));
    let error = msgs.iter().find(|m| m.tag == b'E').unwrap();
    assert_eq!(
        error.sqlstate().as_deref(),
        Some("54000"),
        "{:?}",
        error.field(b'M')
    );
    assert!(error.field(b'M').unwrap().contains("at most 10000"));
    // The statements it has still work; after a Close there is room again.
    c.close(b'S', "s1")
        .parse("s_new", "SELECT 2")
        .sync()
        .send()
        .await;
    assert_eq!(crate::pg_scripted::tags(&c.until(b'Z').await), "31Z");
    c.bind("", "s_new", &[]).execute("", 0).sync().send().await;
    let rows = lines(&c.until(b'Z').await);
    assert_eq!(rows, ["2", "D [Some(\"2\")]", "C SELECT 1", "Z I"]);
}

/// A transaction-pooled session through an origin restart: hits answered while it is
/// down, misses refused (57P03), and once it is back the same client connection's
/// next miss is answered on a freshly leased connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_leases_again_once_the_origin_is_back() {
    let origin = PgOrigin::private();
    let db = origin.create_db("txn_back");
    origin.psql(
        &db,
        &format!("CREATE TABLE k (id int primary key, v text); INSERT INTO k VALUES (1, 'one'), (2, 'two'); GRANT ALL ON k TO {USER}"),
    );
    let proxy = txn_pooled(&origin, USER, "").await;
    let client = connect(&proxy, &db).await;
    let hit = "SELECT v FROM k WHERE id = 1";
    client
        .batch_execute("SET application_name = 'kept'")
        .await
        .unwrap();
    client.simple_query(hit).await.unwrap();
    proxy.wait_for_metric(IDLE, 1.0).await;
    origin.stop();
    client.simple_query(hit).await.expect("a hit while down");
    let miss = client.simple_query("SELECT v FROM k WHERE id = 2").await;
    assert_eq!(code(&miss.expect_err("a miss while down")), "57P03");
    origin.start();
    proxy
        .wait_for_metric("wirecache_origin_up{cache=\"demo\"}", 1.0)
        .await;
    let rows = client.query("SELECT v FROM k WHERE id = 2", &[]).await;
    let rows = rows.expect("a miss once the origin is back");
    assert_eq!(rows[0].get::<_, String>(0), "two");
    let name = client
        .query_one("SELECT current_setting('application_name')", &[])
        .await
        .unwrap();
    assert_eq!(
        name.get::<_, String>(0),
        "kept",
        "settings were not replayed"
    );
    client.simple_query(hit).await.expect("a hit once back");
}

/// A hit pipelined before a miss, while the only connection is held by another
/// session: the hit's answer arrives while the miss still waits for a lease, and the
/// miss's follows once the connection is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelined_hit_is_answered_while_the_miss_waits() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("txn_hit_first");
    origin.psql(
        &db,
        &format!("CREATE TABLE k (id int primary key, v text); INSERT INTO k VALUES (1, 'one'), (2, 'two'); GRANT ALL ON k TO {USER}"),
    );
    let extra = "pool_size = 1\npool_queue_timeout = \"60s\"";
    let proxy = txn_pooled(origin, USER, extra).await;
    let user = format!("demo-{USER}");
    let mut c = Raw::login_password(proxy.pg_addr(), &user, &password_for(USER), &db).await;
    let hit = "SELECT v FROM k WHERE id = 1";
    assert_eq!(c.scalar(hit).await.as_deref(), Some("one"));
    proxy.wait_for_metric(IDLE, 1.0).await;
    let holder = connect(&proxy, &db).await;
    holder.batch_execute("BEGIN; SELECT 1").await.unwrap();
    let hits = proxy.hits().await;
    c.query(hit)
        .query("SELECT v FROM k WHERE id = 2")
        .send()
        .await;
    // Within the raw client's answer deadline, though the miss cannot run yet.
    let first = lines(&c.until(b'Z').await);
    assert_eq!(first, ["T", "D [Some(\"one\")]", "C SELECT 1", "Z I"]);
    assert_eq!(proxy.hits().await, hits + 1.0);
    holder.batch_execute("COMMIT").await.unwrap();
    let second = lines(&c.until(b'Z').await);
    assert_eq!(second, ["T", "D [Some(\"two\")]", "C SELECT 1", "Z I"]);
}
