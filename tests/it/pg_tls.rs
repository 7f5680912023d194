//! TLS on both sides of a PostgreSQL session (design §6): clients upgrading with
//! SSLRequest (psql at sslmode=require, verify-ca, verify-full) or starting TLS
//! directly (PostgreSQL 17's sslnegotiation=direct, raw), `tls.client = "require"`,
//! passwords wirecache must see in clear only over TLS, and the origin's TLS modes
//! against the private cluster (which serves TLS and admits `ssl_only` over TLS only).
//! Client libraries over TLS: psycopg2 and psycopg 3 (require, verify-ca, verify-full),
//! pgJDBC (verify-full), tokio-postgres over rustls, node-postgres (`ssl: { ca }`).
//! The tests make their own CA and certificates.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::PgOrigin;
use common::pg::password_for;
use common::proxy::Proxy;
use common::tls::Pki;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs psql with a libpq connection string and `-c sql`; (success, stdout, stderr).
async fn psql(
    conninfo: String,
    sql: &'static str,
    password: Option<String>,
) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let bin = Path::new(
            &std::env::var("WIRECACHE_PG_BIN").unwrap_or("/usr/lib/postgresql/15/bin".into()),
        )
        .join("psql");
        let mut cmd = Command::new(bin);
        cmd.args(["-X", "-A", "-t", "-c", sql, &conninfo])
            .env_clear();
        if let Some(pw) = password {
            cmd.env("PGPASSWORD", pw);
        }
        let out = cmd.output().expect("run psql");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        )
    })
    .await
    .unwrap()
}

