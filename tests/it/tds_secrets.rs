//! No password in wirecache's log at `trace` for SQL Server logins (design §6): the real
//! binary in front of the test TDS origin, tiberius logging in with the right password
//! and a wrong one, and the whole log searched for both, in clear and as LOGIN7
//! carries them (UTF-16, obfuscated), printed as Rust would print bytes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::TokioAsyncWriteCompatExt;

use crate::common::pg::password_for;
use crate::common::tds_origin::{TdsOrigin, USER, database};
use crate::common::{PgOrigin, free_port};

const WRONG: &str = "wrong-Tds-Passw0rd";

async fn login(port: u16, db: &str, password: &str) -> bool {
    let mut config = Config::new();
    config.host("127.0.0.1");
    config.port(port);
    config.database(db);
    config.authentication(AuthMethod::sql_server(format!("sq-{USER}"), password));
    config.encryption(EncryptionLevel::NotSupported);
    let Ok(tcp) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let Ok(mut c) = Client::connect(config, tcp.compat_write()).await else {
        return false;
    };
    c.simple_query("SELECT id, name FROM t").await.is_ok()
}

/// How LOGIN7 carries a password: UTF-16LE, each byte's nibbles swapped, XOR 0xA5.
pub(crate) fn obfuscated(password: &str) -> Vec<u8> {
    password
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .map(|b| b.rotate_left(4) ^ 0xA5)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tds_password_reaches_the_log_at_trace_level() {
    let db = database();
    let origin = TdsOrigin::start(PgOrigin::shared().port).await;
    let (port, admin) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_wirecache"))
        .env_remove("WIRECACHE_CONFIG")
        .env("WIRECACHE_LOG_LEVEL", "trace")
        .env("WIRECACHE_LISTEN_POSTGRES", "off")
        .env("WIRECACHE_LISTEN_MARIADB", "off")
        .env("WIRECACHE_LISTEN_MYSQL", "off")
        .env("WIRECACHE_LISTEN_MSSQL", format!("127.0.0.1:{port}"))
        .env("WIRECACHE_LISTEN_ADMIN", format!("127.0.0.1:{admin}"))
        .env("WIRECACHE_CACHES_0_ID", "sq")
        .env("WIRECACHE_CACHES_0_PROTOCOL", "mssql")
        .env("WIRECACHE_CACHES_0_ORIGIN", origin.addr.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wirecache");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "wirecache did not open {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let right = password_for(USER);
    assert!(login(port, &db, &right).await, "the right password gets in");
    assert!(!login(port, &db, WRONG).await, "a wrong one does not");
    let log = crate::common::stop_and_read_log(child).await;
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "not verbose:\n{log}"
    );
    assert!(log.contains("mssql"), "{log}");
    for secret in [right.as_str(), WRONG] {
        assert!(!log.contains(secret), "{secret:?} appears in the log");
        let wire = obfuscated(secret);
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
