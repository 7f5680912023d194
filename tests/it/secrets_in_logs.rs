//! No password, at any log level, in wirecache's output (the Standards' secrets rule,
//! design §6). The real binary runs at `trace` in front of the private PostgreSQL and
//! MariaDB origins (both serve TLS, so the origin legs are TLS too); every
//! authentication path logs in over TLS and over plaintext,
//! with the right password and a wrong one; then the whole log is searched for every
//! password used.

use crate::common;

use std::process::{Command, Stdio};

use common::PgOrigin;
use common::mysql::{self, ED25519_USER, MyOrigin, NATIVE_USER, ROOT_PASSWORD, ROOT_USER};
use common::pg::{password_for, psql_logs_in, wait_for_port};

const WRONG: &str = "wrong-Passw0rd-zq";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_reaches_the_log_at_trace_level() {
    let pg = PgOrigin::shared();
    let my = MyOrigin::shared();
    let db = pg.create_db("secrets");
    pg.psql(
        &db,
        "GRANT ALL ON SCHEMA public TO pw_user, md5_user, scram_user;",
    );
    let mydb = my.create_db("secrets");
    let (pg_port, my_port, admin) = (
        common::free_port(),
        common::free_port(),
        common::free_port(),
    );
    let child = Command::new(env!("CARGO_BIN_EXE_wirecache"))
        .env_remove("WIRECACHE_CONFIG")
        .env("WIRECACHE_LOG_LEVEL", "trace")
        .env("WIRECACHE_LISTEN_POSTGRES", format!("127.0.0.1:{pg_port}"))
        .env("WIRECACHE_LISTEN_MARIADB", format!("127.0.0.1:{my_port}"))
        .env("WIRECACHE_LISTEN_MYSQL", "off")
        .env("WIRECACHE_LISTEN_MSSQL", "off")
        .env("WIRECACHE_LISTEN_ADMIN", format!("127.0.0.1:{admin}"))
        .env("WIRECACHE_CACHES_0_ID", "demo")
        .env("WIRECACHE_CACHES_0_PROTOCOL", "postgres")
        .env(
            "WIRECACHE_CACHES_0_ORIGIN",
            format!("127.0.0.1:{}", pg.port),
        )
        .env("WIRECACHE_CACHES_1_ID", "maria")
        .env("WIRECACHE_CACHES_1_PROTOCOL", "mariadb")
        .env(
            "WIRECACHE_CACHES_1_ORIGIN",
            format!("127.0.0.1:{}", my.port),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wirecache");
    wait_for_port(pg_port);
    wait_for_port(my_port);

    let mut secrets = vec![WRONG.to_string(), ROOT_PASSWORD.to_string()];
    let db2 = db.clone();
    let pg_logins = tokio::task::spawn_blocking(move || {
        let mut got_in = Vec::new();
        for role in ["pw_user", "md5_user", "scram_user"] {
            for ssl in ["sslmode=require channel_binding=disable", "sslmode=disable"] {
                got_in.push(psql_logs_in(
                    pg_port,
                    &db2,
                    &format!("demo-{role}"),
                    &password_for(role),
                    ssl,
                ));
                assert!(
                    !psql_logs_in(pg_port, &db2, &format!("demo-{role}"), WRONG, ssl),
                    "{role} with a wrong password"
                );
            }
        }
        got_in
    })
    .await
    .unwrap();
    // Over TLS every method gets in; over plaintext only SCRAM (the others are refused
    // before any password is sent).
    assert_eq!(pg_logins, [true, false, true, false, true, true]);
    for role in ["pw_user", "md5_user", "scram_user"] {
        secrets.push(password_for(role));
    }
    for user in [ROOT_USER, NATIVE_USER, ED25519_USER] {
        let password = if user == ROOT_USER {
            ROOT_PASSWORD.to_string()
        } else {
            mysql::password_for(user)
        };
        let name = format!("maria-{user}");
        for ssl in ["--ssl", "--skip-ssl"] {
            let args = [ssl, "-e", "SELECT 1", mydb.as_str()];
            let (ok, _, err) = mysql::cli(my_port, &name, &password, &args).await;
            assert!(ok, "{user} {ssl}: {err}");
            let (ok, _, _) = mysql::cli(my_port, &name, WRONG, &args).await;
            assert!(!ok, "{user} {ssl} with a wrong password");
        }
        secrets.push(password);
    }

    let log = crate::common::stop_and_read_log(child).await;
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log was not verbose:\n{log}"
    );
    assert!(log.contains("every session closed"), "{log}");
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "{secret:?} appears in the log"
        );
    }
    eprintln!(
        "searched {} log lines for {} passwords",
        log.lines().count(),
        secrets.len()
    );
}