fn conninfo(host: &str, proxy: &Proxy, db: &str, user: &str, ssl: &str) -> String {
    format!(
        "host={host} port={} dbname={db} user=demo-{user} {ssl}",
        proxy.pg_addr().port()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_connects_with_every_sslmode_that_verifies_what_it_should() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("tlsmodes");
    let pki = Pki::new();
    let proxy = Proxy::builder()
        .postgres_demo(origin.port)
        .toml(&pki.tls_table(""))
        .start()
        .await;
    let ca = pki.file("ca.pem");
    for (host, ssl, ok) in [
        ("localhost", "sslmode=require".to_string(), true),
        (
            "127.0.0.1",
            format!("sslmode=verify-ca sslrootcert={ca}"),
            true,
        ),
        (
            "localhost",
            format!("sslmode=verify-full sslrootcert={ca}"),
            true,
        ),
        // The certificate names localhost only.
        (
            "127.0.0.1",
            format!("sslmode=verify-full sslrootcert={ca}"),
            false,
        ),
        ("localhost", "sslmode=disable".to_string(), true),
    ] {
        let (success, out, err) = psql(
            conninfo(host, &proxy, &db, "postgres", &ssl),
            "\\conninfo",
            None,
        )
        .await;
        assert_eq!(success, ok, "{host} {ssl}: {out} {err}");
        if ok {
            let encrypted = out.contains("SSL connection");
            assert_eq!(encrypted, !ssl.contains("disable"), "{host} {ssl}: {out}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_refuses_plaintext_clients_with_the_reason() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("tlsrequire");
    let pki = Pki::new();
    let tls = pki.tls_table("client = \"require\"");
    let proxy = Proxy::builder()
        .postgres_demo(origin.port)
        .toml(&tls)
        .start()
        .await;
    let (ok, _, err) = psql(
        conninfo("localhost", &proxy, &db, "postgres", "sslmode=disable"),
        "SELECT 1",
        None,
    )
    .await;
    assert!(!ok);
    assert!(err.contains("requires TLS"), "{err}");
    let (ok, out, err) = psql(
        conninfo("localhost", &proxy, &db, "postgres", "sslmode=require"),
        "SELECT 1",
        None,
    )
    .await;
    assert!(ok && out == "1", "{out} {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleartext_and_md5_passwords_are_accepted_over_tls() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("tlspw");
    origin.psql(&db, "GRANT ALL ON SCHEMA public TO pw_user, md5_user;");
    let pki = Pki::new();
    let proxy = Proxy::builder()
        .postgres_demo(origin.port)
        .toml(&pki.tls_table(""))
        .start()
        .await;
    for role in ["pw_user", "md5_user", "scram_user"] {
        // Channel binding cannot pass through wirecache (both legs are TLS here).
        let ssl = "sslmode=require channel_binding=disable";
        let info = conninfo("localhost", &proxy, &db, role, ssl);
        let (ok, out, err) = psql(info, "SELECT current_user", Some(password_for(role))).await;
        assert!(ok && out == role, "{role}: {out} {err}");
        let plain = conninfo("localhost", &proxy, &db, role, "sslmode=disable");
        let (ok, _, err) = psql(plain, "SELECT 1", Some(password_for(role))).await;
        assert_eq!(ok, role == "scram_user", "{role} over plaintext: {err}");
    }
    // libpq's default channel_binding=prefer over TLS to a TLS origin gets a clear refusal.
    let info = conninfo("localhost", &proxy, &db, "scram_user", "sslmode=require");
    let (ok, _, err) = psql(info, "SELECT 1", Some(password_for("scram_user"))).await;
    assert!(!ok && err.contains("channel_binding=disable"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_tls_start_is_served() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("tlsdirect");
    let pki = Pki::new();
    let proxy = Proxy::builder()
        .postgres_demo(origin.port)
        .toml(&pki.tls_table(""))
        .start()
        .await;
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(pki.dir.join("ca.pem")).unwrap();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(proxy.pg_addr())
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"postgresql"[..]));
    let mut body = Vec::new();
    body.extend_from_slice(&196_608i32.to_be_bytes());
    for s in ["user", "demo-postgres", "database", db.as_str()] {
        body.extend_from_slice(s.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut startup = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    startup.extend_from_slice(&body);
    tls.write_all(&startup).await.unwrap();
    tls.flush().await.unwrap();
    // AuthenticationOk comes first, then parameters, then ReadyForQuery ('Z').
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.contains(&b'Z') {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), tls.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed");
        seen.extend_from_slice(&buf[..n]);
    }
    assert_eq!(seen.first(), Some(&b'R'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_tls_modes_against_a_tls_origin() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("tlsorigin");
    let ca = origin.ca_file().display().to_string();
    let no_tls = "[tls]\nclient = \"off\"";
    // (tls settings of the cache, whether ssl_only gets in, whether the origin sees TLS)
    for (settings, ssl_only, encrypted) in [
        ("tls = \"disable\"".to_string(), false, false),
        ("".to_string(), true, true),
        ("tls = \"require\"".to_string(), true, true),
        (
            format!("tls = \"verify-ca\"\ntls_ca_file = \"{ca}\""),
            true,
            true,
        ),
        (
            format!("tls = \"verify-full\"\ntls_ca_file = \"{ca}\""),
            true,
            true,
        ),
        (
            format!(
                "tls = \"verify-full\"\ntls_ca_file = \"{ca}\"\ntls_server_name = \"db.elsewhere\""
            ),
            false,
            false,
        ),
    ] {
        let proxy = Proxy::builder()
            .postgres_demo(origin.port)
            .cache_lines("demo", &settings)
            .toml(no_tls)
            .start()
            .await;
        let who = proxy.try_connect("demo", &db, "ssl_only", None).await;
        assert_eq!(who.is_ok(), ssl_only, "{settings}: {:?}", who.err());
        let c = proxy.try_connect("demo", &db, "postgres", None).await;
        match c {
            Ok(c) => {
                let row = c
                    .query_one(
                        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                        &[],
                    )
                    .await
                    .unwrap();
                let ssl: bool = row.get(0);
                assert_eq!(ssl, encrypted, "{settings}");
            }
            Err(e) => {
                assert!(!encrypted && !ssl_only, "{settings}: {e:?}");
                let message = e
                    .as_db_error()
                    .map(|d| d.message().to_string())
                    .unwrap_or_default();
                assert!(message.contains("TLS to origin"), "{settings}: {message}");
            }
        }
    }
}

/// A certificate rotated on disk is presented after SIGHUP, without a restart (the
/// real binary: the signal goes to it alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_a_rotated_certificate() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("tlsreload");
    let (old, new) = (Pki::new(), Pki::new());
    let dir = common::test_dir("tlsrotate");
    let (chain, key) = (dir.join("chain.pem"), dir.join("key.pem"));
    std::fs::copy(old.dir.join("wc.pem"), &chain).unwrap();
    std::fs::copy(old.dir.join("wc.key"), &key).unwrap();
    let (port, admin) = (common::free_port(), common::free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_wirecache"))
        .env_remove("WIRECACHE_CONFIG")
        .env("WIRECACHE_LISTEN_POSTGRES", format!("127.0.0.1:{port}"))
        .env("WIRECACHE_LISTEN_ADMIN", format!("127.0.0.1:{admin}"))
        .env("WIRECACHE_CACHES_0_ID", "demo")
        .env("WIRECACHE_CACHES_0_PROTOCOL", "postgres")
        .env(
            "WIRECACHE_CACHES_0_ORIGIN",
            format!("127.0.0.1:{}", origin.port),
        )
        .env("WIRECACHE_TLS_CERT_FILE", &chain)
        .env("WIRECACHE_TLS_KEY_FILE", &key)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let verified_by = |pki: &Pki| {
        format!(
            "host=localhost port={port} dbname={db} user=demo-postgres sslmode=verify-full sslrootcert={}",
            pki.file("ca.pem")
        )
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "wirecache did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(psql(verified_by(&old), "SELECT 1", None).await.0);
    assert!(!psql(verified_by(&new), "SELECT 1", None).await.0);
    std::fs::copy(new.dir.join("wc.pem"), &chain).unwrap();
    std::fs::copy(new.dir.join("wc.key"), &key).unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: sends a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !psql(verified_by(&new), "SELECT 1", None).await.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the new certificate was never presented"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!psql(verified_by(&old), "SELECT 1", None).await.0);
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("TLS certificate reloaded") && log.contains("SIGHUP"),
        "{log}"
    );
}

/// An origin that accepts the connection but never answers the SSLRequest fails the
/// login with a reason after the connect deadline (10 s), instead of hanging it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_origin_fails_the_login_instead_of_hanging_it() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            kept.push(s);
        }
    });
    let proxy = Proxy::builder()
        .postgres_demo(port)
        .cache_lines("demo", "tls = \"require\"")
        .toml("[tls]\nclient = \"off\"")
        .start()
        .await;
    let started = std::time::Instant::now();
    let login = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        proxy.try_connect("demo", "db", "postgres", None),
    )
    .await
    .expect("the login hung");
    let Err(err) = login else {
        panic!("a silent origin let the login through");
    };
    let message = err
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(message.contains("no answer to the SSLRequest"), "{message}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(9));
    held.abort();
}

// ---------------------------------------------------------------------------------
// Client libraries over TLS (issue 12). wirecache runs with `tls.client = "require"`,
// so it refuses any session that did not upgrade to TLS before the startup message:
// a session that logs in at all is encrypted on the client leg (wirecache's own
// view). Each driver also reports its own socket (libpq's PQsslInUse and cipher,
// pgJDBC's SSLSession, Node's TLSSocket, rustls' negotiated suite and the server's
// certificate) and verifies wirecache's certificate against the test's CA, so the
// TLS peer is wirecache itself. Each reads a row three times: the repeats must be
// cache hits in `/metrics`.

fn clients_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// A database with a table `kv` (id 1..100, v = 'v<id>') on the shared origin, and
/// wirecache in front of it presenting the test's certificate to TLS clients only.
async fn tls_only_proxy(prefix: &str) -> (String, Pki, Proxy) {
    let origin = PgOrigin::shared();
    let db = origin.create_db(prefix);
    origin.psql(
        &db,
        "CREATE TABLE kv (id int PRIMARY KEY, v text);
         INSERT INTO kv SELECT g, 'v' || g FROM generate_series(1, 100) g;",
    );
    let pki = Pki::new();
    let proxy = Proxy::builder()
        .postgres_demo(origin.port)
        .toml(&pki.tls_table("client = \"require\""))
        .start()
        .await;
    (db, pki, proxy)
}

/// Runs a client program; (success, stdout, stderr).
async fn client(mut cmd: Command) -> (bool, String, String) {
    cmd.env_remove("PGSSLMODE")
        .env_remove("PGSSLROOTCERT")
        .env_remove("PGHOST");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("run the client");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

/// The last line of a client's stdout as JSON.
fn report(out: &str) -> serde_json::Value {
    let line = out.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg2_and_psycopg3_with_require_verify_ca_and_verify_full() {
    let (db, pki, proxy) = tls_only_proxy("tlspsycopg").await;
    let ca = pki.file("ca.pem");
    let script = clients_dir().join("psycopg_tls.py");
    let port = proxy.pg_addr().port();
    let mut key = 0;
    for driver in ["psycopg2", "psycopg"] {
        for (host, ssl, ok) in [
            ("localhost", "sslmode=require".to_string(), true),
            // verify-ca checks the chain, not the name: 127.0.0.1 is not in it.
            (
                "127.0.0.1",
                format!("sslmode=verify-ca sslrootcert={ca}"),
                true,
            ),
            (
                "localhost",
                format!("sslmode=verify-full sslrootcert={ca}"),
                true,
            ),
            (
                "127.0.0.1",
                format!("sslmode=verify-full sslrootcert={ca}"),
                false,
            ),
        ] {
            key += 1;
            let dsn = format!("host={host} port={port} dbname={db} user=demo-postgres {ssl}");
            let hits = proxy.hits().await;
            let mut cmd = Command::new("python3");
            cmd.arg(&script).arg(driver).arg(&dsn).arg(key.to_string());
            let (success, out, err) = client(cmd).await;
            assert_eq!(success, ok, "{driver} {dsn}: {out} {err}");
            if !ok {
                assert!(
                    err.contains("does not match host name \"127.0.0.1\""),
                    "{driver} {dsn}: {err}"
                );
                continue;
            }
            let r = report(&out);
            assert_eq!(r["ssl_in_use"], true, "{driver} {dsn}: {out}");
            assert_eq!(r["v"], format!("v{key}"), "{driver}: {out}");
            if driver == "psycopg2" {
                let protocol = r["protocol"].as_str().unwrap_or_default();
                assert!(protocol.starts_with("TLSv1."), "{out}");
                assert!(
                    !r["cipher"].as_str().unwrap_or_default().is_empty(),
                    "{out}"
                );
            }
            assert!(
                proxy.hits().await >= hits + 2.0,
                "{driver} {dsn}: the repeated reads were not cache hits"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_with_ssl_verify_full_and_sslrootcert() {
    let (db, pki, proxy) = tls_only_proxy("tlsjdbc").await;
    let ca = pki.file("ca.pem");
    let port = proxy.pg_addr().port();
    let jar = "/usr/share/java/postgresql.jar";
    let classes = common::test_dir("jdbctls");
    let mut javac = Command::new("javac");
    javac
        .args(["-cp", jar, "-d"])
        .arg(&classes)
        .arg(clients_dir().join("jdbc/TlsCheck.java"));
    let (ok, out, err) = client(javac).await;
    assert!(ok, "javac: {out} {err}");
    let cp = format!("{jar}:{}", classes.display());
    for (host, key, ok) in [("localhost", 7, true), ("127.0.0.1", 8, false)] {
        let url = format!(
            "jdbc:postgresql://{host}:{port}/{db}?ssl=true&sslmode=verify-full&sslrootcert={ca}"
        );
        let hits = proxy.hits().await;
        let mut java = Command::new("java");
        java.args([
            "-cp",
            &cp,
            "TlsCheck",
            &url,
            "demo-postgres",
            &key.to_string(),
        ]);
        let (success, out, err) = client(java).await;
        assert_eq!(success, ok, "{url}: {out} {err}");
        if !ok {
            assert!(
                err.contains("could not be verified") && err.contains("127.0.0.1"),
                "{url}: {err}"
            );
            continue;
        }
        assert!(out.contains("jdbc tls ok"), "{out}");
        let tls = out.lines().find(|l| l.starts_with("tls ")).unwrap_or("");
        assert!(tls.starts_with("tls TLSv1."), "{out}");
        assert!(
            out.contains("peer CN=localhost; issuer CN=wirecache test CA"),
            "{out}"
        );
        assert!(proxy.hits().await >= hits + 2.0, "{url}: no cache hits");
    }
    let _ = std::fs::remove_dir_all(&classes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_over_rustls_verifying_the_certificate() {
    let (db, pki, proxy) = tls_only_proxy("tlstokio").await;
    let port = proxy.pg_addr().port();
    let tls = pki.pg_connector();
    let info = |host: &str| {
        format!("host={host} port={port} dbname={db} user=demo-postgres sslmode=require")
    };
    let (client, conn) = tokio_postgres::connect(&info("localhost"), tls.clone())
        .await
        .expect("connect over TLS");
    let conn = tokio::spawn(conn);
    {
        let seen = common::lock(&tls.seen);
        assert_eq!(seen.len(), 1, "one handshake");
        assert!(seen[0].version.starts_with("TLSv1_"), "{:?}", seen[0]);
        assert_eq!(seen[0].peer_cert, pki.server_cert_der(), "not wirecache's");
    }
    let hits = proxy.hits().await;
    let stmt = client
        .prepare("SELECT v FROM kv WHERE id = $1")
        .await
        .unwrap();
    for _ in 0..3 {
        let row = client.query_one(&stmt, &[&11i32]).await.unwrap();
        assert_eq!(row.get::<_, String>(0), "v11");
    }
    let rows = client
        .simple_query("SELECT v FROM kv WHERE id = 12")
        .await
        .unwrap();
    assert!(!rows.is_empty());
    assert!(proxy.hits().await >= hits + 2.0, "no cache hits");
    drop(client);
    let _ = conn.await;
    // The certificate names localhost, not 127.0.0.1: rustls refuses the handshake.
    let Err(e) = tokio_postgres::connect(&info("127.0.0.1"), tls.clone()).await else {
        panic!("a certificate for another name was accepted");
    };
    let chain = format!("{e:?}");
    assert!(chain.contains("NotValidForName"), "{chain}");
    // Without TLS, wirecache refuses the session.
    let plain = info("localhost").replace("sslmode=require", "sslmode=disable");
    let Err(e) = tokio_postgres::connect(&plain, tokio_postgres::NoTls).await else {
        panic!("a plaintext session got in");
    };
    let message = e.as_db_error().map(|d| d.message().to_string());
    assert!(
        message
            .as_deref()
            .unwrap_or_default()
            .contains("requires TLS"),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_postgres_with_ssl_ca() {
    let (db, pki, proxy) = tls_only_proxy("tlsnode").await;
    let dir = clients_dir().join("node");
    let port = proxy.pg_addr().port().to_string();
    let ca = pki.file("ca.pem");
    // (host, ssl.servername, key, whether it connects); node-postgres uses
    // ssl.servername only when the host is an IP address.
    for (host, servername, key, ok) in [
        ("localhost", "", 21, true),
        ("127.0.0.1", "db.elsewhere", 22, false),
        ("127.0.0.1", "", 23, true),
    ] {
        let hits = proxy.hits().await;
        let mut cmd = Command::new("node");
        cmd.arg(dir.join("tls_check.js"))
            .args([host, &port, &db, "demo-postgres", &ca, &key.to_string()])
            .current_dir(&dir);
        if !servername.is_empty() {
            cmd.arg(servername);
        }
        let (success, out, err) = client(cmd).await;
        assert_eq!(success, ok, "{host} {servername}: {out} {err}");
        if !ok {
            assert!(err.contains("db.elsewhere"), "{host} {servername}: {err}");
            continue;
        }
        let r = report(&out);
        assert_eq!(r["encrypted"], true, "{out}");
        assert_eq!(r["authorized"], true, "{out}");
        assert!(
            r["protocol"]
                .as_str()
                .unwrap_or_default()
                .starts_with("TLSv1."),
            "{out}"
        );
        assert_eq!(r["peer"], "localhost", "{out}");
        assert_eq!(r["issuer"], "wirecache test CA", "{out}");
        // node-postgres gives Node no name for an IP host, and Node then checks the
        // certificate against "localhost": with an IP, set `ssl.servername`.
        assert_eq!(r["checked"], "localhost", "{host}: {out}");
        assert!(proxy.hits().await >= hits + 2.0, "{host}: no cache hits");
    }
}
