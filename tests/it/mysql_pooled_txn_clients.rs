//! Real clients through MySQL/MariaDB transaction pooling (`pool = "transaction"`)
//! against a real MariaDB: PyMySQL's check script on both listeners, the `mariadb`
//! command-line client running a script with settings, a database change, a user
//! variable and a transaction, and sysbench's `oltp_read_only` with more threads than
//! origin connections, with and without server-side prepared statements.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::mysql::{self, MyOrigin};
use common::mysql_pooled_origin::{PoolUser, txn_pooled_proxy, userlist};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymysql_through_both_transaction_pooled_listeners() {
    let origin = MyOrigin::shared();
    let user = PoolUser::create(origin, "txn_py");
    let db = origin.create_db("txn_py");
    let list = userlist(&[(&user.name, &user.password)]);
    let proxy = txn_pooled_proxy(origin, &list, "pool_size = 2").await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mariadb_client_runs_a_script() {
    let origin = MyOrigin::shared();
    let user = PoolUser::create(origin, "txn_cli");
    let db = origin.create_db("txn_cli");
    let other = origin.create_db("txn_cli_other");
    origin.sql(&other, "CREATE TABLE t (a INT)");
    let list = userlist(&[(&user.name, &user.password)]);
    let proxy = txn_pooled_proxy(origin, &list, "pool_size = 1").await;
    let login = format!("demo-maria-{}", user.name);
    let port = proxy.mariadb_addr().port();
    let script = format!(
        "SET time_zone = '+03:00'; USE `{other}`; BEGIN; INSERT INTO t VALUES (1), (2); \
         COMMIT; SELECT @@time_zone, DATABASE(), (SELECT COUNT(*) FROM t); \
         SET @v = 5; SELECT @v * 2;"
    );
    let args = ["-D", db.as_str(), "-e", script.as_str()];
    let (ok, out, err) = mysql::cli(port, &login, &user.password, &args).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [format!("+03:00\t{other}\t2").as_str(), "10"],
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysbench_read_only_with_more_threads_than_connections() {
    let origin = MyOrigin::shared();
    let user = PoolUser::create(origin, "txn_sb");
    let db = origin.create_db("txn_sb");
    let list = userlist(&[(&user.name, &user.password)]);
    let proxy =
        txn_pooled_proxy(origin, &list, "pool_size = 2\npool_queue_timeout = \"60s\"").await;
    let port = proxy.mariadb_addr().port();
    let login = format!("demo-maria-{}", user.name);
    let sb = crate::mysql_pooled_clients::sysbench;
    sb(port, &login, &user.password, &db, "auto", "prepare").await;
    for ps_mode in ["auto", "disable"] {
        sb(port, &login, &user.password, &db, ps_mode, "run").await;
    }
    let total = user.total_connections(origin);
    assert!(
        total <= 2,
        "three sysbench threads on a pool of 2 opened {total}"
    );
}
