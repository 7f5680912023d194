//! Connection ids through wirecache against a real MariaDB: each client session gets a
//! non-zero id of wirecache's own in its greeting, unique among live sessions, and
//! `KILL [HARD|SOFT] [QUERY|CONNECTION] <that id>` from any connection of a cache with
//! the same origin reaches the right origin connection; unknown ids get the origin's
//! 1094, origin ids (`CONNECTION_ID()`, `SHOW PROCESSLIST`) pass through unchanged, and
//! PyMySQL's `conn.kill(conn.thread_id())` works.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::mysql::{self, MyOrigin, ROOT_PASSWORD, ROOT_USER};
use common::proxy::Proxy;
use mysql_async::prelude::*;

async fn conn(proxy: &Proxy, cache: &str) -> mysql_async::Conn {
    mysql::connect(&proxy.mysql_url(cache, "", ROOT_USER, ROOT_PASSWORD)).await
}

fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

/// Runs `SELECT SLEEP(10)` on `victim` while `killer` runs `kill` (with `{}` replaced
/// by `id`) half a second in; returns the sleep's outcome and how long it took.
async fn interrupted_sleep(
    victim: &mut mysql_async::Conn,
    killer: &mut mysql_async::Conn,
    kill: &str,
    id: u32,
) -> (Result<Option<i64>, mysql_async::Error>, Duration) {
    let started = Instant::now();
    let sleep = victim.query_first::<i64, _>("SELECT SLEEP(10)");
    let kill_later = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        killer.query_drop(kill.replace("{}", &id.to_string())).await
    };
    let (slept, killed) = tokio::join!(sleep, kill_later);
    killed.unwrap_or_else(|e| panic!("{kill}: {e}"));
    (slept, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greetings_carry_unique_non_zero_ids_of_wirecaches_own() {
    let origin = MyOrigin::shared();
    let proxy = Proxy::builder().mysql_demo(origin.port).start().await;
    let mut conns = Vec::new();
    for cache in ["demo", "demo", "my-app", "demo-maria", "demo-maria"] {
        conns.push(conn(&proxy, cache).await);
    }
    let mut ids: Vec<u32> = conns.iter().map(|c| c.id()).collect();
    assert!(ids.iter().all(|id| *id != 0), "{ids:?}");
    let origin_ids: Vec<u32> = {
        let mut v = Vec::new();
        for c in &mut conns {
            v.push(
                c.query_first("SELECT CONNECTION_ID()")
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        v
    };
    // Documented difference: CONNECTION_ID() is the origin's id of the connection.
    for (ours, theirs) in ids.iter().zip(&origin_ids) {
        assert_ne!(ours, theirs);
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), conns.len(), "ids are unique");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_from_another_cache_of_the_origin_interrupts_and_the_victim_lives() {
    let origin = MyOrigin::shared();
    let proxy = Proxy::builder().mysql_demo(origin.port).start().await;
    let mut victim = conn(&proxy, "demo").await;
    let mut killer = conn(&proxy, "my-app").await;
    let id = victim.id();
    for kill in ["KILL QUERY {}", "kill hard query {};", "KILL SOFT QUERY {}"] {
        let (slept, took) = interrupted_sleep(&mut victim, &mut killer, kill, id).await;
        assert!(took < Duration::from_secs(5), "{kill}: took {took:?}");
        match slept {
            Err(e) => assert_eq!(server_code(&e), Some(1317), "{kill}: {e}"),
            Ok(v) => panic!("{kill}: the sleep ended normally with {v:?}"),
        }
        let v: Option<i64> = victim.query_first("SELECT 40 + 2").await.unwrap();
        assert_eq!(v, Some(42), "the victim keeps working");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_connection_disconnects_the_victim_and_its_id_dies_with_it() {
    let origin = MyOrigin::shared();
    let proxy = Proxy::builder().mysql_demo(origin.port).start().await;
    let mut killer = conn(&proxy, "demo").await;
    for kill in ["KILL {}", "KILL CONNECTION {}"] {
        let mut victim = conn(&proxy, "demo").await;
        let id = victim.id();
        killer
            .query_drop(kill.replace("{}", &id.to_string()))
            .await
            .unwrap();
        let after = victim.query_drop("SELECT CONNECTION_ID()").await;
        assert!(after.is_err(), "{kill}: the victim still answers");
        // Once its session has ended, the id is unknown: the origin says so.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let again = killer.query_drop(format!("KILL {id}")).await;
            match again.as_ref().map_err(server_code) {
                Err(Some(1094)) => break,
                other if Instant::now() > deadline => panic!("{kill} twice: {other:?}"),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_get_1094_and_origin_ids_pass_through() {
    let origin = MyOrigin::shared();
    let proxy = Proxy::builder().mysql_demo(origin.port).start().await;
    let mut victim = conn(&proxy, "demo-maria").await;
    let mut killer = conn(&proxy, "demo-maria").await;
    for unknown in [1_610_000_000u32, 4_000_000_000, victim.id() + 1_000_000] {
        let err = killer
            .query_drop(format!("KILL QUERY {unknown}"))
            .await
            .unwrap_err();
        assert_eq!(server_code(&err), Some(1094), "{unknown}: {err}");
        assert!(err.to_string().contains(&unknown.to_string()), "{err}");
    }
    // The id SHOW PROCESSLIST and CONNECTION_ID() show is the origin's: it works too.
    let origin_id: u32 = victim
        .query_first("SELECT CONNECTION_ID()")
        .await
        .unwrap()
        .unwrap();
    let (slept, took) =
        interrupted_sleep(&mut victim, &mut killer, "KILL QUERY {}", origin_id).await;
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(slept.as_ref().map_err(server_code).err(), Some(Some(1317)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymysql_kill_patterns_work_on_both_listeners() {
    let origin = MyOrigin::shared();
    let proxy = Proxy::builder().mysql_demo(origin.port).start().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/pymysql_kill.py");
    for (port, cache) in [
        (proxy.mysql_addr().port(), "demo"),
        (proxy.mariadb_addr().port(), "demo-maria"),
    ] {
        let user = format!("{cache}-{ROOT_USER}");
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .args(["127.0.0.1", &port.to_string(), &user, ROOT_PASSWORD]);
        let (ok, out, err) = mysql::run_blocking(cmd).await;
        assert!(
            ok && out.ends_with("ok"),
            "pymysql_kill.py on {port}:\n{out}\n{err}"
        );
        assert!(out.contains("kill_query=1317"), "{out}");
        eprintln!("pymysql_kill.py on {cache}:\n{out}");
    }
}
