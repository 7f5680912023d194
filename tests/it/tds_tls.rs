//! TLS inside PRELOGIN through wirecache, both legs (design §6): FreeTDS's `tsql`,
//! pymssql and python-tds as TLS clients (full and login-only encryption), the test
//! origin as a TLS server set up as SQL Server can be (no certificate, encryption
//! available, encryption forced), each cache TLS mode against it, and a client that
//! needs what wirecache does not offer. The origin's record of each connection's
//! encryption proves the origin leg; `tls.client = "require"` proves the client leg.
//! tiberius is a TLS client too, through native-tls (the system's OpenSSL).

use std::path::Path;
use std::process::Command;

use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::TokioAsyncWriteCompatExt;

use crate::common::PgOrigin;
use crate::common::mysql::run_blocking;
use crate::common::pg::password_for;
use crate::common::proxy::{Protocol, Proxy};
use crate::common::tds_origin::{TdsOrigin, USER, database};
use crate::common::tds_origin_tls::{OriginEncryption, OriginTls, Seen};
use crate::common::tls::Pki;

/// The test origin set up as `setting` (with `pki`'s certificate) and wirecache in
/// front of it as cache `sq` with `cache_lines`, presenting `pki`'s certificate to
/// clients under `client` (`tls.client`).
async fn start(
    pki: &Pki,
    setting: OriginEncryption,
    cache_lines: &str,
    client: &str,
) -> (TdsOrigin, Proxy) {
    let tls = match setting {
        OriginEncryption::NotSupported => OriginTls::plain(),
        other => OriginTls::new(other, pki),
    };
    let origin = TdsOrigin::start_tls(PgOrigin::shared().port, tls).await;
    let proxy = Proxy::builder()
        .cache_with("sq", Protocol::MsSql, origin.port(), cache_lines)
        .toml(&pki.tls_table(&format!("client = \"{client}\"")))
        .start()
        .await;
    (origin, proxy)
}

/// tiberius without TLS (ENCRYPT_NOT_SUP) logs in and reads; the error otherwise.
async fn tiberius_read(port: u16, db: &str) -> Result<usize, String> {
    tiberius_read_with(port, db, EncryptionLevel::NotSupported, None).await
}

/// tiberius asking for `level` (`Required`: TLS throughout; `Off`: the login only),
/// checking wirecache's certificate for `localhost` against the CA file `ca`, or
/// trusting any certificate without one; logs in and reads.
async fn tiberius_read_with(
    port: u16,
    db: &str,
    level: EncryptionLevel,
    ca: Option<&str>,
) -> Result<usize, String> {
    let mut config = Config::new();
    config.host("localhost");
    config.port(port);
    config.database(db);
    config.authentication(AuthMethod::sql_server(
        format!("sq-{USER}"),
        password_for(USER),
    ));
    config.encryption(level);
    match ca {
        Some(ca) => config.trust_cert_ca(ca),
        None => config.trust_cert(),
    }
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut c = Client::connect(config, tcp.compat_write())
        .await
        .map_err(|e| e.to_string())?;
    let rows = c
        .simple_query("SELECT id, name FROM t WHERE id < 3")
        .await
        .map_err(|e| e.to_string())?
        .into_first_result()
        .await
        .map_err(|e| e.to_string())?;
    Ok(rows.len())
}

/// FreeTDS's `tsql` with `encryption` (freetds.conf: `require` asks for TLS on
/// everything, `request` for the login at least), checking the certificate against
/// `ca` when given; reads twice and writes once. Its output, and whether it succeeded.
async fn tsql(port: u16, db: &str, encryption: &str, ca: Option<&str>) -> (bool, String) {
    tsql_as(port, db, encryption, ca, &password_for(USER)).await
}

