//! Real clients through transaction pooling (`pool = "transaction"`): psql, pgbench in
//! every query mode (simple, extended, prepared; with and without a connection per
//! transaction) with more clients than connections, and the client libraries of
//! `pg_clients` (psycopg2, psycopg 3, node-postgres, pgJDBC) running their scripts of
//! reads, writes, transactions and prepared statements.

use crate::common;

use std::process::Command;

use common::PgOrigin;
use common::pg::password_for;
use common::proxy::{Protocol, Proxy};

use crate::pg_clients::{clients_dir, pgjdbc_check, run};
use crate::pg_pooled_txn::{USER, txn_pooled};

const IDLE: &str = "wirecache_pool_connections{cache=\"demo\",state=\"idle\"}";

fn pgbench(port: u16, db: &str, args: &[&str]) -> String {
    let out = Command::new("pgbench")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", "demo-scram_user"])
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

/// 8 pgbench clients on 2 connections, in every mode, with and without `-C`; the
/// balances add up and the database never had more than 2 backends from wirecache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_in_every_mode_with_more_clients_than_connections() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("txn_pgbench");
    origin.psql(&db, &format!("GRANT ALL ON SCHEMA public TO {USER}"));
    let proxy = txn_pooled(origin, USER, "pool_size = 2\npool_queue_timeout = \"60s\"").await;
    let port = proxy.pg_addr().port();
    tokio::task::spawn_blocking(move || {
        pgbench(port, &db, &["-i", "-s", "1", "-q"]);
        for mode in ["simple", "extended", "prepared"] {
            for (connect, select) in [(true, false), (true, true), (false, false), (false, true)] {
                let mut args = vec!["-c", "8", "-j", "4", "-t", "40", "-M", mode];
                if connect {
                    args.push("-C");
                }
                if select {
                    args.push("-S");
                }
                let report = pgbench(port, &db, &args);
                assert!(
                    report.contains("number of failed transactions: 0"),
                    "{args:?}: {report}"
                );
            }
        }
        let origin = PgOrigin::shared();
        assert!(crate::pg_pooled::backends(origin, &db) <= 2);
        let sums = origin.psql(&db, "SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(bbalance) FROM pgbench_branches), (SELECT sum(tbalance) FROM pgbench_tellers)");
        let sums: Vec<&str> = sums.trim().split('|').collect();
        assert!(
            sums.len() == 3 && sums[0] == sums[1] && sums[1] == sums[2] && sums[0] != "0",
            "{sums:?}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_runs_a_script_with_settings_and_a_transaction() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("txn_psql");
    origin.psql(&db, &format!("GRANT ALL ON SCHEMA public TO {USER}"));
    let proxy = txn_pooled(origin, USER, "pool_size = 1").await;
    let port = proxy.pg_addr().port().to_string();
    let script = "SET search_path TO public;\nCREATE TABLE IF NOT EXISTS p (a int);\nBEGIN;\nINSERT INTO p VALUES (40);\nUPDATE p SET a = a + 2;\nCOMMIT;\nSELECT a FROM p;\nSHOW search_path;\n";
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
        .args(["-p", &port, "-U", "demo-scram_user", "-d", &db])
        .args(["-c", script])
        .env("PGPASSWORD", password_for(USER))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "42") && stdout.contains("public"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The superuser's password in the library scripts' pooled cache.
const PW: &str = "txn-clients-pw";

async fn setup(prefix: &str) -> (String, Proxy, String) {
    let origin = PgOrigin::shared();
    let db = origin.create_db(prefix);
    let lines =
        format!("pool = \"transaction\"\nuser = \"postgres\"\npassword = \"{PW}\"\npool_size = 2");
    let proxy = Proxy::builder()
        .cache_with("demo", Protocol::Postgres, origin.port, &lines)
        .start()
        .await;
    let url = format!(
        "postgresql://demo-postgres:{PW}@127.0.0.1:{}/{db}",
        proxy.pg_addr().port()
    );
    (db, proxy, url)
}

async fn script(prefix: &str, mut cmd: impl FnMut(&str) -> Command + Send + 'static, ok: &str) {
    let (_db, proxy, url) = setup(prefix).await;
    let what = prefix.to_owned();
    let out = tokio::task::spawn_blocking(move || run(&mut cmd(&url), &what))
        .await
        .unwrap();
    assert!(out.contains(ok), "{out}");
    assert!(proxy.hits().await > 0.0);
    proxy.wait_for_metric(IDLE, 1.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg2_txn_pooled() {
    let cmd = |url: &str| {
        let mut c = Command::new("python3");
        c.arg(clients_dir().join("psycopg2_check.py")).arg(url);
        c
    };
    script("txn_psycopg2", cmd, "psycopg2 ok").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg3_txn_pooled() {
    let cmd = |url: &str| {
        let mut c = Command::new("python3");
        c.arg(clients_dir().join("psycopg3_check.py")).arg(url);
        c
    };
    script("txn_psycopg3", cmd, "psycopg3 ok").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_postgres_txn_pooled() {
    let cmd = |url: &str| {
        let dir = clients_dir().join("node");
        let mut c = Command::new("node");
        c.arg(dir.join("check.js")).arg(url).current_dir(&dir);
        c
    };
    script("txn_nodepg", cmd, "node-postgres ok").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_txn_pooled() {
    let (db, proxy, _) = setup("txn_jdbc").await;
    let jdbc_url = format!(
        "jdbc:postgresql://127.0.0.1:{}/{db}?password={PW}",
        proxy.pg_addr().port()
    );
    let out = pgjdbc_check(jdbc_url, "jdbc-txn-pooled").await;
    assert!(out.contains("jdbc ok"), "{out}");
    assert!(proxy.hits().await > 0.0);
}

/// psycopg 3's server-side statements (`_pg3_<n>`), deallocated with SQL: answered
/// by wirecache, and a statement deallocated is gone (26000) while another runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg3_deallocate_txn_pooled() {
    let (_db, _proxy, url) = setup("txn_dealloc").await;
    let script = "import psycopg,sys\nc=psycopg.connect(sys.argv[1],autocommit=True)\nprint(c.execute('SELECT %s::int + 1',(1,),prepare=True).fetchone()[0])\nprint(c.execute('SELECT %s::int * 3',(1,),prepare=True).fetchone()[0])\nc.execute('DEALLOCATE _pg3_0')\ntry:\n    c.execute('SELECT %s::int + 1',(1,),prepare=True)\n    print('ran')\nexcept psycopg.Error as e:\n    print(e.sqlstate)\nprint(c.execute('SELECT %s::int * 3',(2,),prepare=True).fetchone()[0])\n";
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-c", script, &url])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        ["2", "3", "26000", "6"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
