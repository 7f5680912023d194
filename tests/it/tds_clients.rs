//! Other SQL Server clients through wirecache to the test TDS origin: pymssql and
//! python-tds (tests/clients/tds_check.py), and FreeTDS's `tsql`, each speaking TDS
//! 7.1, 7.2, 7.3 or 7.4 (the origin checks which it was asked for and answers as SQL
//! Server answers that version). Hits are proven by the origin's own count of the
//! SELECTs it ran. SQL Server itself is not tested.

use std::path::Path;
use std::process::Command;

use crate::common::PgOrigin;
use crate::common::mysql::run_blocking;
use crate::common::pg::password_for;
use crate::common::proxy::{Protocol, Proxy};
use crate::common::tds_origin::{TdsOrigin, USER, database};

/// `driver` speaking TDS `version`.
async fn python(driver: &str, version: &str) {
    let db = database();
    let origin = TdsOrigin::start(PgOrigin::shared().port).await;
    let proxy = Proxy::builder()
        .cache("sq", Protocol::MsSql, origin.port())
        .start()
        .await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/tds_check.py");
    let port = proxy.addr(Protocol::MsSql).port().to_string();
    let login = format!("sq-{USER}");
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .args([driver, "127.0.0.1", &port, &login, &password_for(USER), &db])
        .arg(version);
    let (ok, out, err) = run_blocking(cmd).await;
    assert!(
        ok && out.ends_with("ok"),
        "{driver} {version}:\n{out}\n{err}"
    );
    assert_eq!(
        origin.tds_version(),
        version,
        "{driver}: the version the origin saw"
    );
    // The script reads 8 times, 3 of them repeating an unchanged read; python-tds
    // twice more through RPC, once repeating.
    let rpc = driver == "pytds";
    let (reads, repeats) = if rpc { (10, 4) } else { (8, 3) };
    assert!(
        origin.selects() <= reads - repeats,
        "{driver} {version}: {} SELECTs at the origin",
        origin.selects()
    );
    assert!(proxy.hits_of("sq").await >= repeats as f64);
    assert_eq!(origin.rpcs() > 0, rpc, "{driver} {version}: RPCs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymssql_script() {
    python("pymssql", "7.4").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tds_script() {
    python("pytds", "7.4").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tds_script_7_1() {
    python("pytds", "7.1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tds_script_7_2() {
    python("pytds", "7.2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tds_script_7_3() {
    python("pytds", "7.3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymssql_script_7_1() {
    python("pymssql", "7.1").await;
}

/// FreeTDS's `tsql` speaking TDS `version`: a miss, a hit, a write invalidating.
async fn tsql(version: &str) {
    let db = database();
    let origin = TdsOrigin::start(PgOrigin::shared().port).await;
    let proxy = Proxy::builder()
        .cache("sq", Protocol::MsSql, origin.port())
        .start()
        .await;
    let port = proxy.addr(Protocol::MsSql).port().to_string();
    let login = format!("sq-{USER}");
    let script = "SELECT id, name FROM t WHERE id = 2\ngo\nSELECT id, name FROM t WHERE id = 2\ngo\n\
                  UPDATE t SET name = 'zwei' WHERE id = 2\ngo\nSELECT id, name FROM t WHERE id = 2\ngo\n\
                  SELECT id, CAST('2024-02-29' AS date) AS d FROM t WHERE id = 1\ngo\nexit\n";
    let file = std::env::temp_dir().join(crate::common::unique("wirecache-tsql"));
    std::fs::write(&file, script).unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "TDSVER={version} tsql -o v -H 127.0.0.1 -p {port} -U '{login}' -P '{}' -D '{db}' < '{}'",
        password_for(USER),
        file.display()
    ));
    let (ok, out, err) = run_blocking(cmd).await;
    let _ = std::fs::remove_file(&file);
    assert!(ok, "tsql {version}:\n{out}\n{err}");
    assert_eq!(origin.tds_version(), version, "the version the origin saw");
    assert!(
        out.contains(&format!("TDS version {version}"))
            || err.contains(&format!("TDS version {version}")),
        "{out}\n{err}"
    );
    assert_eq!(out.matches("two").count(), 2, "{version}: {out}\n{err}");
    assert!(out.contains("zwei"), "{version}: {out}\n{err}");
    // A DATE reaches 7.3+ clients as DATEN (tsql prints it as a date), older ones as
    // NVARCHAR text.
    let date = if version >= "7.3" {
        "1\tFeb 29 2024"
    } else {
        "1\t2024-02-29"
    };
    assert!(out.contains(date), "{version}: {out}\n{err}");
    // The write's catalog questions were answered (sys.sql_modules' NVARCHAR(MAX)
    // comes as NTEXT before TDS 7.2), so it invalidated by table, not by guess.
    let unknown = r#"wirecache_bypasses_total{cache="sq",reason="catalog_unknown"}"#;
    assert_eq!(proxy.metric(unknown).await, 0.0, "{version}");
    assert_eq!(
        origin.selects(),
        3,
        "{version}: the repeated read was a hit:\n{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freetds_tsql_7_4() {
    tsql("7.4").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freetds_tsql_7_1() {
    tsql("7.1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freetds_tsql_7_2() {
    tsql("7.2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freetds_tsql_7_3() {
    tsql("7.3").await;
}

/// A login naming no cache, at TDS `version`: `tsql` shows wirecache's login error
/// and no origin login is made. (FreeTDS would also read the error at 7.2+ widths,
/// so this does not check them; `errors.rs`' unit tests do.)
async fn tsql_unknown_cache(version: &str) {
    let origin = TdsOrigin::start(PgOrigin::shared().port).await;
    let proxy = Proxy::builder()
        .cache("sq", Protocol::MsSql, origin.port())
        .start()
        .await;
    let port = proxy.addr(Protocol::MsSql).port().to_string();
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "echo exit | TDSVER={version} tsql -H 127.0.0.1 -p {port} -U 'nope-{USER}' -P x"
    ));
    let (_, out, err) = run_blocking(cmd).await;
    let all = format!("{out}\n{err}");
    assert!(
        all.contains("Msg 18456") && all.contains("no mssql cache matches"),
        "{version}: {all}"
    );
    assert_eq!(origin.logins(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freetds_tsql_unknown_cache_7_1() {
    tsql_unknown_cache("7.1").await;
}