async fn tsql_as(
    port: u16,
    db: &str,
    encryption: &str,
    ca: Option<&str>,
    password: &str,
) -> (bool, String) {
    let dir = crate::common::test_dir("freetds");
    let ca_line = ca.map_or(String::new(), |ca| format!("\tca file = {ca}\n"));
    let conf = format!(
        "[wc]\n\thost = localhost\n\tport = {port}\n\ttds version = 7.4\n\tencryption = {encryption}\n{ca_line}"
    );
    std::fs::write(dir.join("freetds.conf"), conf).unwrap();
    let script = "SELECT id, name FROM t WHERE id = 2\ngo\nSELECT id, name FROM t WHERE id = 2\ngo\n\
                  UPDATE t SET name = 'zwei' WHERE id = 2\ngo\nSELECT id, name FROM t WHERE id = 2\ngo\nexit\n";
    std::fs::write(dir.join("script.sql"), script).unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "FREETDSCONF='{}' tsql -S wc -U 'sq-{USER}' -P '{}' -D '{db}' < '{}'",
        dir.join("freetds.conf").display(),
        password,
        dir.join("script.sql").display()
    ));
    let (ok, out, err) = run_blocking(cmd).await;
    let out = format!("{out}\n{err}");
    (ok && out.contains("zwei"), out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tsql_full_tls_to_wirecache_and_to_the_origin() {
    let db = database();
    let pki = Pki::new();
    // TLS required of clients: a client that did not encrypt would be refused.
    let ca = pki.file("ca.pem");
    let lines =
        format!("tls = \"verify-full\"\ntls_ca_file = \"{ca}\"\ntls_server_name = \"localhost\"");
    let (origin, proxy) = start(&pki, OriginEncryption::Off, &lines, "require").await;
    let port = proxy.addr(Protocol::MsSql).port();
    let (ok, out) = tsql(port, &db, "require", Some(&ca)).await;
    assert!(ok, "{out}");
    assert_eq!(out.matches("two").count(), 2, "{out}");
    assert_eq!(origin.selects(), 2, "the repeated read was a hit:\n{out}");
    assert_eq!(origin.tls.seen(), vec![Seen::Full]);
    let refused = tiberius_read(port, &db).await;
    assert!(refused.is_err(), "a client without TLS is refused");
    // A certificate from another CA is refused by a client that checks it.
    let other = Pki::new();
    let (ok, out) = tsql(port, &db, "require", Some(&other.file("ca.pem"))).await;
    assert!(!ok, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tsql_login_only_tls_with_a_plaintext_origin() {
    let db = database();
    let pki = Pki::new();
    let (origin, proxy) = start(&pki, OriginEncryption::NotSupported, "", "allow").await;
    let port = proxy.addr(Protocol::MsSql).port();
    let (ok, out) = tsql(port, &db, "request", None).await;
    assert!(ok, "{out}");
    assert_eq!(out.matches("two").count(), 2, "{out}");
    assert_eq!(origin.selects(), 2, "{out}");
    assert_eq!(origin.tls.seen(), vec![Seen::None]);
}

/// A Python driver (tests/clients/tds_tls_check.py) in `mode` through wirecache to an
/// origin that offers encryption.
async fn python(driver: &str, mode: &str) {
    let db = database();
    let pki = Pki::new();
    let conf = crate::common::test_dir("freetds").join("freetds.conf");
    let (origin, proxy) = start(&pki, OriginEncryption::Off, "tls = \"require\"", "allow").await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/tds_tls_check.py");
    let port = proxy.addr(Protocol::MsSql).port().to_string();
    let ca = pki.file("ca.pem");
    let strict = format!(
        "[wc]\n\thost = localhost\n\tport = {port}\n\ttds version = 7.4\n\tencryption = strict\n\tca file = {ca}\n"
    );
    std::fs::write(&conf, strict).unwrap();
    let mut cmd = Command::new("python3");
    cmd.env("FREETDSCONF", &conf);
    cmd.arg(&script).args([
        driver,
        mode,
        "localhost",
        &port,
        &format!("sq-{USER}"),
        &password_for(USER),
        &db,
        &pki.file("ca.pem"),
    ]);
    let (ok, out, err) = run_blocking(cmd).await;
    assert!(ok && out.ends_with("ok"), "{driver} {mode}:\n{out}\n{err}");
    assert_eq!(
        origin.selects(),
        2,
        "{driver} {mode}: two of the three reads were hits"
    );
    assert_eq!(origin.tls.seen(), vec![Seen::Full]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiberius_full_and_login_only_tls() {
    let db = database();
    let pki = Pki::new();
    let ca = pki.file("ca.pem");
    let (origin, proxy) = start(&pki, OriginEncryption::Off, "tls = \"require\"", "allow").await;
    let port = proxy.addr(Protocol::MsSql).port();
    // TLS throughout, the certificate checked: the second read is a hit.
    for _ in 0..2 {
        let rows = tiberius_read_with(port, &db, EncryptionLevel::Required, Some(&ca)).await;
        assert_eq!(rows, Ok(2));
    }
    assert_eq!(origin.selects(), 1, "the repeated read was a hit");
    // The login only encrypted (ENCRYPT_OFF), then plaintext: a hit as well.
    let rows = tiberius_read_with(port, &db, EncryptionLevel::Off, None).await;
    assert_eq!(rows, Ok(2));
    assert_eq!(origin.selects(), 1);
    // The origin leg is TLS throughout for every session (tls = "require").
    assert_eq!(origin.tls.seen(), vec![Seen::Full; 3]);
    // A certificate from another CA is refused.
    let other = Pki::new();
    let refused = tiberius_read_with(
        port,
        &db,
        EncryptionLevel::Required,
        Some(&other.file("ca.pem")),
    )
    .await;
    assert!(refused.is_err(), "another CA's check passed: {refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tds_full_tls_checking_the_certificate() {
    python("pytds", "full").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tds_login_only_tls() {
    python("pytds", "login").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymssql_full_tls() {
    python("pymssql", "full").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymssql_tds_8_strict_checking_the_certificate() {
    python("pymssql", "strict").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_origin_tls_mode_against_each_origin_setting() {
    let db = database();
    let pki = Pki::new();
    let ca = pki.file("ca.pem");
    let wrong_ca = Pki::new().file("ca.pem");
    use OriginEncryption::{NotSupported as NoCert, Off, Required};
    // (origin setting, cache TLS lines, logs in, what the origin saw)
    let cases: Vec<(OriginEncryption, String, bool, Seen)> = vec![
        (Off, String::new(), true, Seen::LoginOnly),
        (Off, "tls = \"disable\"".into(), true, Seen::None),
        (Off, "tls = \"require\"".into(), true, Seen::Full),
        (Required, String::new(), true, Seen::Full),
        (Required, "tls = \"disable\"".into(), false, Seen::Refused),
        (NoCert, String::new(), true, Seen::None),
        (NoCert, "tls = \"require\"".into(), false, Seen::None),
        (
            Off,
            format!("tls = \"verify-ca\"\ntls_ca_file = \"{ca}\""),
            true,
            Seen::Full,
        ),
        (
            Off,
            format!(
                "tls = \"verify-full\"\ntls_ca_file = \"{ca}\"\ntls_server_name = \"localhost\""
            ),
            true,
            Seen::Full,
        ),
        // The certificate is for localhost, not 127.0.0.1.
        (
            Off,
            format!("tls = \"verify-full\"\ntls_ca_file = \"{ca}\""),
            false,
            Seen::Full,
        ),
        (
            Off,
            format!("tls = \"verify-ca\"\ntls_ca_file = \"{wrong_ca}\""),
            false,
            Seen::Full,
        ),
    ];
    for (setting, lines, logs_in, seen) in cases {
        let (origin, proxy) = start(&pki, setting, &lines, "off").await;
        let got = tiberius_read(proxy.addr(Protocol::MsSql).port(), &db).await;
        assert_eq!(got.is_ok(), logs_in, "{setting:?} {lines}: {got:?}");
        if let Ok(n) = got {
            assert_eq!(n, 2);
        } else {
            let text = got.unwrap_err();
            assert!(
                text.contains("TLS to origin"),
                "{setting:?} {lines}: {text}"
            );
        }
        assert_eq!(origin.logins(), u64::from(logs_in), "{setting:?} {lines}");
        assert_eq!(origin.tls.seen(), vec![seen], "{setting:?} {lines}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_needs_what_wirecache_does_not_offer_gets_a_clear_error() {
    let db = database();
    let pki = Pki::new();
    // TLS off: a client that asks for encryption stops with its own error.
    let (origin, proxy) = start(&pki, OriginEncryption::NotSupported, "", "off").await;
    let port = proxy.addr(Protocol::MsSql).port();
    let (ok, out) = tsql(port, &db, "require", None).await;
    assert!(!ok, "{out}");
    assert_eq!(origin.logins(), 0);
    assert_eq!(
        tiberius_read(port, &db).await,
        Ok(2),
        "plaintext still works"
    );
    // TLS required: a client that cannot encrypt is told so.
    let (origin, proxy) = start(&pki, OriginEncryption::NotSupported, "", "require").await;
    let port = proxy.addr(Protocol::MsSql).port();
    let err = tiberius_read(port, &db).await.unwrap_err();
    assert!(
        err.to_lowercase().contains("encrypt") || err.contains("TLS"),
        "{err}"
    );
    assert_eq!(origin.logins(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_reaches_the_log_over_tls() {
    let db = database();
    let pki = Pki::new();
    let tls = OriginTls::new(OriginEncryption::Off, &pki);
    let origin = TdsOrigin::start_tls(PgOrigin::shared().port, tls).await;
    let (port, admin) = (crate::common::free_port(), crate::common::free_port());
    let dir = crate::common::test_dir("tdstlslog");
    let config = format!(
        "[listen]\nmssql = \"127.0.0.1:{port}\"\nadmin = \"127.0.0.1:{admin}\"\n\n\
         [log]\nlevel = \"trace\"\n\n[[caches]]\nid = \"sq\"\nprotocol = \"mssql\"\n\
         origin = \"{}\"\n\n{}",
        origin.addr,
        pki.tls_table("client = \"allow\"")
    );
    std::fs::write(dir.join("wc.toml"), config).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_wirecache"))
        .env_remove("WIRECACHE_CONFIG")
        .arg("--config")
        .arg(dir.join("wc.toml"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start wirecache");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "wirecache did not open {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let right = password_for(USER);
    let wrong = "wrong-Tls-Passw0rd";
    // Full TLS and login-only TLS towards wirecache; login-only towards the origin.
    let full = tsql_as(port, &db, "require", None, &right).await;
    let login_only = tsql_as(port, &db, "request", None, &right).await;
    let refused = tsql_as(port, &db, "require", None, wrong).await;
    // Stopped before any assertion, so that a failing one leaves no daemon behind.
    let log = crate::common::stop_and_read_log(child).await;
    assert!(full.0, "{}", full.1);
    assert!(login_only.0, "{}", login_only.1);
    assert!(!refused.0, "{}", refused.1);
    assert_eq!(origin.tls.seen().len(), 3);
    assert!(origin.tls.seen().iter().all(|s| *s == Seen::LoginOnly));
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "not verbose:\n{log}"
    );
    assert!(log.contains("login only"), "{log}");
    for secret in [right.as_str(), wrong] {
        assert!(!log.contains(secret), "{secret:?} appears in the log");
        let wire = crate::tds_secrets::obfuscated(secret);
        for shown in [
            format!("{wire:?}"),
            format!("{:?}", bytes::Bytes::from(wire.clone())),
        ] {
            let inner = shown
                .trim_start_matches(['[', 'b', '"'])
                .trim_end_matches([']', '"']);
            assert!(
                !log.contains(inner),
                "{secret:?} appears obfuscated in the log"
            );
        }
    }
}
