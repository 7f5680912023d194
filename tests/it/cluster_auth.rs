//! The cluster bus behind Redis AUTH (ElastiCache's AUTH token, or an RBAC/ACL user):
//! the password from the URL or from `cluster.password`, an ACL user from
//! `cluster.username`; a wrong password keeps the bus down while queries are still
//! relayed; and no bus password appears in the daemon's log at trace level.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::origin::{Origin, Postgres, Via, int};
use crate::common::proxy::Proxy;
use crate::common::redis::Redis;
use crate::common::{self, PgOrigin};
use wirecache::cluster::BusState;

const DEFAULT_PW: &str = "default-Passw0rd-q7";
const USER_PW: &str = "acl-Passw0rd-k3";
const WRONG_PW: &str = "wrong-Passw0rd-x9";

fn secured() -> Redis {
    let pw = format!(">{USER_PW}");
    let acl = ["--user", "wc", "on", &pw, "~*", "&*", "+@all"];
    Redis::start_with(&[&["--requirepass", DEFAULT_PW][..], &acl[..]].concat())
}

async fn instance(redis: &Redis, cluster: &str) -> Proxy {
    let origin = PgOrigin::shared();
    let table = format!("[cluster]\nurl = \"{}\"\n{cluster}", redis.url());
    origin.proxy().toml(&table).start().await
}

/// The bus state after up to `wait`.
async fn settled(p: &Proxy, want: BusState, wait: Duration) -> BusState {
    let c = p.engine().cluster().expect("in a cluster");
    let deadline = Instant::now() + wait;
    while c.state() != want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.state()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_from_the_url_the_password_key_or_an_acl_user() {
    let redis = secured();
    let url_pw = format!("url = \"redis://:{DEFAULT_PW}@127.0.0.1:{}\"\n", redis.port);
    let cases = [
        (format!("password = \"{DEFAULT_PW}\"\n"), BusState::Up),
        (
            format!("username = \"wc\"\npassword = \"{USER_PW}\"\n"),
            BusState::Up,
        ),
        (format!("password = \"{WRONG_PW}\"\n"), BusState::Down),
        (String::new(), BusState::Down),
    ];
    for (lines, want) in cases {
        let p = instance(&redis, &lines).await;
        assert_eq!(
            settled(&p, want, Duration::from_secs(5)).await,
            want,
            "{lines}"
        );
        // Relayed either way.
        let db = PgOrigin::shared().create_db("cl_auth");
        let mut c = <Postgres as Origin>::connect(&p, &db).await;
        assert_eq!(int(&mut c, Via::Text, "SELECT 41 + 1").await, 42);
    }
    // The URL's own password (the `url` key given twice would be a TOML error: the
    // instance's table replaces it).
    let origin = PgOrigin::shared();
    let p = origin
        .proxy()
        .toml(&format!("[cluster]\n{url_pw}"))
        .start()
        .await;
    assert_eq!(
        settled(&p, BusState::Up, Duration::from_secs(5)).await,
        BusState::Up
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_bus_password_reaches_the_log_at_trace_level() {
    let redis = secured();
    let pg = PgOrigin::shared();
    let mut logs = String::new();
    // A wrong password in the URL (refused, retried), then the right one by key.
    let runs = [
        (
            format!("redis://wc:{WRONG_PW}@127.0.0.1:{}", redis.port),
            None,
        ),
        (redis.url(), Some(DEFAULT_PW)),
    ];
    for (url, password) in runs {
        let (pg_port, admin) = (common::free_port(), common::free_port());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wirecache"));
        cmd.env_remove("WIRECACHE_CONFIG")
            .env("WIRECACHE_LOG_LEVEL", "trace")
            .env("WIRECACHE_LISTEN_POSTGRES", format!("127.0.0.1:{pg_port}"))
            .env("WIRECACHE_LISTEN_MYSQL", "off")
            .env("WIRECACHE_LISTEN_MARIADB", "off")
            .env("WIRECACHE_LISTEN_MSSQL", "off")
            .env("WIRECACHE_LISTEN_ADMIN", format!("127.0.0.1:{admin}"))
            .env("WIRECACHE_CACHES_0_ID", "demo")
            .env("WIRECACHE_CACHES_0_PROTOCOL", "postgres")
            .env(
                "WIRECACHE_CACHES_0_ORIGIN",
                format!("127.0.0.1:{}", pg.port),
            )
            .env("WIRECACHE_CLUSTER_URL", &url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(pw) = password {
            cmd.env("WIRECACHE_CLUSTER_PASSWORD", pw);
        }
        let child = cmd.spawn().expect("start wirecache");
        // Long enough to connect (or fail and retry) a few times.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        logs.push_str(&crate::common::stop_and_read_log(child).await);
    }
    assert!(
        logs.contains("cluster bus"),
        "the bus logged nothing:\n{logs}"
    );
    for secret in [DEFAULT_PW, WRONG_PW, USER_PW] {
        assert!(!logs.contains(secret), "{secret} in the log:\n{logs}");
    }
}

/// `rediss://` (ElastiCache in-transit encryption) with the server verified against
/// `cluster.tls_ca_file`; without it (the system's CAs) the test certificate is
/// refused and the bus stays down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_verifies_the_server_with_the_given_ca() {
    let redis = Redis::start_tls();
    let ca = format!("tls_ca_file = \"{}\"\n", redis.ca_file().display());
    let p = instance(&redis, &ca).await;
    assert_eq!(
        settled(&p, BusState::Up, Duration::from_secs(5)).await,
        BusState::Up
    );
    let db = PgOrigin::shared().create_db("cl_tls");
    PgOrigin::shared().psql(&db, "CREATE TABLE t (v int); INSERT INTO t VALUES (1);");
    let mut c = <Postgres as Origin>::connect(&p, &db).await;
    crate::common::origin::exec(&mut c, Via::Text, "UPDATE t SET v = 2").await;
    let published = "wirecache_cluster_published_total{instance=";
    assert!(
        p.metrics()
            .await
            .lines()
            .any(|l| l.starts_with(published) && !l.ends_with(" 0"))
    );
    let unverified = instance(&redis, "").await;
    let state = settled(&unverified, BusState::Up, Duration::from_secs(2)).await;
    assert_ne!(
        state,
        BusState::Up,
        "a certificate from an unknown CA was accepted"
    );
}
