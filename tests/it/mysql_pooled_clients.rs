//! Real clients through MySQL/MariaDB pooled mode against a real MariaDB: PyMySQL's
//! check script (reads, hits, writes, transactions) on both listeners, and sysbench's
//! `oltp_read_only` with and without server-side prepared statements, with the
//! origin's own counters showing its few connections served every session.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::mysql::{self, MyOrigin};
use common::mysql_pooled_origin::{PoolUser, pooled_proxy, userlist};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymysql_through_both_pooled_listeners() {
    let origin = MyOrigin::shared();
    let user = PoolUser::create(origin, "pool_py");
    let db = origin.create_db("pooled_py");
    let list = userlist(&[(&user.name, &user.password)]);
    let proxy = pooled_proxy(origin, &list, "pool_size = 2").await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/pymysql_check.py");
    for (port, login) in [
        (proxy.mysql_addr().port(), format!("demo-{}", user.name)),
        (
            proxy.mariadb_addr().port(),
            format!("demo-maria-{}", user.name),
        ),
    ] {
        origin.sql(&db, "DROP TABLE IF EXISTS py");
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .args(["127.0.0.1", &port.to_string(), &login, &user.password, &db]);
        let (ok, out, err) = mysql::run_blocking(cmd).await;
        assert!(
            ok && out.ends_with("ok"),
            "pymysql on {port}:\n{out}\n{err}"
        );
    }
    assert!(proxy.hits_of("demo").await >= 2.0);
    assert!(proxy.hits_of("demo-maria").await >= 2.0);
    assert!(user.total_connections(origin) <= 4);
}

pub async fn sysbench(
    port: u16,
    login: &str,
    password: &str,
    db: &str,
    ps_mode: &str,
    step: &str,
) -> String {
    let mut cmd = Command::new("sysbench");
    cmd.arg("oltp_read_only")
        .args(["--db-driver=mysql", "--mysql-host=127.0.0.1"])
        .arg(format!("--mysql-port={port}"))
        .arg(format!("--mysql-user={login}"))
        .arg(format!("--mysql-password={password}"))
        .arg(format!("--mysql-db={db}"))
        .arg(format!("--db-ps-mode={ps_mode}"))
        .args(["--tables=1", "--threads=3", "--table-size=2000"])
        .args(["--time=3", "--events=3000", "--report-interval=0"])
        .arg(step);
    let (ok, out, err) = mysql::run_blocking(cmd).await;
    assert!(ok, "sysbench {step} ({ps_mode}) failed:\n{out}\n{err}");
    if step == "run" {
        let errors = out
            .lines()
            .find_map(|l| l.trim().strip_prefix("ignored errors:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok());
        assert_eq!(errors, Some(0), "sysbench ({ps_mode}):\n{out}");
        let tx = out.lines().find(|l| l.trim().starts_with("transactions:"));
        eprintln!("sysbench oltp_read_only pooled --db-ps-mode={ps_mode}: {tx:?}");
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysbench_read_only_through_pooled_mode() {
    let origin = MyOrigin::shared();
    let user = PoolUser::create(origin, "pool_sb");
    let db = origin.create_db("pooled_sb");
    let list = userlist(&[(&user.name, &user.password)]);
    let proxy = pooled_proxy(origin, &list, "pool_size = 4").await;
    let port = proxy.mariadb_addr().port();
    let login = format!("demo-maria-{}", user.name);
    sysbench(port, &login, &user.password, &db, "auto", "prepare").await;
    let after_prepare = user.total_connections(origin);
    for ps_mode in ["auto", "disable", "auto"] {
        sysbench(port, &login, &user.password, &db, ps_mode, "run").await;
    }
    // Three runs of three threads (and their own connections to look around) came
    // through the pool of at most four.
    let total = user.total_connections(origin);
    assert!(total - after_prepare <= 4, "{after_prepare} -> {total}");
    // (oltp_read_only reads inside transactions, which the origin answers: hits are
    // shown by the other tests.)
}
