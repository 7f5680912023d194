//! MySQL/MariaDB transaction pooling and the previous statement's diagnostics, against
//! a real MariaDB: two sessions share one origin connection (`pool_size = 1`), and
//! what each reads (`SHOW WARNINGS`, `SHOW ERRORS`, `SHOW COUNT(*) WARNINGS`,
//! `@@warning_count`, `@@error_count`, `ROW_COUNT()`) is what the same sequence reads
//! on two dedicated connections straight to the origin (the oracle). A session whose
//! warnings are on the connection keeps it (counted as a `diagnostics` pin) until a
//! statement clears them, and gives it back then or when it leaves.

use crate::common;

use common::mysql::{self, MyOrigin};
use common::mysql_pooled_origin::{PoolUser, txn_pooled_proxy, userlist};
use common::proxy::Proxy;
use mysql_async::prelude::*;
use mysql_async::{Conn, Row};

pub(crate) const DIAG_PIN: &str =
    "wirecache_pool_pinned_sessions{cache=\"demo\",reason=\"diagnostics\"}";

pub(crate) struct Setup {
    pub origin: &'static MyOrigin,
    pub user: PoolUser,
    pub db: String,
    pub proxy: Proxy,
}

impl Setup {
    pub(crate) async fn new_with_pool1(prefix: &str) -> Setup {
        Setup::with_pool(prefix, "pool_size = 1\npool_queue_timeout = \"60s\"").await
    }

    /// With `extra` lines of pool configuration.
    pub(crate) async fn with_pool(prefix: &str, extra: &str) -> Setup {
        let origin = MyOrigin::shared();
        let user = PoolUser::create(origin, prefix);
        let db = origin.create_db(prefix);
        origin.sql(
            &db,
            "CREATE TABLE t (a INT PRIMARY KEY, n INT); INSERT INTO t VALUES (1, 0), (2, 0), (3, 0)",
        );
        let list = userlist(&[(&user.name, &user.password)]);
        let proxy = txn_pooled_proxy(origin, &list, extra).await;
        Setup {
            origin,
            user,
            db,
            proxy,
        }
    }

    pub(crate) async fn pooled(&self) -> Conn {
        let (u, p) = (&self.user.name, &self.user.password);
        mysql::connect(&self.proxy.mysql_url("demo", &self.db, u, p)).await
    }

    pub(crate) async fn direct(&self) -> Conn {
        let (u, p) = (&self.user.name, &self.user.password);
        mysql::connect(&self.origin.url(&self.db, u, p)).await
    }
}

/// A statement's rows as text (or its error code), for comparing with the oracle.
pub(crate) async fn run(c: &mut Conn, sql: &str) -> String {
    shown(sql, c.query::<Row, _>(sql).await)
}

/// Rows (or an error code) as [`run`] shows them.
pub(crate) fn shown(sql: &str, answer: mysql_async::Result<Vec<Row>>) -> String {
    match answer {
        Ok(rows) => {
            let rows: Vec<String> = rows
                .into_iter()
                .map(|r| {
                    let cells: Vec<String> =
                        r.unwrap().into_iter().map(|v| v.as_sql(true)).collect();
                    cells.join("|")
                })
                .collect();
            format!("{sql} => [{}]", rows.join("; "))
        }
        Err(mysql_async::Error::Server(e)) => format!("{sql} => ERR {}", e.code),
        Err(e) => panic!("{sql}: {e}"),
    }
}

async fn run_all(c: &mut Conn, sqls: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for sql in sqls {
        out.push(run(c, sql).await);
    }
    out
}

