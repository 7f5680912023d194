//! Pooled mode's logins against a real PostgreSQL origin: wirecache checks the
//! client's SCRAM login itself (a wrong password and an unknown user get `28P01` and
//! open no origin connection), logs in to the origin with a stored password (SCRAM
//! and MD5 origins) or with the origin's own verifier, and looks up users with
//! `auth_user` + `auth_query`.

use crate::common;

use common::PgOrigin;
use common::pg::password_for;
use common::proxy::Proxy;

use crate::pg_pooled::{USER, backends, code, pooled};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_user_are_refused_without_the_origin() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("pooled_refused");
    let proxy = pooled(origin, USER, "").await;
    let wrong = proxy.try_connect("demo", &db, USER, Some("not-it")).await;
    assert_eq!(code(&wrong.err().unwrap()), "28P01");
    let unknown = proxy.try_connect("demo", &db, "nobody", Some("x")).await;
    assert_eq!(code(&unknown.err().unwrap()), "28P01");
    assert_eq!(
        backends(origin, &db),
        0,
        "a failed login reached the origin"
    );
    assert_eq!(
        proxy
            .metric("wirecache_pool_connections{cache=\"demo\",state=\"idle\"}")
            .await,
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_origin_login_uses_md5_or_the_origins_own_verifier() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("pooled_secrets");
    // An MD5 origin, with the stored password.
    let proxy = pooled(origin, "md5_user", "").await;
    let client = proxy
        .try_connect("demo", &db, "md5_user", Some(&password_for("md5_user")))
        .await
        .unwrap();
    let row = client
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "md5_user");
    drop(proxy);

    // The verifier PostgreSQL stores, in a userlist: the origin login reuses the
    // ClientKey the client's proof revealed.
    let verifier = origin.psql(
        "postgres",
        "SELECT rolpassword FROM pg_authid WHERE rolname = 'scram_user'",
    );
    let list = std::env::temp_dir().join(format!("wc-pooled-userlist-{}", std::process::id()));
    std::fs::write(&list, format!("\"scram_user\" \"{verifier}\"\n")).unwrap();
    let lines = format!("pool = \"session\"\nauth_file = \"{}\"", list.display());
    let proxy = Proxy::builder()
        .cache_with(
            "demo",
            common::proxy::Protocol::Postgres,
            origin.port,
            &lines,
        )
        .start()
        .await;
    let pw = password_for(USER);
    for _ in 0..2 {
        let client = proxy
            .try_connect("demo", &db, USER, Some(&pw))
            .await
            .unwrap();
        let row = client
            .query_one("SELECT current_user::text", &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), USER);
    }
    let wrong = proxy.try_connect("demo", &db, USER, Some("nope")).await;
    assert_eq!(code(&wrong.err().unwrap()), "28P01");
    let _ = std::fs::remove_file(list);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_query_looks_up_users_the_userlist_does_not_name() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("pooled_auth_query");
    // Only the lookup user is in the userlist (the origin trusts it).
    let dir = common::test_dir("pooled-auth-query");
    let list = dir.join("userlist.txt");
    std::fs::write(&list, "\"postgres\" \"lookup-pw\"\n").unwrap();
    let lines = format!(
        "pool = \"session\"\nauth_file = \"{}\"\nauth_user = \"postgres\"\nauth_query = \"SELECT rolname, rolpassword FROM pg_authid WHERE rolname = $1\"",
        list.display()
    );
    let proxy = Proxy::builder()
        .cache_with(
            "demo",
            common::proxy::Protocol::Postgres,
            origin.port,
            &lines,
        )
        .start()
        .await;
    let pw = password_for(USER);
    for _ in 0..2 {
        let client = proxy
            .try_connect("demo", &db, USER, Some(&pw))
            .await
            .unwrap();
        let row = client
            .query_one("SELECT current_user::text", &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), USER);
    }
    let wrong = proxy.try_connect("demo", &db, USER, Some("nope")).await;
    assert_eq!(code(&wrong.err().unwrap()), "28P01");
    let unknown = proxy.try_connect("demo", &db, "nobody", Some("x")).await;
    assert_eq!(code(&unknown.err().unwrap()), "28P01");
    // An MD5 hash cannot check a SCRAM login: refused as an unknown user.
    let md5 = proxy
        .try_connect("demo", &db, "md5_user", Some(&password_for("md5_user")))
        .await;
    assert_eq!(code(&md5.err().unwrap()), "28P01");
    // The user name reaches the query only as a quoted literal.
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(proxy.pg_addr().port())
        .dbname(&db)
        .user("demo-x' OR rolname = 'scram_user")
        .password(&pw);
    let hostile = config.connect(tokio_postgres::NoTls).await;
    assert_eq!(code(&hostile.err().unwrap()), "28P01");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client not yet logged in that announces a SASL message far larger than SCRAM's
