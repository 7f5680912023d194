//! Transaction pooling (`pool = "transaction"`) for MySQL/MariaDB against a real
//! MariaDB: many clients share two origin connections with correct results, a
//! session's settings and database follow it to whichever connection it leases,
//! binary prepared statements are prepared again where they are missing, what cannot
//! move pins the session (counted by reason) and the session then sees its state,
//! `LAST_INSERT_ID()` is the session's own, a hit needs no connection, `KILL QUERY`
//! reaches the running statement (and an idle session's id gets a clear error), and
//! COM_RESET_CONNECTION / COM_CHANGE_USER keep working.

use crate::common;

use common::mysql::{self, MyOrigin};
use common::mysql_pooled_origin::{PoolUser, server_code, txn_pooled_proxy, userlist};
use common::proxy::Proxy;
use mysql_async::prelude::*;

fn pinned(reason: &str) -> String {
    format!("wirecache_pool_pinned_sessions{{cache=\"demo\",reason=\"{reason}\"}}")
}

/// Waits (up to 10 s) until `series` is exactly `want` (a gauge going down too).
async fn settle(proxy: &Proxy, series: &str, want: f64) {
    for _ in 0..500 {
        if proxy.metric(series).await == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(proxy.metric(series).await, want, "{series}");
}

async fn backend(conn: &mut mysql_async::Conn) -> u64 {
    let id: Option<u64> = conn.query_first("SELECT CONNECTION_ID()").await.unwrap();
    id.unwrap()
}

struct Setup {
    origin: &'static MyOrigin,
    user: PoolUser,
    db: String,
    proxy: Proxy,
}

impl Setup {
    async fn new(prefix: &str, extra: &str) -> Setup {
        let origin = MyOrigin::shared();
        let user = PoolUser::create(origin, prefix);
        let db = origin.create_db(prefix);
        let list = userlist(&[(&user.name, &user.password)]);
        let proxy = txn_pooled_proxy(origin, &list, extra).await;
        Setup {
            origin,
            user,
            db,
            proxy,
        }
    }

    async fn client(&self) -> mysql_async::Conn {
        self.client_on("demo", &self.db.clone()).await
    }

    async fn client_on(&self, cache: &str, db: &str) -> mysql_async::Conn {
        let url = self
            .proxy
            .mysql_url(cache, db, &self.user.name, &self.user.password);
        mysql::connect(&url).await
    }
}

/// Another client takes the connection idle now and keeps it in a transaction, so
/// the next lease must take another one (the pool lends the last returned first).
async fn occupy(s: &Setup) -> mysql_async::Conn {
    let mut other = s.client().await;
    other.query_drop("BEGIN").await.unwrap();
    other.query_drop("SELECT 1 FROM DUAL").await.unwrap();
    other
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_clients_share_two_connections() {
    let s = Setup::new("txn_share", "pool_size = 2\npool_queue_timeout = \"60s\"").await;
    s.origin.sql(
        &s.db,
        "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, c INT, n INT); \
         CREATE TABLE acct (c INT PRIMARY KEY, bal INT)",
    );
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(s.client().await);
    }
    let mut tasks = Vec::new();
    for (c, mut conn) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            conn.exec_drop("INSERT INTO acct VALUES (?, 0)", (c,))
                .await
                .unwrap();
            for n in 0..10 {
                conn.exec_drop("INSERT INTO t (c, n) VALUES (?, ?)", (c, n))
                    .await
                    .unwrap();
                // An explicit transaction: both writes or none.
                conn.query_drop("START TRANSACTION").await.unwrap();
                conn.query_drop(format!("UPDATE acct SET bal = bal + 1 WHERE c = {c}"))
                    .await
                    .unwrap();
                let mine: Option<i64> = conn
                    .query_first(format!("SELECT bal FROM acct WHERE c = {c}"))
                    .await
                    .unwrap();
                assert_eq!(mine, Some(n + 1), "client {c} sees its own write");
                conn.query_drop("COMMIT").await.unwrap();
                // A rolled back one changes nothing.
                conn.query_drop("BEGIN").await.unwrap();
                conn.query_drop(format!("UPDATE acct SET bal = bal + 100 WHERE c = {c}"))
                    .await
                    .unwrap();
                conn.query_drop("ROLLBACK").await.unwrap();
            }
            let count: Option<i64> = conn
                .exec_first("SELECT COUNT(*) FROM t WHERE c = ?", (c,))
                .await
                .unwrap();
            assert_eq!(count, Some(10));
            conn.disconnect().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total = s.origin.sql(
        &s.db,
        "SELECT COUNT(*), SUM(bal) FROM t, acct WHERE t.c = acct.c",
    );
    assert_eq!(total, "200\t2000");
    let opened = s.user.total_connections(s.origin);
    assert!(
        opened <= 2,
        "20 clients over a pool of 2 opened {opened} origin connections"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_follow_each_session_on_one_connection() {
    let s = Setup::new(
        "txn_settings",
        "pool_size = 1\npool_queue_timeout = \"30s\"",
    )
    .await;
    let other = s.origin.create_db("txn_settings_other");
    let mut a = s.client().await;
    let mut b = s.client().await;
    a.query_drop("SET sql_mode = 'ANSI_QUOTES'").await.unwrap();
    a.query_drop("SET time_zone = '+05:00'").await.unwrap();
    a.query_drop(format!("USE `{other}`")).await.unwrap();
    b.query_drop("SET SESSION sql_mode = 'NO_ZERO_DATE'")
        .await
        .unwrap();
    b.query_drop("SET NAMES latin1").await.unwrap();
    for _ in 0..3 {
        let (ba, bb) = (backend(&mut a).await, backend(&mut b).await);
        assert_eq!(ba, bb, "one origin connection for both");
        let row: Option<(String, String, String, String)> = a
            .query_first("SELECT @@sql_mode, @@time_zone, DATABASE(), @@character_set_client")
            .await
            .unwrap();
        let (mode, tz, db, cs) = row.unwrap();
        assert_eq!((mode.as_str(), tz.as_str()), ("ANSI_QUOTES", "+05:00"));
        assert_eq!(db, other);
        assert_ne!(cs, "latin1", "b's SET NAMES is not a's");
        let row: Option<(String, String, String, String)> = b
            .query_first("SELECT @@sql_mode, @@time_zone, DATABASE(), @@character_set_client")
            .await
            .unwrap();
        let (mode, tz, db, cs) = row.unwrap();
        assert_eq!((mode.as_str(), tz.as_str()), ("NO_ZERO_DATE", "SYSTEM"));
        assert_eq!((db.as_str(), cs.as_str()), (s.db.as_str(), "latin1"));
    }
    // COM_INIT_DB follows the session too.
    b.query_drop("SET @@session.autocommit = 0").await.unwrap();
    let ac: Option<i64> = b.query_first("SELECT @@autocommit").await.unwrap();
    assert_eq!(ac, Some(0));
    let ac: Option<i64> = a.query_first("SELECT @@autocommit").await.unwrap();
    assert_eq!(ac, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_are_prepared_again_where_missing() {
    let s = Setup::new("txn_ps", "pool_size = 2\npool_queue_timeout = \"30s\"").await;
    s.origin.sql(
        &s.db,
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO t VALUES (1, 'one'), (2, 'two')",
    );
    let mut a = s.client().await;
    let mut b = s.client().await;
    let first = backend(&mut a).await;
    let sa = a.prep("SELECT v, ? + 1 FROM t WHERE id = ?").await.unwrap();
    let sb = b
        .prep("SELECT CONCAT(v, ?) FROM t WHERE id = ?")
        .await
        .unwrap();
    for i in 0..4_i64 {
        // Another client holds the connection `a` used last: `a` leases the other.
        let mut holder = occupy(&s).await;
        let row: Option<(String, i64)> = a.exec_first(&sa, (i, 1)).await.unwrap();
        assert_eq!(row, Some(("one".to_owned(), i + 1)));
        holder.query_drop("COMMIT").await.unwrap();
        let row: Option<String> = b.exec_first(&sb, ("!", 2)).await.unwrap();
        assert_eq!(row.as_deref(), Some("two!"));
        holder.disconnect().await.unwrap();
    }
    let now = backend(&mut a).await;
    let ids = s.user.current_connections(s.origin);
    assert!(
        ids <= 2,
        "{ids} origin connections (first backend {first}, now {now})"
    );
    // Closing is answered by wirecache; executing a closed statement is refused.
    a.close(sa.clone()).await.unwrap();
    let again = a.prep("SELECT v, ? + 1 FROM t WHERE id = ?").await.unwrap();
    let row: Option<(String, i64)> = a.exec_first(&again, (5, 2)).await.unwrap();
    assert_eq!(row, Some(("two".to_owned(), 6)));
    // A statement the origin refuses to prepare is the origin's error.
    let e = a.prep("SELECT nope FROM t").await.unwrap_err();
    assert_eq!(server_code(&e), Some(1054));
}

/// Runs `setup` on a session, lets another client take a connection in a
/// transaction, and checks the session still sees its state with `check`.
async fn pins(s: &Setup, reason: &str, setup: &[&str], check: &str, want: &str) {
    let mut c = s.client().await;
    for sql in setup {
        c.query_drop(*sql).await.unwrap();
    }
    assert_eq!(s.proxy.metric(&pinned(reason)).await, 1.0, "{reason}");
    let mut holder = occupy(s).await;
    let got: Option<Option<String>> = c.query_first(check).await.unwrap();
    assert_eq!(
        got.flatten().as_deref(),
        Some(want),
        "{reason}: the pinned session's state"
    );
    holder.query_drop("COMMIT").await.unwrap();
    holder.disconnect().await.unwrap();
    c.disconnect().await.unwrap();
    settle(&s.proxy, &pinned(reason), 0.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_move_pins_the_session() {
    let s = Setup::new("txn_pins", "pool_size = 2\npool_queue_timeout = \"30s\"").await;
    s.origin.sql(
        &s.db,
        "CREATE TABLE t (a INT); INSERT INTO t VALUES (1), (2), (3)",
    );
    pins(
        &s,
        "user_variables",
        &["SET @x = 42"],
        "SELECT CAST(@x AS CHAR)",
        "42",
    )
    .await;
    pins(
        &s,
        "temp_table",
        &[
            "CREATE TEMPORARY TABLE tmp (a INT)",
            "INSERT INTO tmp VALUES (7)",
        ],
        "SELECT CAST(a AS CHAR) FROM tmp",
        "7",
    )
    .await;
    let lock = format!("{}_lock", s.db);
    pins(
        &s,
        "named_lock",
        &[&format!("SELECT GET_LOCK('{lock}', 1)")],
        &format!("SELECT CAST(IS_USED_LOCK('{lock}') = CONNECTION_ID() AS CHAR)"),
        "1",
    )
    .await;
    pins(
        &s,
        "table_lock",
        &["LOCK TABLES t READ"],
        "SELECT CAST(COUNT(*) AS CHAR) FROM t",
        "3",
    )
    .await;
    pins(
        &s,
        "sql_prepare",
        &["PREPARE q FROM 'SELECT ''prepared'''"],
        "EXECUTE q",
        "prepared",
    )
    .await;
    pins(
        &s,
        "found_rows",
        &["SELECT SQL_CALC_FOUND_ROWS a FROM t LIMIT 1"],
        "SELECT CAST(FOUND_ROWS() AS CHAR)",
        "3",
    )
    .await;
    // COM_RESET_CONNECTION drops the pinned state, and the pin.
    let mut c = s.client().await;
    c.query_drop("SET @y = 1").await.unwrap();
    assert_eq!(s.proxy.metric(&pinned("user_variables")).await, 1.0);
    c.reset().await.unwrap();
    assert_eq!(s.proxy.metric(&pinned("user_variables")).await, 0.0);
    let y: Option<Option<i64>> = c.query_first("SELECT @y").await.unwrap();
    assert_eq!(y, Some(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_insert_id_is_the_sessions_own() {
    let s = Setup::new("txn_lid", "pool_size = 2\npool_queue_timeout = \"30s\"").await;
    s.origin.sql(
        &s.db,
        "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
    );
    let mut a = s.client().await;
    let mut b = s.client().await;
    // Right after the INSERT, while another session inserts on a connection.
    a.query_drop("INSERT INTO t (v) VALUES (1)").await.unwrap();
    let mine = a.last_insert_id().unwrap();
    b.query_drop("BEGIN").await.unwrap();
    b.query_drop("INSERT INTO t (v) VALUES (2)").await.unwrap();
    let got: Option<u64> = a.query_first("SELECT LAST_INSERT_ID()").await.unwrap();
    assert_eq!(got, Some(mine));
    // LAST_INSERT_ID(expr) sets it (the OK reports it), read in another lease.
    a.query_drop(format!(
        "UPDATE t SET v = LAST_INSERT_ID(v + 100) WHERE id = {mine}"
    ))
    .await
    .unwrap();
    b.query_drop("SELECT 1 FROM DUAL").await.unwrap();
    let got: Option<u64> = a.query_first("SELECT LAST_INSERT_ID()").await.unwrap();
    assert_eq!(got, Some(101));
    b.query_drop("COMMIT").await.unwrap();
    a.disconnect().await.unwrap();
    // Reading it pins nothing: the value is set where the read runs.
    assert_eq!(s.proxy.metric(&pinned("untracked_state")).await, 0.0);

    // Read later, after the connection went back and another session took it.
    let mut c = s.client().await;
    c.query_drop("INSERT INTO t (v) VALUES (3)").await.unwrap();
    let mine = c.last_insert_id().unwrap();
    c.query_drop("SELECT 1 FROM DUAL").await.unwrap();
    let mut holder = occupy(&s).await;
    holder
        .query_drop("INSERT INTO t (v) VALUES (4)")
        .await
        .unwrap();
    let got: Option<u64> = c.query_first("SELECT LAST_INSERT_ID()").await.unwrap();
    assert_eq!(got, Some(mine), "the session's id, not the connection's");
    holder.query_drop("COMMIT").await.unwrap();
    holder.disconnect().await.unwrap();
    c.disconnect().await.unwrap();

    // A session that inserted nothing reads 0, whoever used its connection before.
    let mut e = s.client().await;
    e.query_drop("INSERT INTO t (v) VALUES (5)").await.unwrap();
    let before = backend(&mut e).await;
    e.disconnect().await.unwrap();
    let mut fresh = s.client().await;
    let got: Option<(u64, u64)> = fresh
        .query_first("SELECT LAST_INSERT_ID(), CONNECTION_ID()")
        .await
        .unwrap();
    let (id, conn) = got.unwrap();
    assert_eq!(conn, before, "the connection the inserting session used");
    assert_eq!(id, 0, "not the other session's id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_need_no_connection() {
    let s = Setup::new("txn_hits", "pool_size = 1\npool_queue_timeout = \"2s\"").await;
    s.origin.sql(
        &s.db,
        "CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'one')",
    );
    let mut reader = s.client().await;
    let query = "SELECT v FROM t WHERE id = 1";
    let v: Option<String> = reader.query_first(query).await.unwrap();
    assert_eq!(v.as_deref(), Some("one"));
    // The only connection is held in a transaction: a hit still answers.
    let mut holder = occupy(&s).await;
    for _ in 0..3 {
        let v: Option<String> = reader.query_first(query).await.unwrap();
        assert_eq!(v.as_deref(), Some("one"));
    }
    // A login with a key already proven at the origin needs no connection either
    // (told its settings, mysql_async asks the origin for none at login).
    let url = s
        .proxy
        .mysql_url("demo", &s.db, &s.user.name, &s.user.password);
    let opts = mysql_async::Opts::from_url(&url).unwrap();
    let opts = mysql_async::OptsBuilder::from_opts(opts)
        .prefer_socket(false)
        .max_allowed_packet(Some(16 << 20))
        .wait_timeout(Some(28_800));
    let mut late = mysql_async::Conn::new(opts).await.unwrap();
    let v: Option<String> = late.query_first(query).await.unwrap();
    assert_eq!(v.as_deref(), Some("one"));
    assert!(s.proxy.hits_of("demo").await >= 4.0);
    holder.query_drop("COMMIT").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_reaches_the_running_statement() {
    let s = Setup::new("txn_kill", "pool_size = 2\npool_queue_timeout = \"30s\"").await;
    let mut victim = s.client().await;
    let mut killer = s.client().await;
    let seen = victim.id();
    // Between transactions the session holds nothing: a clear error.
    let e = killer
        .query_drop(format!("KILL QUERY {seen}"))
        .await
        .unwrap_err();
    assert_eq!(server_code(&e), Some(1094), "{e}");
    assert!(e.to_string().contains("holds no origin connection"), "{e}");
    let sleep = victim.query_first::<i64, _>("SELECT SLEEP(20)");
    let kill = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        killer.query_drop(format!("KILL QUERY {seen}")).await
    };
    let (slept, killed) = tokio::join!(sleep, kill);
    killed.unwrap();
    assert!(matches!(slept, Ok(Some(1)) | Err(_)), "{slept:?}");
    let n: Option<i64> = victim.query_first("SELECT 7").await.unwrap();
    assert_eq!(n, Some(7), "the victim's session goes on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_user_moves_the_session_to_the_new_users_pool() {
    let origin = MyOrigin::shared();
    let first = PoolUser::create(origin, "txn_cu_a");
    let second = PoolUser::create(origin, "txn_cu_b");
    let db = origin.create_db("txn_cu");
    let list = userlist(&[
        (&first.name, &first.password),
        (&second.name, &second.password),
    ]);
    let proxy = txn_pooled_proxy(origin, &list, "").await;
    let url = proxy.mysql_url("demo", "", &first.name, &first.password);
    let mut c = mysql::connect(&url).await;
    c.query_drop("SET sql_mode = 'ANSI_QUOTES'").await.unwrap();
    let opts = mysql_async::ChangeUserOpts::default()
        .with_user(Some(format!("demo-{}", second.name)))
        .with_pass(Some(second.password.clone()))
        .with_db_name(Some(db.clone()));
    c.change_user(opts).await.unwrap();
    let row: Option<(String, Option<String>, String)> = c
        .query_first("SELECT CURRENT_USER(), DATABASE(), @@sql_mode")
        .await
        .unwrap();
    let (who, current, mode) = row.unwrap();
    assert!(who.starts_with(&format!("{}@", second.name)), "{who}");
    assert_eq!(current.as_deref(), Some(db.as_str()));
    assert_ne!(mode, "ANSI_QUOTES", "the first login's settings are gone");
}
