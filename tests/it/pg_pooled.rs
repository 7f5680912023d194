//! Pooled mode (`pool = "session"`) against a real PostgreSQL origin: many short
//! client connections share few origin backends (seen in `pg_stat_activity`), a
//! connection given back carries no session state, startup parameters follow each
//! client, a cancel reaches the backend serving the client, and psql, pgbench (`-C`,
//! every `-M`) and psycopg2 work through it. The logins themselves are
//! `pg_pooled_auth`.

use crate::common;

use std::process::Command;

use common::PgOrigin;
use common::pg::password_for;
use common::proxy::Proxy;

pub const USER: &str = "scram_user";
const IDLE: &str = "wirecache_pool_connections{cache=\"demo\",state=\"idle\"}";

/// A proxy whose cache `demo` pools connections for `user` with its password.
pub async fn pooled(origin: &PgOrigin, user: &str, extra: &str) -> Proxy {
    let lines = format!(
        "pool = \"session\"\nuser = \"{user}\"\npassword = \"{}\"\n{extra}",
        password_for(user)
    );
    Proxy::builder()
        .cache_with(
            "demo",
            common::proxy::Protocol::Postgres,
            origin.port,
            &lines,
        )
        .start()
        .await
}

pub fn backends(origin: &PgOrigin, db: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'");
    origin.psql("postgres", &sql).trim().parse().unwrap_or(-1)
}

async fn pid(client: &tokio_postgres::Client) -> i32 {
    client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
}