/// is refused at once (PostgreSQL allows 65535 bytes), not waited for until the
/// login timeout while wirecache buffers up to 64 MiB of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_sasl_message_is_refused_before_login() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let origin = PgOrigin::shared();
    let db = origin.create_db("pooled_sasl_size");
    let proxy = pooled(origin, USER, "").await;
    let mut s = tokio::net::TcpStream::connect(proxy.pg_addr())
        .await
        .unwrap();
    let mut body = 196608i32.to_be_bytes().to_vec();
    for (k, v) in [("user", format!("demo-{USER}")), ("database", db.clone())] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut startup = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    startup.extend_from_slice(&body);
    s.write_all(&startup).await.unwrap();
    let mut head = [0u8; 9];
    s.read_exact(&mut head).await.unwrap();
    assert_eq!((head[0], &head[5..9]), (b'R', &10i32.to_be_bytes()[..]));
    // SASLInitialResponse announcing 1 MB, of which a little is sent.
    let mut p = vec![b'p'];
    p.extend_from_slice(&1_000_000i32.to_be_bytes());
    p.extend_from_slice(b"SCRAM-SHA-256\0");
    s.write_all(&p).await.unwrap();
    let mut rest = Vec::new();
    let closed =
        tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "still waiting for the 1 MB message");
}

/// auth_user's pooled connection keeps the startup parameters of a client that logged
/// in as auth_user, client_encoding among them. In SJIS, the UTF-8 of "\u{101}" (C4 81)
/// and the backslash that escapes a quote (5C) read as C4 and the pair 81 5C: an
/// `E'…\'…'` literal would end early and the rest of an unauthenticated client's user
/// name would run as SQL, as auth_user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_query_is_not_injectable_through_a_client_only_encoding() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("pooled_auth_sjis");
    let dir = common::test_dir("pooled-auth-sjis");
    let list = dir.join("userlist.txt");
    std::fs::write(&list, "\"postgres\" \"lookup-pw\"\n").unwrap();
    let lines = format!(
        "pool = \"session\"\nauth_file = \"{}\"\nauth_user = \"postgres\"\nauth_query = \"SELECT rolname, rolpassword FROM pg_authid WHERE rolname = $1\"\npool_size = 1",
        list.display()
    );
    let proxy = Proxy::builder()
        .cache_with(
            "demo",
            common::proxy::Protocol::Postgres,
            origin.port,
            &lines,
        )
        .start()
        .await;
    let port = proxy.pg_addr().port().to_string();
    let out = std::process::Command::new("psql")
        .args(["-X", "-A", "-t", "-h", "127.0.0.1", "-p", &port])
        .args([
            "-U",
            "demo-postgres",
            "-d",
            &db,
            "-c",
            "SHOW client_encoding",
        ])
        .env("PGPASSWORD", "lookup-pw")
        .env("PGCLIENTENCODING", "SJIS")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "SJIS");
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(proxy.pg_addr().port())
        .dbname(&db)
        .user("demo-\u{101}'; CREATE TABLE pwned_by_sjis (); --")
        .password("x");
    let hostile = config.connect(tokio_postgres::NoTls).await;
    assert_eq!(code(&hostile.err().unwrap()), "28P01");
    let made = origin.psql(&db, "SELECT to_regclass('pwned_by_sjis') IS NOT NULL");
    assert_eq!(made.trim(), "f", "the user name ran as SQL");
    let _ = std::fs::remove_dir_all(&dir);
}
