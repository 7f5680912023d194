//! No message sequence a PostgreSQL driver sends may leave the client or the origin
//! waiting (issue 9): COPY in the extended protocol (pg8000, libpq, tokio-postgres),
//! Flush with held-back messages, Sync after errors, COPY TO, COPY BOTH, function
//! calls, Describe before Execute, row-limited Executes, pipelines mixing hits and
//! misses, a client that gives up or disappears mid-copy; and the cancel key and
//! backend pid a client sees. Each script runs straight against the origin and through
//! wirecache, and the two transcripts must match. Every read has a deadline, so a hang
//! fails the test instead of stalling it.

use crate::pg_scripted;

use std::time::Duration;

use pg_scripted::batches::{
    describes, errors_then_sync, flushes, function_call, mixed_pipeline, row_limits,
};
use pg_scripted::copy::{
    copy_both, copy_in_failures, copy_out, libpq_copy_in, pg8000_copy_in, simple_copy_in,
};
use pg_scripted::setup::{T_AND_K, direct_addr, pair, setup, still_caches, within};
use pg_scripted::{Raw, tags};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_as_pg8000_sends_it() {
    within(async {
        let (origin, db, proxy) = setup("hang_copy8000", T_AND_K).await;
        let (mut direct, mut via) = pair(origin, &proxy, &db).await;
        let d = pg8000_copy_in(&mut direct).await;
        let v = pg8000_copy_in(&mut via).await;
        assert_eq!(d, "1ZtnZ2GCZCOPY 22");
        assert_eq!(v, "1ZtnZ2GCZCOPY 24");
        still_caches(&proxy, &mut via).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_as_libpq_sends_it_with_syncs_inside_the_copy() {
    within(async {
        let (origin, db, proxy) = setup("hang_copylibpq", T_AND_K).await;
        let (mut direct, mut via) = pair(origin, &proxy, &db).await;
        let d = libpq_copy_in(&mut direct).await;
        assert_eq!(d, "12nGCZafter");
        assert_eq!(libpq_copy_in(&mut via).await, d);
        still_caches(&proxy, &mut via).await;
        assert_eq!(origin.psql(&db, "SELECT count(*) FROM t"), "4");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_through_tokio_postgres_then_more_work() {
    use futures_util::SinkExt;
    within(async {
        let (_origin, db, proxy) = setup("hang_copytp", T_AND_K).await;
        let c = proxy.connect(&db, "postgres").await;
        for round in 0..3i64 {
            let sink = c.copy_in("COPY t (id, v) FROM STDIN").await.unwrap();
            let mut sink = Box::pin(sink);
            sink.send(bytes::Bytes::from_static(b"1\tone\n2\ttwo\n"))
                .await
                .unwrap();
            assert_eq!(sink.as_mut().finish().await.unwrap(), 2);
            let n: i64 = c
                .query_one("SELECT count(*) FROM t", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(n, 2 * (round + 1));
        }
        // A sink dropped unfinished sends CopyFail + Sync: the session goes on.
        let sink = c
            .copy_in::<_, bytes::Bytes>("COPY t (id, v) FROM STDIN")
            .await
            .unwrap();
        drop(sink);
        let n: i64 = c
            .query_one("SELECT count(*) FROM t", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 6);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_fail_and_bad_rows_end_the_batch_and_the_session_goes_on() {
    within(async {
        let (origin, db, proxy) = setup("hang_copyfail", T_AND_K).await;
        let (mut direct, mut via) = pair(origin, &proxy, &db).await;
        let d = copy_in_failures(&mut direct).await;
        assert_eq!(d, "12GEZ5701412GEZ22P020");
        assert_eq!(copy_in_failures(&mut via).await, d);
        still_caches(&proxy, &mut via).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_with_the_simple_protocol() {
    within(async {
        let (origin, db, proxy) = setup("hang_copysimple", T_AND_K).await;
        let (mut direct, mut via) = pair(origin, &proxy, &db).await;
        let d = simple_copy_in(&mut direct).await;
        assert_eq!(d, "GCZGEZafter");
        assert_eq!(simple_copy_in(&mut via).await, d);
        still_caches(&proxy, &mut via).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_closing_mid_copy_frees_the_origin_backend() {
    within(async {
        let (origin, db, proxy) = setup("hang_copyclose", T_AND_K).await;
        let mut via = Raw::login(proxy.pg_addr(), "demo-postgres", &db, &[]).await;
        let pid = via.pid;
        via.parse("", "COPY t (id, v) FROM STDIN")
            .bind("", "", &[])
            .execute("", 0)
            .sync()
            .send()
            .await;
        via.until(b'G').await;
        via.copy_data(b"1\tone\n").send().await;
        via.abort();
        let watcher = origin.connect(&db, "postgres", None).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let n: i64 = watcher
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = $1",
                    &[&pid],
                )
                .await
                .unwrap()
                .get(0);
            if n == 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "backend {pid} still there"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        watcher
            .batch_execute("BEGIN; LOCK TABLE t NOWAIT; COMMIT")
            .await
            .unwrap();
        let n: i64 = watcher
            .query_one("SELECT count(*) FROM t", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_out_in_the_extended_protocol() {
    within(async {
        let (origin, db, proxy) = setup(
            "hang_copyout",
            "CREATE TABLE t (id int, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b'); \
             CREATE TABLE k (id int); INSERT INTO k VALUES (1);",
        )
        .await;
        let (mut direct, mut via) = pair(origin, &proxy, &db).await;
        let d = copy_out(&mut direct).await;
        assert_eq!(d, "12HddcCZ12HddcCZafter");
        assert_eq!(copy_out(&mut via).await, d);
        still_caches(&proxy, &mut via).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_both_replication_starts_and_stops() {
    within(async {
        let (origin, db, proxy) = setup("hang_copyboth", "SELECT 1;").await;
        let repl = [("replication", "database")];
        let mut direct = Raw::login(direct_addr(origin), "postgres", &db, &repl).await;
        let mut via = Raw::login(proxy.pg_addr(), "demo-postgres", &db, &repl).await;
        let d = copy_both(&mut direct).await;
        assert_eq!(d, "TDCZWcCCZTDCZ");
        assert_eq!(copy_both(&mut via).await, d);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_call_is_answered_and_the_cache_keeps_working() {
    within(async {
        let (origin, db, proxy) = setup(
            "hang_fcall",
            "CREATE TABLE k (id int); INSERT INTO k VALUES (1);",
        )
        .await;
        let oid: i32 = origin
            .psql(&db, "SELECT 'abs(integer)'::regprocedure::oid")
            .parse()
            .unwrap();
        let (mut direct, mut via) = pair(origin, &proxy, &db).await;
        let d = function_call(&mut direct, oid).await;
        assert_eq!(d, "VZ5EZafter");
        assert_eq!(function_call(&mut via, oid).await, d);
        still_caches(&proxy, &mut via).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_answers_held_back_parse_and_bind() {
    within(async {
        let (origin, db, proxy) = setup(
            "hang_flush",
            "CREATE TABLE k (id int); INSERT INTO k VALUES (1), (2);",
        )
        .await;
        let (mut direct, mut via) = pair(origin, &proxy, &db).await;
        let d = flushes(&mut direct).await;
        assert_eq!(d, "12TDDCZ|12TDDCZ|12DDCZ|12DDCZ|1tT2TDDCZ");
        assert_eq!(flushes(&mut via).await, d);
        still_caches(&proxy, &mut via).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_after_errors_recovers_the_session() {
    within(async {
        let (origin, db, proxy) = setup(
            "hang_errsync",
            "CREATE TABLE k (id int); INSERT INTO k VALUES (1);",
        )
        .await;
        let (mut direct, mut via) = pair(origin, &proxy, &db).await;
        let d = errors_then_sync(&mut direct).await;
        assert_eq!(d, "EZ|1EZ|12EZ12DCZ|1EZ1EZ|12DCZ12DCZ");
        let before = proxy.hits().await;
        assert_eq!(errors_then_sync(&mut via).await, d);
        assert!(
            proxy.hits().await > before,
            "the session stopped using the cache"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_before_execute() {
    within(async {
        let (origin, db, proxy) = setup(
            "hang_describe",
            "CREATE TABLE k (id int); INSERT INTO k VALUES (1);",
        )
        .await;
        let (mut direct, mut via) = pair(origin, &proxy, &db).await;
        let d = describes(&mut direct).await;
        assert_eq!(d, "1tTZ2TDCZ1tTZ2TDCZ1tTZ2TDCZtTZ2TDCZtTZ");
        assert_eq!(describes(&mut via).await, d);
        still_caches(&proxy, &mut via).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_limited_executes_suspend_and_resume() {
    within(async {
        let (origin, db, proxy) = setup("hang_rowlimit", T_AND_K).await;
        let (mut direct, mut via) = pair(origin, &proxy, &db).await;
        let d = row_limits(&mut direct).await;
        assert_eq!(d, "CZ12TDDsZDDsZDCZ12DDDsDDC3ZCZ");
        assert_eq!(row_limits(&mut via).await, d);
        still_caches(&proxy, &mut via).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_batches_mixing_hits_and_misses() {
    within(async {
        let (origin, db, proxy) = setup(
            "hang_mixed",
            "CREATE TABLE k (id int, v int); INSERT INTO k VALUES (1, 1), (2, 2);",
        )
        .await;
        let (mut direct, mut via) = pair(origin, &proxy, &db).await;
        let d = mixed_pipeline(&mut direct).await;
        assert_eq!(d, "12DCZ12DCZ12DCZ12CZ12DCZTDCZ12DCZ,1,2,1,11,11,2");
        origin.psql(&db, "UPDATE k SET v = 1 WHERE id = 1");
        assert_eq!(mixed_pipeline(&mut via).await, d);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_key_data_names_the_origin_backend() {
    within(async {
        let (origin, db, proxy) = setup("hang_keydata", "SELECT 1;").await;
        let mut a = Raw::login(proxy.pg_addr(), "demo-postgres", &db, &[]).await;
        let mut b = Raw::login(proxy.pg_addr(), "demo-postgres", &db, &[]).await;
        for c in [&mut a, &mut b] {
            let pid = c.scalar("SELECT pg_backend_pid()").await.unwrap();
            assert_eq!(pid, c.pid.to_string());
            // Twice, and in the extended protocol: never served from the cache.
            c.parse("", "SELECT pg_backend_pid()")
                .bind("", "", &[])
                .execute("", 0)
                .sync()
                .send()
                .await;
            let msgs = c.ready(1).await;
            let row = msgs.iter().find(|m| m.tag == b'D').unwrap();
            assert_eq!(row.columns()[0].as_deref(), Some(pid.as_str()));
        }
        assert_ne!(a.pid, b.pid);
        let seen = origin.psql(
            &db,
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE pid IN ({}, {})",
                a.pid, b.pid
            ),
        );
        assert_eq!(seen, "2");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_cancel_backend_from_another_connection_cancels_the_query() {
    within(async {
        let (_origin, db, proxy) = setup("hang_cancelpid", "SELECT 1;").await;
        let mut sleeper = Raw::login(proxy.pg_addr(), "demo-postgres", &db, &[]).await;
        let mut other = Raw::login(proxy.pg_addr(), "demo-postgres", &db, &[]).await;
        sleeper.query("SELECT pg_sleep(30)").send().await;
        let state = format!(
            "SELECT wait_event FROM pg_stat_activity WHERE pid = {}",
            sleeper.pid
        );
        while other.scalar(&state).await.as_deref() != Some("PgSleep") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let sql = format!("SELECT pg_cancel_backend({})", sleeper.pid);
        assert_eq!(other.scalar(&sql).await.as_deref(), Some("t"));
        let msgs = sleeper.ready(1).await;
        assert_eq!(tags(&msgs), "TEZ");
        assert_eq!(msgs[1].sqlstate().as_deref(), Some("57014"));
        assert_eq!(
            sleeper.scalar("SELECT 'still here'").await.as_deref(),
            Some("still here")
        );
        // pg_terminate_backend ends the session: the client gets the origin's FATAL.
        let sql = format!("SELECT pg_terminate_backend({})", sleeper.pid);
        assert_eq!(other.scalar(&sql).await.as_deref(), Some("t"));
        let fatal = sleeper.recv().await;
        assert_eq!(
            (fatal.tag, fatal.sqlstate().as_deref()),
            (b'E', Some("57P01"))
        );
        // ...and only that: no error of wirecache's own follows the origin's reason
        // (drivers that keep the last error, such as asyncpg, would report that one).
        assert!(
            sleeper.closes().await,
            "a second error followed the origin's FATAL"
        );
        assert_eq!(
            other.scalar("SELECT 'other fine'").await.as_deref(),
            Some("other fine")
        );
    })
    .await;
}

/// pg8000, the driver that found the hang, runs its COPY through wirecache
/// (tests/clients/pg8000_copy.py; scripts/install-test-deps.sh installs pg8000).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg8000_copy_from_and_to_through_wirecache() {
    within(async {
        let (_origin, db, proxy) = setup("hang_pg8000", "SELECT 1;").await;
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/pg8000_copy.py");
        let port = proxy.pg_addr().port().to_string();
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .args(["127.0.0.1", &port, "demo-postgres", &db])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run python3");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while child.try_wait().expect("wait for python3").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().expect("python3 output");
                panic!("pg8000 hung: {}", String::from_utf8_lossy(&out.stdout));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let out = child.wait_with_output().expect("python3 output");
        assert!(
            out.status.success(),
            "pg8000 failed (pip install pg8000?):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    })
    .await;
}
