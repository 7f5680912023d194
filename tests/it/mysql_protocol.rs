//! The MySQL protocol through wirecache against a real MariaDB: handshake and auth
//! methods, unknown cache IDs, hostile logins, the commands a session relays, and cache
//! hits proven from the origin's side.

use crate::common;

use common::mysql::{self, MyOrigin, ROOT_PASSWORD, ROOT_USER};
use common::proxy::Proxy;
use mysql_async::prelude::*;

async fn setup(prefix: &str, sql: &str) -> (&'static MyOrigin, String, Proxy) {
    let origin = MyOrigin::shared();
    let db = origin.create_db(prefix);
    origin.sql(&db, sql);
    let proxy = Proxy::builder().mysql_demo(origin.port).start().await;
    (origin, db, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_query_is_served_from_cache_the_second_time() {
    let (origin, db, proxy) = setup(
        "hello",
        "CREATE TABLE t (id int PRIMARY KEY, v varchar(20)); INSERT INTO t VALUES (1, 'one'), (2, 'two');",
    )
    .await;
    let url = proxy.mysql_url("demo", &db, ROOT_USER, ROOT_PASSWORD);
    let mut c = mysql::connect(&url).await;
    let q = "SELECT id, v FROM t ORDER BY id";
    let first: Vec<(i32, String)> = c.query(q).await.unwrap();
    assert_eq!(first, vec![(1, "one".into()), (2, "two".into())]);
    let selects = origin.selects(&db);
    let hits = proxy.hits().await;
    for _ in 0..5 {
        let again: Vec<(i32, String)> = c.query(q).await.unwrap();
        assert_eq!(again, first);
    }
    assert_eq!(proxy.hits().await - hits, 5.0);
    assert_eq!(origin.selects(&db), selects, "hits reached the origin");
    c.disconnect().await.unwrap();
}

fn server_error(e: &mysql_async::Error) -> (u16, String) {
    match e {
        mysql_async::Error::Server(s) => (s.code, s.message.clone()),
        other => panic!("not a server error: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_cache_id_is_refused_without_touching_the_origin() {
    // The only cache's origin does not listen: a connection attempt would fail with
    // 1429 (cannot connect to the data source), so 1045 proves none was made.
    let dead = common::free_port();
    let proxy = Proxy::builder().mysql_demo(dead).start().await;
    let url = proxy.mysql_url("nosuch", "", "root", "x");
    let err = mysql::try_connect(&url).await.unwrap_err();
    let (code, message) = server_error(&err);
    assert_eq!(code, 1045, "{message}");
    assert!(
        message.contains("no mysql cache matches user name 'nosuch-root'"),
        "{message}"
    );
    let url = proxy.mysql_url("demo", "", "root", "x");
    let (code, _) = server_error(&mysql::try_connect(&url).await.unwrap_err());
    assert_eq!(code, 1429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_methods_prefixes_and_wrong_passwords() {
    let origin = MyOrigin::shared();
    let proxy = Proxy::builder().mysql_demo(origin.port).start().await;
    // mysql_native_password through mysql_async, on both listeners and with an ID
    // containing '-'.
    for cache in ["demo", "my-app", "demo-maria"] {
        let url = proxy.mysql_url(
            cache,
            "",
            mysql::NATIVE_USER,
            &mysql::password_for(mysql::NATIVE_USER),
        );
        let mut c = mysql::connect(&url).await;
        let who: String = c
            .query_first("SELECT CURRENT_USER()")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(who, "native_user@%");
        let sum: i64 = c.query_first("SELECT 1 + 1").await.unwrap().unwrap();
        assert_eq!(sum, 2);
        c.query_first::<i64, _>("SELECT 1 + 1").await.unwrap();
        assert!(proxy.hits_of(cache).await >= 1.0, "{cache}");
    }
    let url = proxy.mysql_url("demo", "", ROOT_USER, "wrong");
    let (code, message) = server_error(&mysql::try_connect(&url).await.unwrap_err());
    assert_eq!(code, 1045);
    assert!(
        message.contains("Access denied for user 'wc_root'"),
        "{message}"
    );
    // ed25519 through the mariadb command-line client, on both listeners.
    for (port, user) in [
        (proxy.mysql_addr().port(), "demo-ed_user"),
        (proxy.mariadb_addr().port(), "demo-maria-ed_user"),
    ] {
        let pw = mysql::password_for(mysql::ED25519_USER);
        let (ok, out, err) = mysql::cli(port, user, &pw, &["-e", "SELECT CURRENT_USER()"]).await;
        assert!(ok, "{err}");
        assert_eq!(out, "ed_user@%");
        let (ok, _, err) = mysql::cli(port, user, "bad", &["-e", "SELECT 1"]).await;
        assert!(!ok && err.contains("1045"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_are_cached_by_text_and_parameters() {
    let (origin, db, proxy) = setup(
        "prepared",
        "CREATE TABLE t (id int PRIMARY KEY, v varchar(20), d double, b blob);
         INSERT INTO t VALUES (1, 'one', 1.5, NULL), (2, 'two', 2.5, 'xx');",
    )
    .await;
    let url = proxy.mysql_url("demo", &db, ROOT_USER, ROOT_PASSWORD);
    let mut c = mysql::connect(&url).await;
    let q = "SELECT v, d, b FROM t WHERE id = ?";
    type Row = (String, f64, Option<Vec<u8>>);
    let one: Option<Row> = c.exec_first(q, (1,)).await.unwrap();
    let two: Option<Row> = c.exec_first(q, (2,)).await.unwrap();
    assert_eq!(one.clone().unwrap().0, "one");
    assert_eq!(two.clone().unwrap().2, Some(b"xx".to_vec()));
    let selects = origin.selects(&db);
    let hits = proxy.hits().await;
    assert_eq!(c.exec_first::<Row, _, _>(q, (1,)).await.unwrap(), one);
    assert_eq!(c.exec_first::<Row, _, _>(q, (2,)).await.unwrap(), two);
    assert_eq!(proxy.hits().await - hits, 2.0);
    assert_eq!(origin.selects(&db), selects);
    // Text and binary results of the same SQL are different entries.
    let text: Vec<(String, f64)> = c.query("SELECT v, d FROM t WHERE id = 1").await.unwrap();
    assert_eq!(text, vec![("one".to_string(), 1.5)]);
    c.exec_drop("UPDATE t SET v = 'uno' WHERE id = ?", (1,))
        .await
        .unwrap();
    let row: Option<Row> = c.exec_first(q, (1,)).await.unwrap();
    assert_eq!(row.unwrap().0, "uno");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_statements_and_multiple_result_sets_are_relayed() {
    let (_o, db, proxy) = setup("multi", "CREATE TABLE t (v int); INSERT INTO t VALUES (7);").await;
    let url = proxy.mysql_url("demo", &db, ROOT_USER, ROOT_PASSWORD);
    let mut c = mysql::connect(&url).await;
    for _ in 0..2 {
        let mut result = c
            .query_iter("SELECT v FROM t; UPDATE t SET v = v + 1; SELECT v FROM t")
            .await
            .unwrap();
        let a: Vec<i64> = result.collect().await.unwrap();
        let _: Vec<i64> = result.collect().await.unwrap();
        let b: Vec<i64> = result.collect().await.unwrap();
        assert_eq!(b[0], a[0] + 1);
    }
    let v: i64 = c.query_first("SELECT v FROM t").await.unwrap().unwrap();
    assert_eq!(v, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_user_and_reset_connection_start_a_new_namespace() {
    let (_o, db, proxy) = setup(
        "chuser",
        "CREATE TABLE t (v int); INSERT INTO t VALUES (1);",
    )
    .await;
    let url = proxy.mysql_url("demo", &db, ROOT_USER, ROOT_PASSWORD);
    let mut c = mysql::connect(&url).await;
    c.query_drop("SET @x = 5").await.unwrap();
    let opts = mysql_async::ChangeUserOpts::default()
        .with_user(Some(format!("demo-{}", mysql::NATIVE_USER)))
        .with_pass(Some(mysql::password_for(mysql::NATIVE_USER)))
        .with_db_name(Some(db.clone()));
    c.change_user(opts).await.unwrap();
    let who: String = c
        .query_first("SELECT CURRENT_USER()")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(who, "native_user@%");
    let x: Option<i64> = c.query_first("SELECT @x").await.unwrap().unwrap();
    assert_eq!(x, None);
    let v: i64 = c.query_first("SELECT v FROM t").await.unwrap().unwrap();
    assert_eq!(v, 1);
    c.query_drop("SET time_zone = '+05:00'").await.unwrap();
    c.reset().await.unwrap();
    let tz: String = c.query_first("SELECT @@time_zone").await.unwrap().unwrap();
    assert_eq!(tz, "SYSTEM");
    let v: i64 = c.query_first("SELECT v FROM t").await.unwrap().unwrap();
    assert_eq!(v, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packets_over_16_mib_in_both_directions() {
    let (_o, db, proxy) = setup("big", "CREATE TABLE t (v longblob);").await;
    let url = proxy.mysql_url("demo", &db, ROOT_USER, ROOT_PASSWORD);
    let mut c = mysql::connect(&url).await;
    let big = vec![b'x'; 17 << 20];
    c.exec_drop("INSERT INTO t VALUES (?)", (big.clone(),))
        .await
        .unwrap();
    let len: i64 = c
        .query_first("SELECT LENGTH(v) FROM t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(len, 17 << 20);
    for _ in 0..2 {
        let back: Vec<u8> = c.query_first("SELECT v FROM t").await.unwrap().unwrap();
        assert!(back == big);
        let back: Vec<u8> = c.exec_first("SELECT v FROM t", ()).await.unwrap().unwrap();
        assert!(back == big);
    }
    let ok: i64 = c.query_first("SELECT 1").await.unwrap().unwrap();
    assert_eq!(ok, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_local_infile_ping_and_statistics() {
    let (origin, db, proxy) = setup("infile", "CREATE TABLE t (a int, b varchar(10));").await;
    let dir = common::test_dir("infile");
    let file = dir.join("data.tsv");
    std::fs::write(&file, "1\tone\n2\ttwo\n").unwrap();
    let port = proxy.mysql_addr().port();
    let user = format!("demo-{ROOT_USER}");
    let count = "SELECT count(*) FROM t";
    let (ok, out, err) = mysql::cli(port, &user, ROOT_PASSWORD, &[&db, "-e", count]).await;
    assert!(ok && out == "0", "{out} {err}");
    let load = format!(
        "LOAD DATA LOCAL INFILE '{}' INTO TABLE t; {count}",
        file.display()
    );
    let (ok, _, err) = mysql::cli(
        port,
        &user,
        ROOT_PASSWORD,
        &["--local-infile=1", &db, "-e", &load],
    )
    .await;
    assert!(ok, "{err}");
    let (ok, out, err) = mysql::cli(port, &user, ROOT_PASSWORD, &[&db, "-e", count]).await;
    assert!(ok && out == "2", "{out} {err}");
    assert_eq!(origin.sql(&db, count), "2");
    for command in ["ping", "status"] {
        let mut cmd = std::process::Command::new("mariadb-admin");
        cmd.args(["--no-defaults", "--protocol=TCP", "-h", "127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--user={user}"))
            .arg(format!("--password={ROOT_PASSWORD}"))
            .arg(command);
        let (ok, out, err) = mysql::run_blocking(cmd).await;
        assert!(ok, "{command}: {err}");
        assert!(out.contains("alive") || out.contains("Uptime"), "{out}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_misses_execute_once() {
    let (origin, db, proxy) = setup(
        "flight",
        "CREATE TABLE slow (n int);
         INSERT INTO slow SELECT seq FROM seq_1_to_400000;",
    )
    .await;
    let url = proxy.mysql_url("demo", &db, ROOT_USER, ROOT_PASSWORD);
    let mut clients = Vec::new();
    for _ in 0..6 {
        let mut c = mysql::connect(&url).await;
        // The driver's own first queries (session variables) happen here, not below.
        c.query_drop("SELECT 1").await.unwrap();
        clients.push(c);
    }
    // Learn the catalog facts about `slow` once, with another query.
    clients[0]
        .query_drop("SELECT n FROM slow WHERE n = 1")
        .await
        .unwrap();
    let selects = origin.selects(&db);
    let q = "SELECT count(*) FROM slow s1 WHERE s1.n % 7 = 3 AND s1.n * 3 > 5";
    let runs = clients.iter_mut().map(|c| async move {
        let n: Option<i64> = c.query_first(q).await.unwrap();
        n.unwrap_or(-1)
    });
    let results = futures_util::future::join_all(runs).await;
    assert!(
        results.iter().all(|r| *r == results[0] && *r > 0),
        "{results:?}"
    );
    assert_eq!(
        origin.selects(&db) - selects,
        1,
        "identical misses reached the origin"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_entries_are_refreshed_ahead_of_expiry() {
    let origin = MyOrigin::shared();
    let db = origin.create_db("refresh");
    origin.sql(
        &db,
        "CREATE TABLE t (id int PRIMARY KEY, v varchar(20)); INSERT INTO t VALUES (1, 'one'), (2, 'two');",
    );
    // A rule pins a 10 s TTL (a `[[rules]]` table may follow the `[cache]` keys); its
    // refresh window is the last fifth, 8 s to 10 s after the entry was stored.
    let rule = "\n[[rules]]\npattern = \"*from t where id*\"\nttl = \"10s\"\n";
    let proxy = Proxy::builder()
        .mysql_demo(origin.port)
        .toml(rule)
        .start()
        .await;
    let url = proxy.mysql_url("demo", &db, ROOT_USER, ROOT_PASSWORD);
    let mut c = mysql::connect(&url).await;
    // The text protocol, and a prepared statement (binary protocol).
    let q = "SELECT v FROM t WHERE id = 1";
    let ps = "SELECT v FROM t WHERE id = ?";
    let filled = std::time::Instant::now();
    for _ in 0..2 {
        let text: Option<String> = c.query_first(q).await.unwrap();
        assert_eq!(text.as_deref(), Some("one"));
        let bin: Option<String> = c.exec_first(ps, (2,)).await.unwrap();
        assert_eq!(bin.as_deref(), Some("two"));
    }
    assert_eq!(proxy.refreshes().await, 0.0);
    // In the last fifth of an entry's life, a hit triggers one background refresh. A
    // session runs one refresh at a time, so the second hit waits for the first to be
    // stored.
    let refreshes = "wirecache_refreshes_total{cache=\"demo\"} ";
    let stored = "wirecache_fills_total{cache=\"demo\",outcome=\"stored\"} ";
    let stored_before = proxy.metric(stored).await;
    // The entries were stored some time after `filled` (a loaded machine may take a
    // while to answer the first queries): hit from 8.3 s on until the window has
    // opened, which it does before the entry's end at 10 s after its store.
    tokio::time::sleep_until((filled + std::time::Duration::from_millis(8300)).into()).await;
    for _ in 0..15 {
        let again: Option<String> = c.query_first(q).await.unwrap();
        assert_eq!(again.as_deref(), Some("one"));
        if proxy.metric(refreshes).await >= 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    proxy.wait_for_metric(refreshes, 1.0).await;
    proxy.wait_for_metric(stored, stored_before + 1.0).await;
    let bin: Option<String> = c.exec_first(ps, (2,)).await.unwrap();
    assert_eq!(bin.as_deref(), Some("two"));
    proxy.wait_for_metric(refreshes, 2.0).await;
    proxy.wait_for_metric(stored, stored_before + 2.0).await;
    tokio::time::sleep_until((filled + std::time::Duration::from_millis(10500)).into()).await;
    // Past the first entries' expiry both are still hits, served from the refreshes.
    let hits = proxy.hits().await;
    let selects = origin.selects(&db);
    let again: Option<String> = c.query_first(q).await.unwrap();
    assert_eq!(again.as_deref(), Some("one"));
    let bin: Option<String> = c.exec_first(ps, (2,)).await.unwrap();
    assert_eq!(bin.as_deref(), Some("two"));
    assert_eq!(proxy.hits().await, hits + 2.0);
    assert_eq!(origin.selects(&db), selects);
    assert_eq!(proxy.refreshes().await, 2.0);
    // The session and its prepared statement go on normally after the refreshes'
    // hidden answers.
    c.query_drop("UPDATE t SET v = 'uno' WHERE id = 1")
        .await
        .unwrap();
    let after: Option<String> = c.query_first(q).await.unwrap();
    assert_eq!(after.as_deref(), Some("uno"));
    let other: Option<String> = c.exec_first(ps, (1,)).await.unwrap();
    assert_eq!(other.as_deref(), Some("uno"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_in_transactions_learn_their_tables_then_invalidate_only_them() {
    let (_origin, db, proxy) = setup(
        "txn_facts",
        "CREATE TABLE t (id int PRIMARY KEY, v varchar(20)); INSERT INTO t VALUES (1, 'one');
         CREATE TABLE audit (n int);",
    )
    .await;
    let url = proxy.mysql_url("demo", &db, ROOT_USER, ROOT_PASSWORD);
    let mut reader = mysql::connect(&url).await;
    let mut writer = mysql::connect(&url).await;
    let q = "SELECT v FROM t WHERE id = 1";
    let whole_db = "wirecache_invalidations_total{cache=\"demo\",scope=\"database\"} ";
    for _ in 0..2 {
        let _: Option<String> = reader.query_first(q).await.unwrap();
    }
    // Inside a transaction the catalog is not asked about `audit`: the commit
    // invalidates everything, the unrelated cached read included.
    let before = proxy.metric(whole_db).await;
    for sql in ["BEGIN", "INSERT INTO audit VALUES (1)", "COMMIT"] {
        writer.query_drop(sql).await.unwrap();
    }
    assert!(proxy.metric(whole_db).await > before);
    let hits = proxy.hits().await;
    let _: Option<String> = reader.query_first(q).await.unwrap();
    assert_eq!(proxy.hits().await, hits, "the read was invalidated");
    // The next BEGIN, outside a transaction, asks what could not be asked before; the
    // next transaction's write to `audit` then invalidates `audit` alone.
    let before = proxy.metric(whole_db).await;
    for sql in ["BEGIN", "INSERT INTO audit VALUES (2)", "COMMIT"] {
        writer.query_drop(sql).await.unwrap();
    }
    assert_eq!(proxy.metric(whole_db).await, before);
    let _: Option<String> = reader.query_first(q).await.unwrap();
    assert_eq!(
        proxy.hits().await,
        hits + 1.0,
        "the unrelated read stayed cached"
    );
    let n: Option<i64> = writer
        .query_first("SELECT count(*) FROM audit")
        .await
        .unwrap();
    assert_eq!(n, Some(2));
}

/// Reads one packet (header and payload) from a raw connection.
async fn raw_packet(s: &mut tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut header = [0u8; 4];
    s.read_exact(&mut header).await.unwrap();
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.unwrap();
    payload
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_logins_get_an_error_and_the_daemon_keeps_serving() {
    use tokio::io::AsyncWriteExt;
    let (_origin, db, proxy) = setup(
        "hostile",
        "CREATE TABLE t (id int); INSERT INTO t VALUES (7);",
    )
    .await;
    // A login reply too short to be one: ERR 1043 (bad handshake), then the end.
    let mut s = tokio::net::TcpStream::connect(proxy.mysql_addr())
        .await
        .unwrap();
    let greeting = raw_packet(&mut s).await;
    assert_eq!(
        greeting.get(..1),
        Some(&[10u8][..]),
        "protocol version 10 greeting"
    );
    s.write_all(&[3, 0, 0, 1, b'a', b'b', b'c']).await.unwrap();
    let err = tokio::time::timeout(std::time::Duration::from_secs(10), raw_packet(&mut s))
        .await
        .expect("an answer");
    assert_eq!(err.get(..3), Some(&[0xFF, 0x13, 0x04][..]), "{err:?}");
    // A login reply declaring 16 MiB, cut off after a few bytes.
    let mut s = tokio::net::TcpStream::connect(proxy.mariadb_addr())
        .await
        .unwrap();
    raw_packet(&mut s).await;
    s.write_all(&[0xFF, 0xFF, 0xFF, 1, 1, 2, 3]).await.unwrap();
    drop(s);
    // Garbage instead of a greeting's answer, on both ports.
    for addr in [proxy.mysql_addr(), proxy.mariadb_addr()] {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        raw_packet(&mut s).await;
        s.write_all(&[0u8; 3]).await.unwrap();
        s.write_all(b"\x16\x03\x01 not a packet at all")
            .await
            .unwrap();
        drop(s);
    }
    // Real clients are still served.
    for cache in ["demo", "demo-maria"] {
        let mut c = mysql::connect(&proxy.mysql_url(cache, &db, ROOT_USER, ROOT_PASSWORD)).await;
        let v: Option<i32> = c.query_first("SELECT id FROM t").await.unwrap();
        assert_eq!(v, Some(7));
    }
}
