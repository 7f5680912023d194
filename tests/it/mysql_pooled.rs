//! Pooled mode (`pool = "session"`) for MySQL/MariaDB against a real MariaDB: many
//! short client sessions share few origin connections (the origin's own per-user
//! connection counters), a connection given back carries no session state (user
//! variables, temporary tables, character set, default database), hits are answered
//! without the origin, `KILL QUERY <the id the client sees>` reaches the backend the
//! session leases, and COM_CHANGE_USER logs in again (a wrong password: 1045) and moves
//! the session to the new user's pool. The logins themselves are
//! `mysql_pooled_auth`; real clients `mysql_pooled_clients`.

use crate::common;

use common::mysql::{self, MyOrigin};
use common::mysql_pooled_origin::{PoolUser, pooled_proxy, userlist};
use mysql_async::prelude::*;

/// How many times the origin ran the statement `SELECT v FROM t …` in `db`.
fn origin_runs(origin: &MyOrigin, db: &str) -> i64 {
    let sql = format!(
        "SELECT COALESCE(SUM(COUNT_STAR), 0) FROM performance_schema.events_statements_summary_by_digest \
         WHERE SCHEMA_NAME = '{db}' AND DIGEST_TEXT LIKE 'SELECT `v` FROM `t`%'"
    );
    origin.sql("", &sql).trim().parse().unwrap_or(-1)
}

fn idle(cache: &str) -> String {
    format!("wirecache_pool_connections{{cache=\"{cache}\",state=\"idle\"}}")
}

