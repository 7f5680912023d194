//! The PostgreSQL protocol through wirecache: startup and every authentication method
//! relayed, cache-ID resolution, cancel requests, pipelining, psql, and hostile input.

use crate::common;

use std::time::Duration;

use common::PgOrigin;
use common::pg::password_for;
use common::proxy::Proxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_postgres::error::SqlState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_password_method_is_relayed() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("auth");
    origin.psql(
        &db,
        "GRANT ALL ON SCHEMA public TO pw_user, md5_user, scram_user;",
    );
    // Over a plaintext client connection, the passwords wirecache would see in clear
    // (a cleartext request; MD5 with the cache ID stripped) are refused, saying how
    // to fix it; SCRAM is relayed. pg_tls logs in with all three over TLS.
    let strict = Proxy::builder().postgres_demo(origin.port).start().await;
    for role in ["pw_user", "md5_user"] {
        let pw = password_for(role);
        let err = strict
            .try_connect("demo", &db, role, Some(&pw))
            .await
            .err()
            .unwrap_or_else(|| panic!("{role}: a cleartext password crossed a plaintext link"));
        assert_eq!(
            err.code(),
            Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
        );
        let message = err.as_db_error().map(|e| e.message().to_string());
        let message = message.unwrap_or_default();
        assert!(
            message.contains("tls.allow_cleartext_passwords"),
            "{message}"
        );
    }
    let pw = password_for("scram_user");
    strict
        .try_connect("demo", &db, "scram_user", Some(&pw))
        .await
        .unwrap();
    let proxy = Proxy::builder()
        .postgres_demo(origin.port)
        .toml("[tls]\nallow_cleartext_passwords = true")
        .start()
        .await;
    for role in ["pw_user", "md5_user", "scram_user"] {
        let pw = password_for(role);
        let c = proxy
            .try_connect("demo", &db, role, Some(&pw))
            .await
            .unwrap_or_else(|e| panic!("{role}: {e:?}"));
        let who: String = c
            .query_one("SELECT current_user::text", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(who, role);
        let wrong = proxy.try_connect("demo", &db, role, Some("wrong")).await;
        let err = wrong
            .err()
            .unwrap_or_else(|| panic!("{role} accepted a wrong password"));
        assert_eq!(
            err.code(),
            Some(&SqlState::INVALID_PASSWORD),
            "{role}: {err}"
        );
    }
    // Trust.
    let c = proxy.try_connect("demo", &db, "alice", None).await.unwrap();
    c.simple_query("SELECT 1").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_ids_resolve_longest_first_and_unknown_ids_are_refused() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("ids");
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
    // `my-app` contains a dash: `my-app-alice` is cache my-app, user alice.
    let c = proxy
        .try_connect("my-app", &db, "alice", None)
        .await
        .unwrap();
    let who: String = c
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(who, "alice");
    // An unknown ID is refused before any origin connection: a listener standing in
    // for the origin counts the connections it is offered.
    let fake = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_port = fake.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = fake.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(sock);
        }
    });
    let fake_proxy = Proxy::builder().postgres_demo(fake_port).start().await;
    let err = fake_proxy
        .try_connect("nosuch", &db, "alice", None)
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
    );
    let message = err
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(message.contains("no cache matches"), "{message}");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0);
    // The known ID does reach it (and fails there, as the stand-in is no PostgreSQL).
    assert!(
        fake_proxy
            .try_connect("demo", &db, "alice", None)
            .await
            .is_err()
    );
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    // application_name selects the cache too.
    let conn = format!(
        "host=127.0.0.1 port={} user=alice dbname={db} application_name=demo",
        proxy.pg_addr().port()
    );
    let (c, conn) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    c.simple_query("SELECT 1").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_the_origin_backend() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("cancel");
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
    let c = proxy.connect(&db, "postgres").await;
    let token = c.cancel_token();
    let sleeper = tokio::spawn(async move { c.simple_query("SELECT pg_sleep(30)").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let res = tokio::time::timeout(Duration::from_secs(10), sleeper)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.unwrap_err().code(), Some(&SqlState::QUERY_CANCELED));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_queries_keep_their_order() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("pipeline");
    origin.psql(&db, "CREATE TABLE p (id int PRIMARY KEY, v int); INSERT INTO p SELECT g, g FROM generate_series(1, 50) g;");
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
    let c = proxy.connect(&db, "postgres").await;
    let stmt = c.prepare("SELECT v FROM p WHERE id = $1").await.unwrap();
    for round in 0..3 {
        // tokio-postgres pipelines concurrent queries on one connection.
        let futs = (1..=50i32).map(|i| {
            let c = &c;
            let stmt = &stmt;
            async move { (i, c.query_one(stmt, &[&i]).await.unwrap().get::<_, i32>(0)) }
        });
        for (i, v) in futures_util::future::join_all(futs).await {
            assert_eq!(i, v, "round {round}");
        }
    }
    assert!(proxy.hits().await > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_survive_whatever_the_cache_did() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("prepared");
    origin.psql(
        &db,
        "CREATE TABLE s (id int PRIMARY KEY, v text); INSERT INTO s VALUES (1, 'a'), (2, 'b');",
    );
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
    let c = proxy.connect(&db, "postgres").await;
    let read = c.prepare("SELECT v FROM s WHERE id = $1").await.unwrap();
    let write = c
        .prepare("UPDATE s SET v = $2 WHERE id = $1")
        .await
        .unwrap();
    for i in 0..20 {
        let v = format!("v{i}");
        assert_eq!(
            c.query_one(&read, &[&1i32])
                .await
                .unwrap()
                .get::<_, String>(0),
            if i == 0 {
                "a".to_string()
            } else {
                format!("v{}", i - 1)
            }
        );
        assert_eq!(
            c.query_one(&read, &[&1i32])
                .await
                .unwrap()
                .get::<_, String>(0),
            if i == 0 {
                "a".to_string()
            } else {
                format!("v{}", i - 1)
            }
        );
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&1i32, &v];
        assert_eq!(c.execute(&write, &params).await.unwrap(), 1);
    }
    // SQL-level PREPARE/EXECUTE and DEALLOCATE pass through.
    c.batch_execute("PREPARE q(int) AS SELECT v FROM s WHERE id = $1")
        .await
        .unwrap();
    let rows = c.simple_query("EXECUTE q(2)").await.unwrap();
    let v = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    });
    assert_eq!(v.as_deref(), Some("b"));
    c.batch_execute("DEALLOCATE q").await.unwrap();
    assert!(c.simple_query("EXECUTE q(2)").await.is_err());
    assert_eq!(
        c.query_one(&read, &[&2i32])
            .await
            .unwrap()
            .get::<_, String>(0),
        "b"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_runs_a_script_with_notices_and_copy() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("psql");
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
    let port = proxy.pg_addr().port();
    let script = "CREATE TABLE ps (id int, v text);
\\copy ps FROM stdin
1\tone
2\ttwo
\\.
DO $$ BEGIN RAISE NOTICE 'hello from origin'; END $$;
SELECT count(*) AS n FROM ps;
SELECT count(*) AS n FROM ps;
SELECT v FROM ps WHERE id = 2;
";
    let db2 = db.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new("psql")
            .args([
                "-X",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "demo-postgres",
                "-d",
                &db2,
                "-f",
                "-",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("hello from origin"), "{stderr}");
    assert_eq!(stdout.matches("---\n 2\n").count(), 2, "{stdout}");
    assert!(stdout.contains(" two"), "{stdout}");
    assert!(proxy.hits().await >= 1.0);
}

async fn raw(proxy: &Proxy, bytes: &[u8]) -> Vec<u8> {
    let mut s = tokio::net::TcpStream::connect(proxy.pg_addr())
        .await
        .unwrap();
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    out
}

fn simple_query(sql: &str) -> Vec<u8> {
    let mut m = vec![b'Q'];
    m.extend_from_slice(&((sql.len() + 5) as i32).to_be_bytes());
    m.extend_from_slice(sql.as_bytes());
    m.push(0);
    m
}

/// Reads whole messages and returns their tags, up to and including ReadyForQuery.
async fn read_tags_until_ready(s: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut tags = Vec::new();
    loop {
        let mut header = [0u8; 5];
        s.read_exact(&mut header).await.unwrap();
        let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut body = vec![0u8; len - 4];
        s.read_exact(&mut body).await.unwrap();
        tags.push(header[0]);
        if header[0] == b'Z' {
            return tags;
        }
    }
}

/// A raw protocol connection through wirecache, logged in (trust) and ready.
async fn raw_login(proxy: &Proxy, db: &str) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(proxy.pg_addr())
        .await
        .unwrap();
    let mut body = 196608i32.to_be_bytes().to_vec();
    for (k, v) in [("user", "demo-postgres"), ("database", db)] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    s.write_all(&packet).await.unwrap();
    read_tags_until_ready(&mut s).await;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_an_error_and_the_daemon_keeps_serving() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("hostile");
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
    // A startup length far beyond the limit.
    let out = raw(&proxy, &[0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0]).await;
    assert_eq!(out.first(), Some(&b'E'));
    // Garbage.
    let out = raw(&proxy, b"GET / HTTP/1.1\r\n\r\n").await;
    assert!(out.is_empty() || out[0] == b'E');
    // Startup without a user.
    let mut p = Vec::new();
    let body = b"\0\x03\0\0database\0x\0\0";
    p.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    p.extend_from_slice(body);
    assert_eq!(raw(&proxy, &p).await.first(), Some(&b'E'));
    let c = proxy.connect(&db, "postgres").await;
    c.simple_query("SELECT 1").await.unwrap();
    // After authentication: a malformed Bind gets the origin's error, then Sync its
    // ReadyForQuery, and the session goes on.
    let mut s = raw_login(&proxy, &db).await;
    s.write_all(&[b'B', 0, 0, 0, 5, 0xff, b'S', 0, 0, 0, 4])
        .await
        .unwrap();
    let tags = read_tags_until_ready(&mut s).await;
    assert_eq!(
        tags,
        vec![b'E', b'Z'],
        "{:?}",
        String::from_utf8_lossy(&tags)
    );
    s.write_all(&simple_query("SELECT 41 + 1")).await.unwrap();
    let tags = read_tags_until_ready(&mut s).await;
    assert_eq!(tags, b"TDCZ".to_vec());
    // A message with a huge declared length: a FATAL, then the connection closes.
    s.write_all(&[b'Q', 0x7f, 0xff, 0xff, 0xff]).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    assert_eq!(rest.first(), Some(&b'E'));
    assert!(String::from_utf8_lossy(&rest).contains("54000"));
    // Truncated connection mid-startup.
    {
        let mut s = tokio::net::TcpStream::connect(proxy.pg_addr())
            .await
            .unwrap();
        s.write_all(&[0, 0, 0, 40, 0, 3]).await.unwrap();
    }
    // Still serving.
    let c2 = proxy.connect(&db, "postgres").await;
    c2.simple_query("SELECT 1").await.unwrap();
    c.simple_query("SELECT 2").await.unwrap();
}