pub fn code(e: &tokio_postgres::Error) -> String {
    e.code().map(|c| c.code().to_owned()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_connections_share_one_origin_backend() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("pooled_share");
    let proxy = pooled(origin, USER, "").await;
    let pw = password_for(USER);
    let mut pids = Vec::new();
    for _ in 0..20 {
        let client = proxy
            .try_connect("demo", &db, USER, Some(&pw))
            .await
            .unwrap();
        pids.push(pid(&client).await);
        drop(client);
        // The session gives its connection back once the client has gone.
        proxy.wait_for_metric(IDLE, 1.0).await;
    }
    pids.dedup();
    assert_eq!(
        pids.len(),
        1,
        "20 sequential clients used backends {pids:?}"
    );
    assert_eq!(backends(origin, &db), 1);
    let text = proxy.metrics().await;
    assert!(
        text.contains("wirecache_pool_connections{cache=\"demo\",state=\"idle\"} 1"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returned_connection_carries_no_session_state() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("pooled_reset");
    let proxy = pooled(origin, USER, "pool_size = 1").await;
    let pw = password_for(USER);
    let conn = format!(
        "{} application_name=first_app",
        proxy.conn_str("demo", &db, USER, Some(&pw))
    );
    let (first, c) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(c);
    let name: String = first
        .query_one("SHOW application_name", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        name, "first_app",
        "a startup parameter did not reach the origin"
    );
    first
        .batch_execute(
            "SET search_path TO nowhere; CREATE TEMP TABLE t (x int); PREPARE p AS SELECT 1",
        )
        .await
        .unwrap();
    let before = pid(&first).await;
    drop(first);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let second = proxy
        .try_connect("demo", &db, USER, Some(&pw))
        .await
        .unwrap();
    assert_eq!(
        pid(&second).await,
        before,
        "pool_size = 1 must reuse the backend"
    );
    let path: String = second
        .query_one("SHOW search_path", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(path, "\"$user\", public");
    let name: String = second
        .query_one("SHOW application_name", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, "");
    let temp = second
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname = 't' AND relpersistence = 't'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(temp.get::<_, i64>(0), 0);
    second.batch_execute("PREPARE p AS SELECT 2").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_reaches_the_backend_serving_the_client() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("pooled_cancel");
    let proxy = pooled(origin, USER, "").await;
    let pw = password_for(USER);
    let client = proxy
        .try_connect("demo", &db, USER, Some(&pw))
        .await
        .unwrap();
    let token = client.cancel_token();
    let sleeper = tokio::spawn(async move { client.simple_query("SELECT pg_sleep(30)").await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), sleeper).await;
    let error = result
        .expect("cancel did not end the query")
        .unwrap()
        .err()
        .unwrap();
    assert_eq!(code(&error), "57014");
}

fn pgbench(port: u16, db: &str, args: &[&str]) -> String {
    let out = Command::new("pgbench")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "demo-scram_user",
        ])
        .env("PGPASSWORD", password_for(USER))
        .args(args)
        .arg(db)
        .output()
        .expect("pgbench runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pgbench {args:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_connection_per_transaction_in_every_mode() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("pooled_pgbench");
    origin.psql(&db, &format!("GRANT ALL ON SCHEMA public TO {USER}"));
    let proxy = pooled(origin, USER, "pool_size = 2\npool_queue_timeout = \"60s\"").await;
    let port = proxy.pg_addr().port();
    pgbench(port, &db, &["-i", "-s", "1", "-q"]);
    for mode in ["simple", "extended", "prepared"] {
        let report = pgbench(
            port,
            &db,
            &["-C", "-c", "4", "-j", "4", "-t", "50", "-M", mode],
        );
        assert!(
            report.contains("number of failed transactions: 0"),
            "{report}"
        );
        let report = pgbench(
            port,
            &db,
            &["-C", "-S", "-c", "4", "-j", "4", "-t", "50", "-M", mode],
        );
        assert!(
            report.contains("number of failed transactions: 0"),
            "{report}"
        );
    }
    // 4 clients at a time (a thread each: pgbench connects blocking, and in session
    // mode a login waits for a free connection), pool_size 2: never more than 2
    // backends for the database.
    assert!(backends(origin, &db) <= 2);
    let sums = origin.psql(&db, "SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(bbalance) FROM pgbench_branches), (SELECT sum(tbalance) FROM pgbench_tellers)");
    let sums: Vec<&str> = sums.trim().split('|').collect();
    assert!(
        sums.len() == 3 && sums[0] == sums[1] && sums[1] == sums[2] && sums[0] != "0",
        "{sums:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_and_psycopg2_log_in_with_scram() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("pooled_clients");
    let proxy = pooled(origin, USER, "").await;
    let port = proxy.pg_addr().port().to_string();
    let out = Command::new("psql")
        .args([
            "-X",
            "-A",
            "-t",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "demo-scram_user",
            "-d",
            &db,
        ])
        .args(["-c", "SELECT 40 + 2"])
        .env("PGPASSWORD", password_for(USER))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "42",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = "import psycopg2,sys\nc=psycopg2.connect(sys.argv[1])\ncur=c.cursor()\ncur.execute('SELECT %s + 1',(41,))\nprint(cur.fetchone()[0])\nc.commit()\n";
    let dsn = format!(
        "host=127.0.0.1 port={port} user=demo-scram_user password={} dbname={db}",
        password_for(USER)
    );
    let out = Command::new("python3")
        .args(["-c", script, &dsn])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "42",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Startup parameters follow each client onto a reused connection: the same value,
/// another value, none at all (reset), whatever the client before had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_parameters_follow_each_client() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("pooled_params");
    let proxy = pooled(origin, USER, "pool_size = 1").await;
    let pw = password_for(USER);
    let base = proxy.conn_str("demo", &db, USER, Some(&pw));
    let cases = [
        (" application_name=one options=''", "one"),
        (" application_name=one", "one"),
        (" application_name=two", "two"),
        ("", ""),
    ];
    let mut pids = Vec::new();
    for (extra, app) in cases {
        let conn = format!("{base}{extra}");
        let (client, c) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(c);
        let name: String = client
            .query_one("SHOW application_name", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(name, app, "{extra:?}");
        pids.push(pid(&client).await);
        drop(client);
        proxy.wait_for_metric(IDLE, 1.0).await;
    }
    pids.dedup();
    assert_eq!(pids.len(), 1, "pool_size = 1 used backends {pids:?}");
}