/// Session A leaves conditions, session B runs meanwhile (on the one connection,
/// once A gives it back), and each reads its own diagnostics; then `ROW_COUNT()`
/// after an UPDATE and after a SELECT, each read after the other session used the
/// connection. What each session saw, in order.
async fn interleave(a: &mut Conn, b: &mut Conn) -> (Vec<String>, Vec<String>) {
    let (mut seen_a, mut seen_b) = (Vec::new(), Vec::new());
    for warn in ["SELECT CAST('x' AS SIGNED)", "SELECT nope FROM t"] {
        seen_a.push(run(a, warn).await);
        // B's statements wait while A's conditions hold the connection.
        let b_side = run_all(
            b,
            &[
                "UPDATE t SET n = n + 1 WHERE a = 1",
                "SHOW WARNINGS",
                "SHOW ERRORS",
                "SELECT @@warning_count, @@error_count",
                "SELECT ROW_COUNT()",
            ],
        );
        let a_side = run_all(
            a,
            &[
                "SHOW WARNINGS",
                "SHOW ERRORS",
                "SELECT @@warning_count, @@error_count",
                "SHOW COUNT(*) WARNINGS",
                // No table, no condition: the DA stays.
                "SELECT 1",
                "SHOW WARNINGS",
                "SELECT ROW_COUNT()",
                // A table: the DA is cleared (and the connection goes back).
                "SELECT a FROM t WHERE a = 2 AND RAND() >= 0",
                "SHOW WARNINGS",
                "SELECT @@warning_count, @@error_count",
            ],
        );
        let (sb, sa) = tokio::join!(b_side, a_side);
        seen_a.extend(sa);
        seen_b.extend(sb);
    }
    // ROW_COUNT() of an UPDATE, read after B's UPDATE ran on the connection.
    seen_a.push(run(a, "UPDATE t SET n = n + 1").await);
    seen_b.push(run(b, "UPDATE t SET n = n + 1 WHERE a = 2").await);
    seen_a.push(run(a, "SELECT ROW_COUNT()").await);
    seen_b.push(run(b, "SELECT row_count() AS affected").await);
    // After a SELECT (-1), read after B's UPDATE.
    seen_a.push(run(a, "SELECT COUNT(*) FROM t WHERE RAND() >= 0").await);
    seen_b.push(run(b, "UPDATE t SET n = n + 1 WHERE a < 3").await);
    seen_a.push(run(a, "SELECT ROW_COUNT() + 0").await);
    // After a SET (0), read after B's UPDATE.
    seen_a.push(run(a, "SET SESSION sql_mode = @@session.sql_mode").await);
    seen_b.push(run(b, "UPDATE t SET n = n + 1 WHERE a < 3").await);
    seen_a.push(run(a, "SELECT ROW_COUNT(), @@warning_count").await);
    seen_b.push(run(b, "SELECT ROW_COUNT()").await);
    (seen_a, seen_b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_session_reads_its_own_diagnostics() {
    let s = Setup::new_with_pool1("txn_diag").await;
    let (mut da, mut db) = (s.direct().await, s.direct().await);
    let (want_a, want_b) = interleave(&mut da, &mut db).await;
    // The oracle shows what is compared: A's warning, then its error.
    assert!(want_a.iter().any(|l| l.contains("1292")), "{want_a:#?}");
    assert!(want_a.iter().any(|l| l.contains("1054")), "{want_a:#?}");
    let (mut a, mut b) = (s.pooled().await, s.pooled().await);
    let (got_a, got_b) = interleave(&mut a, &mut b).await;
    assert_eq!(got_a, want_a, "session A");
    assert_eq!(got_b, want_b, "session B");
    assert_eq!(s.proxy.metric(DIAG_PIN).await, 0.0);
    // A count no statement can rebuild, read in another form than SELECT ROW_COUNT():
    // refused, never the other session's.
    a.query_drop("UPDATE t SET n = n + 1").await.unwrap();
    b.query_drop("UPDATE t SET n = n + 1 WHERE a = 1")
        .await
        .unwrap();
    let refused = run(&mut a, "SELECT ROW_COUNT() * 2").await;
    assert_eq!(refused, "SELECT ROW_COUNT() * 2 => ERR 1105");
    assert!(
        s.user.total_connections(s.origin) <= 3,
        "one pooled, two direct"
    );
}

/// Waits (up to 10 s) until `series` is `want`.
async fn settle(proxy: &Proxy, series: &str, want: f64) {
    for _ in 0..500 {
        if proxy.metric(series).await == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(proxy.metric(series).await, want, "{series}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_hold_the_connection_until_cleared_or_gone() {
    let s = Setup::new_with_pool1("txn_diag_hold").await;
    let mut a = s.pooled().await;
    let mut b = s.pooled().await;
    a.query_drop("SELECT CAST('x' AS SIGNED)").await.unwrap();
    // Counted once the answer's end is seen, which may be just after the client
    // has it.
    settle(&s.proxy, DIAG_PIN, 1.0).await;
    // B waits for the only connection while A idles with its warning …
    let waiting = tokio::spawn(async move {
        let sql = "SELECT COUNT(*) FROM t WHERE RAND() >= 0";
        let n: Option<i64> = b.query_first(sql).await.unwrap();
        (n, b)
    });
    settle(&s.proxy, "wirecache_pool_waiting{cache=\"demo\"}", 1.0).await;
    // … and gets it once A's next statement clears them.
    let n: Option<i64> = a
        .query_first("SELECT COUNT(*) FROM t WHERE a > 1 AND RAND() >= 0")
        .await
        .unwrap();
    assert_eq!(n, Some(2));
    let (n, mut b) = waiting.await.unwrap();
    assert_eq!(n, Some(3));
    settle(&s.proxy, DIAG_PIN, 0.0).await;
    // A session that leaves with warnings gives the connection back.
    b.query_drop("SELECT CAST('y' AS SIGNED)").await.unwrap();
    settle(&s.proxy, DIAG_PIN, 1.0).await;
    b.disconnect().await.unwrap();
    settle(&s.proxy, DIAG_PIN, 0.0).await;
    let w: Vec<Row> = a.query("SHOW WARNINGS").await.unwrap();
    assert!(w.is_empty(), "not the other session's warning");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mariadb_client_shows_its_own_warnings() {
    let s = Setup::new_with_pool1("txn_diag_cli").await;
    // Another session leaves a warning of its own on the one connection first.
    let mut other = s.pooled().await;
    other
        .query_drop("SELECT CAST('other' AS SIGNED)")
        .await
        .unwrap();
    other
        .query_drop("SELECT COUNT(*) FROM t WHERE RAND() >= 0")
        .await
        .unwrap();
    let script = "SELECT CAST('mine' AS SIGNED); SELECT 1; SHOW WARNINGS; \
                  UPDATE t SET n = n + 1; SELECT ROW_COUNT();";
    let args = ["--show-warnings", "-D", s.db.as_str(), "-e", script];
    let login = format!("demo-maria-{}", s.user.name);
    let port = s.proxy.mariadb_addr().port();
    let (ok, got, err) = mysql::cli(port, &login, &s.user.password, &args).await;
    assert!(ok, "{err}");
    let direct = s.origin.port;
    let (ok, want, err) = mysql::cli(direct, &s.user.name, &s.user.password, &args).await;
    assert!(ok, "{err}");
    assert!(want.contains("'mine'") && !want.contains("other"), "{want}");
    assert_eq!(got, want);
}
