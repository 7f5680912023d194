//! TLS on both sides of a MariaDB session (design §6): the `mariadb` client and PyMySQL
//! with TLS to wirecache (verifying its certificate or not), `tls.client = "require"`,
//! and the origin's TLS modes against the private MariaDB, which serves TLS with its
//! own CA and has a user `ssl_only` that must come over TLS (`REQUIRE SSL`). Client
//! libraries over TLS: PyMySQL (`ssl={'ca': …}`, name checked or not) and mysql_async
//! over rustls.

use crate::common;

use std::process::Command;

use common::mysql::{self, MyOrigin, ROOT_PASSWORD, ROOT_USER};
use common::proxy::Proxy;
use common::tls::Pki;

/// The `mariadb` client through the MariaDB listener as `demo-maria-<user>`, running
/// `sql` with extra `args`; (success, stdout, stderr).
async fn cli(
    proxy: &Proxy,
    user: &str,
    password: &str,
    args: &[&str],
    sql: &str,
) -> (bool, String, String) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-e", sql]);
    let name = format!("demo-maria-{user}");
    mysql::cli(proxy.mariadb_addr().port(), &name, password, &all).await
}

/// Whether the client's own connection to wirecache is encrypted, per `\s`.
fn client_leg_encrypted(status: &str) -> bool {
    status
        .lines()
        .find(|l| l.starts_with("SSL:"))
        .is_some_and(|l| l.contains("Cipher in use"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mariadb_client_with_and_without_tls_and_verification() {
    let origin = MyOrigin::shared();
    let db = origin.create_db("mytls");
    let pki = Pki::new();
    let proxy = Proxy::builder()
        .mysql_demo(origin.port)
        .toml(&pki.tls_table(""))
        .start()
        .await;
    let ca = format!("--ssl-ca={}", pki.file("ca.pem"));
    for (args, ok, encrypted) in [
        (vec!["--ssl"], true, true),
        (
            vec!["--ssl", ca.as_str(), "--ssl-verify-server-cert"],
            false,
            false,
        ),
        (vec!["--skip-ssl"], true, false),
    ] {
        let mut args = args.clone();
        args.push(&db);
        let (success, out, err) = cli(&proxy, ROOT_USER, ROOT_PASSWORD, &args, "\\s").await;
        assert_eq!(success, ok, "{args:?}: {out} {err}");
        if ok {
            assert_eq!(client_leg_encrypted(&out), encrypted, "{args:?}: {out}");
        }
    }
    // The certificate names localhost, and the client verifies it when told to.
    let mut cmd = Command::new("mariadb");
    cmd.args([
        "--no-defaults",
        "--protocol=TCP",
        "-h",
        "localhost",
        "-N",
        "-B",
    ])
    .arg(format!("--port={}", proxy.mariadb_addr().port()))
    .arg(format!("--user=demo-maria-{ROOT_USER}"))
    .arg(format!("--password={ROOT_PASSWORD}"))
    .args([
        "--ssl",
        &ca,
        "--ssl-verify-server-cert",
        "-e",
        "SELECT 7",
        &db,
    ]);
    let (ok, out, err) = mysql::run_blocking(cmd).await;
    assert!(ok && out == "7", "verified: {out} {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_refuses_plaintext_clients_with_error_3159() {
    let origin = MyOrigin::shared();
    let db = origin.create_db("myrequire");
    let pki = Pki::new();
    let proxy = Proxy::builder()
        .mysql_demo(origin.port)
        .toml(&pki.tls_table("client = \"require\""))
        .start()
        .await;
    let (ok, _, err) = cli(
        &proxy,
        ROOT_USER,
        ROOT_PASSWORD,
        &["--skip-ssl", &db],
        "SELECT 1",
    )
    .await;
    assert!(
        !ok && err.contains("3159") && err.contains("requires TLS"),
        "{err}"
    );
    let (ok, out, err) = cli(
        &proxy,
        ROOT_USER,
        ROOT_PASSWORD,
        &["--ssl", &db],
        "SELECT 1",
    )
    .await;
    assert!(ok && out == "1", "{out} {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymysql_over_tls_verifying_the_certificate() {
    let origin = MyOrigin::shared();
    let db = origin.create_db("mypy");
    let pki = Pki::new();
    let proxy = Proxy::builder()
        .mysql_demo(origin.port)
        .toml(&pki.tls_table(""))
        .start()
        .await;
    let script = format!(
        "import pymysql\n\
         c = pymysql.connect(host='localhost', port={port}, user='demo-maria-{ROOT_USER}', \
         password='{ROOT_PASSWORD}', database='{db}', ssl={{'ca': '{ca}'}})\n\
         cur = c.cursor(); cur.execute('SELECT 41 + 1'); print(cur.fetchone()[0])\n",
        port = proxy.mariadb_addr().port(),
        ca = pki.file("ca.pem"),
    );
    let mut cmd = Command::new("python3");
    cmd.args(["-c", &script]);
    let (ok, out, err) = mysql::run_blocking(cmd).await;
    assert!(ok && out == "42", "{out} {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_tls_modes_against_a_tls_origin() {
    let origin = MyOrigin::shared();
    let db = origin.create_db("myorigin");
    let ca = origin.ca_file().display().to_string();
    let ssl_pw = mysql::password_for("ssl_only");
    // (settings of the cache, whether ssl_only gets in, whether the origin sees TLS)
    for (settings, ssl_only, encrypted) in [
        ("tls = \"disable\"".to_string(), false, false),
        (String::new(), true, true),
        (
            format!("tls = \"verify-full\"\ntls_ca_file = \"{ca}\""),
            true,
            true,
        ),
        (
            format!(
                "tls = \"verify-ca\"\ntls_ca_file = \"{ca}\"\ntls_server_name = \"db.elsewhere\""
            ),
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
            .mysql_demo(origin.port)
            .cache_lines("demo-maria", &settings)
            .start()
            .await;
        let (ok, _, err) = cli(&proxy, "ssl_only", &ssl_pw, &[&db], "SELECT 1").await;
        assert_eq!(ok, ssl_only, "{settings}: {err}");
        let sql = "SHOW SESSION STATUS LIKE 'Ssl_cipher'";
        let (ok, out, err) = cli(&proxy, ROOT_USER, ROOT_PASSWORD, &[&db], sql).await;
        if ssl_only || !encrypted && settings.contains("disable") {
            assert!(ok, "{settings}: {err}");
            let cipher = out
                .split('\t')
                .nth(1)
                .unwrap_or_default()
                .trim()
                .to_string();
            assert_eq!(!cipher.is_empty(), encrypted, "{settings}: {out}");
        } else {
            assert!(!ok && err.contains("TLS to origin"), "{settings}: {err}");
        }
    }
}

// ---------------------------------------------------------------------------------
// Client libraries over TLS (issue 12). wirecache runs with `tls.client = "require"`:
// it refuses (error 3159) any login that did not switch to TLS after the greeting,
// so a session that logs in is encrypted on the client leg; `SHOW SESSION STATUS
// LIKE 'Ssl_cipher'` would describe the origin leg instead. PyMySQL reports its own
// socket (an `ssl.SSLSocket`, the server's certificate); mysql_async does not expose
// it, so it proves the handshake by verification: the test's CA and `localhost`
// pass, another CA or another name fail. The repeated reads must be cache hits.

/// A database with a table `kv` (id 1..100, v = 'v<id>') on the shared MariaDB, and
/// wirecache in front of it presenting the test's certificate to TLS clients only.
async fn tls_only_proxy(prefix: &str) -> (String, Pki, Proxy) {
    let origin = MyOrigin::shared();
    let db = origin.create_db(prefix);
    let rows: Vec<String> = (1..=100).map(|i| format!("({i}, 'v{i}')")).collect();
    origin.sql(
        &db,
        &format!(
            "CREATE TABLE kv (id int PRIMARY KEY, v varchar(20)); INSERT INTO kv VALUES {};",
            rows.join(",")
        ),
    );
    let pki = Pki::new();
    let proxy = Proxy::builder()
        .mysql_demo(origin.port)
        .toml(&pki.tls_table("client = \"require\""))
        .start()
        .await;
    (db, pki, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymysql_with_ssl_ca_verifies_the_name_and_hits_the_cache() {
    let (db, pki, proxy) = tls_only_proxy("mypytls").await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/pymysql_tls.py");
    let ca = pki.file("ca.pem");
    let (my, maria) = (proxy.mysql_addr().port(), proxy.mariadb_addr().port());
    // (listener, cache, host, verification, key, whether it connects)
    for (port, cache, host, mode, key, ok) in [
        (my, "demo", "localhost", "verify-full", 1, true),
        (maria, "demo-maria", "localhost", "verify-full", 2, true),
        // The certificate names localhost only: the chain alone passes, the name not.
        (my, "demo", "127.0.0.1", "verify-ca", 3, true),
        (my, "demo", "127.0.0.1", "verify-full", 4, false),
    ] {
        let hits = proxy.hits_of(cache).await;
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .arg(host)
            .arg(port.to_string())
            .arg(format!("{cache}-{ROOT_USER}"))
            .args([ROOT_PASSWORD, &db, &ca, mode, &key.to_string()]);
        let (success, out, err) = mysql::run_blocking(cmd).await;
        assert_eq!(success, ok, "{cache} {host} {mode}: {out} {err}");
        if !ok {
            assert!(
                err.contains("CERTIFICATE_VERIFY_FAILED") && err.contains("127.0.0.1"),
                "{err}"
            );
            continue;
        }
        let r: serde_json::Value = serde_json::from_str(out.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(r["tls"], true, "{out}");
        assert!(
            r["protocol"]
                .as_str()
                .unwrap_or_default()
                .starts_with("TLSv1."),
            "{out}"
        );
        assert_eq!(r["peer"], "localhost", "{out}");
        assert_eq!(r["issuer"], "wirecache test CA", "{out}");
        assert!(
            proxy.hits_of(cache).await >= hits + 2.0,
            "{cache}: the repeated reads were not cache hits"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_async_over_rustls_verifying_the_certificate() {
    use mysql_async::prelude::Queryable;
    let (db, pki, proxy) = tls_only_proxy("myasynctls").await;
    let other = Pki::new();
    let opts = |host: &str, ca: &Pki| {
        let ssl =
            mysql_async::SslOpts::default().with_root_certs(vec![ca.dir.join("ca.pem").into()]);
        mysql_async::OptsBuilder::default()
            .ip_or_hostname(host)
            .tcp_port(proxy.mysql_addr().port())
            .user(Some(format!("demo-{ROOT_USER}")))
            .pass(Some(ROOT_PASSWORD))
            .db_name(Some(db.clone()))
            .prefer_socket(false)
            .ssl_opts(ssl)
    };
    let mut conn = mysql_async::Conn::new(opts("localhost", &pki))
        .await
        .expect("connect over TLS");
    let hits = proxy.hits().await;
    for _ in 0..3 {
        let v: Option<String> = conn
            .exec_first("SELECT v FROM kv WHERE id = ?", (31,))
            .await
            .unwrap();
        assert_eq!(v.as_deref(), Some("v31"));
        let v: Option<String> = conn
            .query_first("SELECT v FROM kv WHERE id = 32")
            .await
            .unwrap();
        assert_eq!(v.as_deref(), Some("v32"));
    }
    assert!(proxy.hits().await >= hits + 4.0, "no cache hits");
    conn.disconnect().await.unwrap();
    // A certificate from another CA (of the same name: a bad signature), or for
    // another name, is refused by the client.
    for (host, ca, why) in [
        ("localhost", &other, "InvalidCertificate(BadSignature)"),
        ("127.0.0.1", &pki, "InvalidCertificate(NotValidForName"),
    ] {
        let Err(e) = mysql_async::Conn::new(opts(host, ca)).await else {
            panic!("{host}: an unverifiable certificate was accepted");
        };
        assert!(format!("{e:?}").contains(why), "{host}: {e:?}");
    }
    // Without TLS, wirecache refuses the login.
    let plain = opts("localhost", &pki).ssl_opts(None::<mysql_async::SslOpts>);
    let Err(e) = mysql_async::Conn::new(plain).await else {
        panic!("a plaintext login got in");
    };
    assert!(format!("{e}").contains("requires TLS"), "{e:?}");
}
