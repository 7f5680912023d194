//! TLS on both sides of a MariaDB session (design §6): the `mariadb` client and PyMySQL
//! with TLS to wirecache (verifying its certificate or not), `tls.client = "require"`,
//! and the origin's TLS modes against the private MariaDB, which serves TLS with its
//! own CA and has a user `ssl_only` that must come over TLS (`REQUIRE SSL`).

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