async fn backend(conn: &mut mysql_async::Conn) -> u64 {
    conn.query_first::<u64, _>("SELECT CONNECTION_ID()")
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_sessions_share_few_origin_connections() {
    let origin = MyOrigin::shared();
    let user = PoolUser::create(origin, "pool_share");
    let db = origin.create_db("pooled_share");
    let list = userlist(&[(&user.name, &user.password)]);
    let proxy = pooled_proxy(origin, &list, "pool_size = 2").await;
    for cache in ["demo", "demo-maria"] {
        let url = proxy.mysql_url(cache, &db, &user.name, &user.password);
        let mut backends = Vec::new();
        for i in 0..12 {
            let mut c = mysql::connect(&url).await;
            backends.push(backend(&mut c).await);
            let n: Option<i64> = c.query_first(format!("SELECT {i} + 1")).await.unwrap();
            assert_eq!(n, Some(i + 1));
            c.disconnect().await.unwrap();
            // Given back once reset: the next session finds it idle.
            proxy.wait_for_metric(&idle(cache), 1.0).await;
        }
        backends.dedup();
        assert_eq!(
            backends.len(),
            1,
            "{cache}: one backend for sequential sessions"
        );
    }
    // Two pools (one per listener's capability set at most), 24 sessions.
    let total = user.total_connections(origin);
    assert!(
        (1..=4).contains(&total),
        "origin connections for 24 sessions: {total}"
    );
    // Concurrent sessions beyond pool_size wait, then reuse.
    let url = proxy.mysql_url("demo", &db, &user.name, &user.password);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = mysql::connect(&url).await;
            let _: Option<i64> = c.query_first("SELECT SLEEP(0.2)").await.unwrap();
            c.disconnect().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let after = user.total_connections(origin);
    assert!(
        after - total <= 2,
        "pool_size 2 bounds new connections: {total} -> {after}"
    );
    assert!(user.current_connections(origin) <= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_back_connection_carries_no_session_state() {
    let origin = MyOrigin::shared();
    let user = PoolUser::create(origin, "pool_reset");
    let db = origin.create_db("pooled_reset");
    let other = origin.create_db("pooled_reset_other");
    let list = userlist(&[(&user.name, &user.password)]);
    let proxy = pooled_proxy(origin, &list, "pool_size = 1").await;
    for cache in ["demo", "demo-maria"] {
        let url = proxy.mysql_url(cache, &db, &user.name, &user.password);
        let mut a = mysql::connect(&url).await;
        let first = backend(&mut a).await;
        a.query_drop("SET @leak = 42").await.unwrap();
        a.query_drop("CREATE TEMPORARY TABLE tmp_leak (x INT)")
            .await
            .unwrap();
        a.query_drop("SET NAMES latin1").await.unwrap();
        a.query_drop(format!(
            "CREATE TABLE IF NOT EXISTS `{other}`.left_open (x INT)"
        ))
        .await
        .unwrap();
        a.query_drop("SET autocommit = 0").await.unwrap();
        a.query_drop(format!("INSERT INTO `{other}`.left_open VALUES (1)"))
            .await
            .unwrap();
        a.query_drop("COMMIT").await.unwrap();
        a.query_drop(format!("USE `{other}`")).await.unwrap();
        // Leaves with autocommit off, outside a transaction.
        a.disconnect().await.unwrap();
        proxy.wait_for_metric(&idle(cache), 1.0).await;

        let mut b = mysql::connect(&url).await;
        assert_eq!(
            backend(&mut b).await,
            first,
            "{cache}: the same backend again"
        );
        let leak: Option<Option<i64>> = b.query_first("SELECT @leak").await.unwrap();
        assert_eq!(leak, Some(None), "{cache}: user variable reset");
        let tmp = b.query_drop("SELECT * FROM tmp_leak").await;
        assert!(tmp.is_err(), "{cache}: temporary table dropped");
        let cs: Option<String> = b
            .query_first("SELECT @@character_set_client")
            .await
            .unwrap();
        assert_ne!(
            cs.as_deref(),
            Some("latin1"),
            "{cache}: character set reset"
        );
        let current: Option<String> = b.query_first("SELECT DATABASE()").await.unwrap();
        assert_eq!(
            current.as_deref(),
            Some(db.as_str()),
            "{cache}: database reset"
        );
        b.disconnect().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_spare_the_origin_across_sessions() {
    let origin = MyOrigin::shared();
    let user = PoolUser::create(origin, "pool_hits");
    let db = origin.create_db("pooled_hits");
    origin.sql(
        &db,
        "CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'one');",
    );
    let list = userlist(&[(&user.name, &user.password)]);
    let proxy = pooled_proxy(origin, &list, "").await;
    let url = proxy.mysql_url("demo", &db, &user.name, &user.password);
    let query = "SELECT v FROM t WHERE id = 1";
    let mut a = mysql::connect(&url).await;
    let v: Option<String> = a.query_first(query).await.unwrap();
    assert_eq!(v.as_deref(), Some("one"));
    a.disconnect().await.unwrap();
    let before = origin_runs(origin, &db);
    assert_eq!(before, 1);
    for _ in 0..3 {
        let mut c = mysql::connect(&url).await;
        let v: Option<String> = c.query_first(query).await.unwrap();
        assert_eq!(v.as_deref(), Some("one"));
        c.disconnect().await.unwrap();
    }
    assert_eq!(
        origin_runs(origin, &db),
        before,
        "hits never reach the origin"
    );
    assert!(proxy.hits_of("demo").await >= 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_names_the_leased_backend() {
    let origin = MyOrigin::shared();
    let user = PoolUser::create(origin, "pool_kill");
    let list = userlist(&[(&user.name, &user.password)]);
    let proxy = pooled_proxy(origin, &list, "").await;
    let url = proxy.mysql_url("demo", "", &user.name, &user.password);
    let mut victim = mysql::connect(&url).await;
    let mut killer = mysql::connect(&url).await;
    let seen = victim.id();
    assert_ne!(
        u64::from(seen),
        backend(&mut victim).await,
        "the client sees wirecache's id"
    );
    let sleep = victim.query_first::<i64, _>("SELECT SLEEP(20)");
    let kill = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        killer.query_drop(format!("KILL QUERY {seen}")).await
    };
    let (slept, killed) = tokio::join!(sleep, kill);
    killed.unwrap();
    // MariaDB answers an interrupted SLEEP with 1, or with error 1317.
    assert!(matches!(slept, Ok(Some(1)) | Err(_)), "{slept:?}");
    let n: Option<i64> = victim.query_first("SELECT 7").await.unwrap();
    assert_eq!(n, Some(7), "the victim's session goes on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_user_logs_in_again_and_switches_pool() {
    let origin = MyOrigin::shared();
    let first = PoolUser::create(origin, "pool_cu_a");
    let second = PoolUser::create(origin, "pool_cu_b");
    let db = origin.create_db("pooled_cu");
    let list = userlist(&[
        (&first.name, &first.password),
        (&second.name, &second.password),
    ]);
    let proxy = pooled_proxy(origin, &list, "").await;
    for cache in ["demo", "demo-maria"] {
        let url = proxy.mysql_url(cache, "", &first.name, &first.password);
        let mut c = mysql::connect(&url).await;
        let before = backend(&mut c).await;
        c.query_drop("SET @mine = 1").await.unwrap();
        let opts = mysql_async::ChangeUserOpts::default()
            .with_user(Some(format!("{cache}-{}", second.name)))
            .with_pass(Some(second.password.clone()))
            .with_db_name(Some(db.clone()));
        c.change_user(opts).await.unwrap();
        let who: Option<String> = c.query_first("SELECT CURRENT_USER()").await.unwrap();
        assert!(
            who.unwrap().starts_with(&format!("{}@", second.name)),
            "{cache}"
        );
        let current: Option<String> = c.query_first("SELECT DATABASE()").await.unwrap();
        assert_eq!(current.as_deref(), Some(db.as_str()));
        assert_ne!(
            backend(&mut c).await,
            before,
            "{cache}: another pool's connection"
        );
        let mine: Option<Option<i64>> = c.query_first("SELECT @mine").await.unwrap();
        assert_eq!(mine, Some(None), "{cache}: no state of the first user");
        // The first user's connection went back to its pool.
        proxy.wait_for_metric(&idle(cache), 1.0).await;
        // KILL QUERY with the id the client sees reaches its new backend.
        let killer_url = proxy.mysql_url(cache, "", &second.name, &second.password);
        let mut killer = mysql::connect(&killer_url).await;
        let seen = c.id();
        let sleep = c.query_first::<i64, _>("SELECT SLEEP(20)");
        let kill = async {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            killer.query_drop(format!("KILL QUERY {seen}")).await
        };
        let (slept, killed) = tokio::join!(sleep, kill);
        killed.unwrap();
        assert!(matches!(slept, Ok(Some(1)) | Err(_)), "{cache}: {slept:?}");
        killer.disconnect().await.unwrap();
        // The killer's connection (the second user, no database) is idle too.
        proxy.wait_for_metric(&idle(cache), 2.0).await;
        // A wrong password is refused with 1045 and the session ends.
        let opts = mysql_async::ChangeUserOpts::default()
            .with_user(Some(format!("{cache}-{}", first.name)))
            .with_pass(Some("wrong".to_owned()));
        let code = match c.change_user(opts).await {
            Err(mysql_async::Error::Server(s)) => s.code,
            other => panic!("{cache}: a wrong password was accepted: {other:?}"),
        };
        assert_eq!(code, 1045);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_character_set_and_attributes_reach_the_leased_connection() {
    let origin = MyOrigin::shared();
    let user = PoolUser::create(origin, "pool_cs");
    let list = userlist(&[(&user.name, &user.password)]);
    let proxy = pooled_proxy(origin, &list, "").await;
    let port = proxy.mariadb_addr().port().to_string();
    let login = format!("demo-maria-{}", user.name);
    let script = "import sys, pymysql\n\
        c = pymysql.connect(host='127.0.0.1', port=int(sys.argv[1]), user=sys.argv[2], password=sys.argv[3], charset=sys.argv[4], program_name='pooled-attrs-test')\n\
        cur = c.cursor(); cur.execute('SELECT @@character_set_client, CONNECTION_ID()')\n\
        print('%s %s' % cur.fetchone()); c.close()\n";
    let mut backends = Vec::new();
    for charset in ["latin1", "utf8mb4", "latin1"] {
        let mut cmd = std::process::Command::new("python3");
        cmd.args(["-c", script, &port, &login, &user.password, charset]);
        let (ok, out, err) = mysql::run_blocking(cmd).await;
        assert!(ok, "{charset}: {err}");
        let (got, backend) = out.split_once(' ').unwrap();
        assert_eq!(got, charset, "the session's character set");
        backends.push(backend.to_owned());
        proxy
            .wait_for_metric(&idle("demo-maria"), backends.len().min(2) as f64)
            .await;
    }
    assert_eq!(
        backends[0], backends[2],
        "latin1 sessions share their pool's connection"
    );
    assert_ne!(
        backends[0], backends[1],
        "another character set, another pool"
    );
    // The opening client's connection attributes went to the origin with the login.
    let attrs = origin.sql(
        "",
        &format!(
            "SELECT ATTR_VALUE FROM performance_schema.session_connect_attrs \
             WHERE PROCESSLIST_ID = {} AND ATTR_NAME = 'program_name'",
            backends[0]
        ),
    );
    assert_eq!(attrs, "pooled-attrs-test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pool_refuses_a_login_after_the_queue_timeout() {
    let origin = MyOrigin::shared();
    let user = PoolUser::create(origin, "pool_full");
    let list = userlist(&[(&user.name, &user.password)]);
    let proxy = pooled_proxy(
        origin,
        &list,
        "pool_size = 1\npool_queue_timeout = \"300ms\"",
    )
    .await;
    let url = proxy.mysql_url("demo", "", &user.name, &user.password);
    let mut holder = mysql::connect(&url).await;
    let e = mysql::try_connect(&url)
        .await
        .expect_err("a second session in a pool of one");
    assert_eq!(
        common::mysql_pooled_origin::server_code(&e),
        Some(1040),
        "{e}"
    );
    let n: Option<i64> = holder.query_first("SELECT 3").await.unwrap();
    assert_eq!(n, Some(3));
    holder.disconnect().await.unwrap();
    proxy.wait_for_metric(&idle("demo"), 1.0).await;
    let mut next = mysql::connect(&url).await;
    let n: Option<i64> = next.query_first("SELECT 4").await.unwrap();
    assert_eq!(n, Some(4));
}
