//! Pooled mode keeps its secrets: the real binary at `trace`, with a password from the
//! environment (as ECS injects one from AWS Secrets Manager) and a userlist holding a
//! password and PostgreSQL's own SCRAM verifier, logs clients in over TLS and plaintext
//! with right and wrong passwords; neither its log nor `check-config` shows any
//! password or verifier.

use crate::common;

use std::process::{Command, Stdio};

use common::PgOrigin;
use common::pg::{password_for, psql_logs_in, wait_for_port};

const WRONG: &str = "wrong-Pooled-pw-41";

/// The environment of a wirecache with two pooled caches: `env` (password from the
/// environment) and `list` (the userlist at `userlist`).
fn pooled_env(cmd: &mut Command, origin: u16, userlist: &std::path::Path) {
    let vars = [
        ("WIRECACHE_LISTEN_MYSQL", "off".to_owned()),
        ("WIRECACHE_LISTEN_MARIADB", "off".to_owned()),
        ("WIRECACHE_LISTEN_MSSQL", "off".to_owned()),
        ("WIRECACHE_CACHES_0_ID", "env".to_owned()),
        ("WIRECACHE_CACHES_0_PROTOCOL", "postgres".to_owned()),
        ("WIRECACHE_CACHES_0_ORIGIN", format!("127.0.0.1:{origin}")),
        ("WIRECACHE_CACHES_0_POOL", "session".to_owned()),
        ("WIRECACHE_CACHES_0_USER", "scram_user".to_owned()),
        ("WIRECACHE_CACHES_0_PASSWORD", password_for("scram_user")),
        ("WIRECACHE_CACHES_1_ID", "list".to_owned()),
        ("WIRECACHE_CACHES_1_PROTOCOL", "postgres".to_owned()),
        ("WIRECACHE_CACHES_1_ORIGIN", format!("127.0.0.1:{origin}")),
        ("WIRECACHE_CACHES_1_POOL", "session".to_owned()),
        (
            "WIRECACHE_CACHES_1_AUTH_FILE",
            userlist.display().to_string(),
        ),
    ];
    cmd.env_remove("WIRECACHE_CONFIG");
    for (k, v) in vars {
        cmd.env(k, v);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_mode_logs_no_password_or_verifier() {
    let pg = PgOrigin::shared();
    let db = pg.create_db("pooled_secrets_log");
    let verifier = pg.psql(
        "postgres",
        "SELECT rolpassword FROM pg_authid WHERE rolname = 'scram_user'",
    );
    assert!(verifier.starts_with("SCRAM-SHA-256$"), "{verifier}");
    let dir = common::test_dir("pooled-userlist");
    let userlist = dir.join("userlist.txt");
    let md5_pw = password_for("md5_user");
    std::fs::write(
        &userlist,
        format!("\"scram_user\" \"{verifier}\"\n\"md5_user\" \"{md5_pw}\"\n"),
    )
    .unwrap();

    let check = {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wirecache"));
        pooled_env(&mut cmd, pg.port, &userlist);
        cmd.arg("check-config").output().unwrap()
    };
    let printed = String::from_utf8_lossy(&check.stdout).to_string()
        + &String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success(), "{printed}");
    assert!(
        printed.contains("pool = \"session\"") && printed.contains("<redacted>"),
        "{printed}"
    );

    let (pg_port, admin) = (common::free_port(), common::free_port());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wirecache"));
    pooled_env(&mut cmd, pg.port, &userlist);
    let child = cmd
        .env("WIRECACHE_LOG_LEVEL", "trace")
        .env("WIRECACHE_LISTEN_POSTGRES", format!("127.0.0.1:{pg_port}"))
        .env("WIRECACHE_LISTEN_ADMIN", format!("127.0.0.1:{admin}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wirecache");
    wait_for_port(pg_port);
    let db2 = db.clone();
    let logins = tokio::task::spawn_blocking(move || {
        let mut got_in = Vec::new();
        for (user, role) in [
            ("env-scram_user", "scram_user"),
            ("list-scram_user", "scram_user"),
            ("list-md5_user", "md5_user"),
        ] {
            for ssl in ["sslmode=require channel_binding=disable", "sslmode=disable"] {
                got_in.push(psql_logs_in(pg_port, &db2, user, &password_for(role), ssl));
                assert!(
                    !psql_logs_in(pg_port, &db2, user, WRONG, ssl),
                    "{user} with a wrong password"
                );
            }
        }
        got_in
    })
    .await
    .unwrap();
    assert_eq!(logins, [true; 6]);
    let log = common::stop_and_read_log(child).await;
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log was not verbose:\n{log}"
    );
    let verifier_parts: Vec<&str> = verifier.split(['$', ':']).filter(|p| p.len() > 8).collect();
    let secrets = [password_for("scram_user"), md5_pw, WRONG.to_owned()];
    for secret in secrets.iter().map(String::as_str).chain(verifier_parts) {
        assert!(!log.contains(secret), "{secret:?} appears in the log");
        assert!(
            !printed.contains(secret),
            "{secret:?} appears in check-config"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
