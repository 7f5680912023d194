//! MySQL/MariaDB pooled mode keeps its secrets: the real binary at `trace`, with a
//! password from the environment and a userlist holding a password and a `*HEX`
//! native hash, logs clients in (both plugins, TLS and plaintext, right and wrong
//! passwords); neither its log nor `check-config` shows a password or the hash.

use crate::common;

use std::process::{Command, Stdio};

use common::mysql::{self, MyOrigin};
use common::mysql_pooled_origin::PoolUser;
use common::pg::wait_for_port;

const WRONG: &str = "wrong-Pooled-pw-77";

fn pooled_env(cmd: &mut Command, origin: u16, env_user: &PoolUser, userlist: &std::path::Path) {
    let vars = [
        ("WIRECACHE_LISTEN_POSTGRES", "off".to_owned()),
        ("WIRECACHE_LISTEN_MYSQL", "off".to_owned()),
        ("WIRECACHE_LISTEN_MSSQL", "off".to_owned()),
        ("WIRECACHE_CACHES_0_ID", "env".to_owned()),
        ("WIRECACHE_CACHES_0_PROTOCOL", "mariadb".to_owned()),
        ("WIRECACHE_CACHES_0_ORIGIN", format!("127.0.0.1:{origin}")),
        ("WIRECACHE_CACHES_0_POOL", "session".to_owned()),
        ("WIRECACHE_CACHES_0_USER", env_user.name.clone()),
        ("WIRECACHE_CACHES_0_PASSWORD", env_user.password.clone()),
        ("WIRECACHE_CACHES_1_ID", "list".to_owned()),
        ("WIRECACHE_CACHES_1_PROTOCOL", "mariadb".to_owned()),
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
async fn pooled_mysql_logs_no_password_or_hash() {
    let origin = MyOrigin::shared();
    let env_user = PoolUser::create(origin, "pool_sec_env");
    let plain = PoolUser::create(origin, "pool_sec_pw");
    let hashed = PoolUser::create(origin, "pool_sec_h");
    let hash = hashed.native_hash(origin);
    let dir = common::test_dir("my-pooled-secrets");
    let userlist = dir.join("userlist.txt");
    std::fs::write(
        &userlist,
        format!(
            "\"{}\" \"{}\"\n\"{}\" \"{hash}\"\n",
            plain.name, plain.password, hashed.name
        ),
    )
    .unwrap();

    let check = {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wirecache"));
        pooled_env(&mut cmd, origin.port, &env_user, &userlist);
        cmd.arg("check-config").output().unwrap()
    };
    let printed = String::from_utf8_lossy(&check.stdout).to_string()
        + &String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success(), "{printed}");
    assert!(printed.contains("<redacted>"), "{printed}");

    let (port, admin) = (common::free_port(), common::free_port());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wirecache"));
    pooled_env(&mut cmd, origin.port, &env_user, &userlist);
    let child = cmd
        .env("WIRECACHE_LOG_LEVEL", "trace")
        .env("WIRECACHE_LISTEN_MARIADB", format!("127.0.0.1:{port}"))
        .env("WIRECACHE_LISTEN_ADMIN", format!("127.0.0.1:{admin}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wirecache");
    wait_for_port(port);
    let mut got_in = Vec::new();
    for (login, password) in [
        (format!("env-{}", env_user.name), &env_user.password),
        (format!("list-{}", plain.name), &plain.password),
        (format!("list-{}", hashed.name), &hashed.password),
    ] {
        for plugin in ["mysql_native_password", "caching_sha2_password"] {
            for ssl in ["--ssl", "--skip-ssl"] {
                let auth = format!("--default-auth={plugin}");
                let args = [auth.as_str(), ssl, "-e", "SELECT 1"];
                let (ok, out, err) = mysql::cli(port, &login, password, &args).await;
                got_in.push(ok && out == "1");
                if !ok {
                    eprintln!("{login} {plugin} {ssl}: {err}");
                }
                let (ok, _, _) = mysql::cli(port, &login, WRONG, &args).await;
                assert!(!ok, "{login} with a wrong password");
            }
        }
    }
    assert_eq!(got_in, [true; 12]);
    let log = common::stop_and_read_log(child).await;
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log was not verbose:\n{log}"
    );
    let secrets = [
        env_user.password.as_str(),
        plain.password.as_str(),
        hashed.password.as_str(),
        WRONG,
        hash.as_str(),
        hash.trim_start_matches('*'),
    ];
    for secret in secrets {
        assert!(!log.contains(secret), "{secret:?} appears in the log");
        assert!(
            !printed.contains(secret),
            "{secret:?} appears in check-config"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
