//! A multi-client TDS load driver for `scripts/bench/tds.sh`, on wirecache's own TDS
//! client (`protocol::tds::client`, the one `wirecache latency-test mssql://…` uses):
//! CLIENTS connections, each logged in once, each running SQLBatch point lookups back
//! to back for SECONDS, after WARMUP seconds not counted. Prints one JSON line:
//! throughput, latency percentiles (nearest rank, every execution timed), errors.
//!
//! ```text
//! TDS_PASSWORD=… cargo run --release --example tds_load -- \
//!     HOST:PORT USER DATABASE MODE CLIENTS SECONDS WARMUP KEYS [COUNT]
//! ```
//!
//! With COUNT, each client runs exactly COUNT executions instead (SECONDS and WARMUP
//! are then ignored, every execution is timed): `scripts/bench/ir-tds.sh` counts the
//! instructions of a known number of requests.
//!
//! MODE `hot`: `SELECT id, name FROM t WHERE id = K`, K among the first KEYS ids (all
//! hits through wirecache once each text is cached). MODE `miss`: the same lookup made
//! unique per execution (`… AND N = N`, N a global sequence), so every one is a miss.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wirecache::latency::stats;
use wirecache::protocol::tds::client::{Connection, Target};
use wirecache::protocol::tds::client_login::Credentials;

struct Plan {
    addr: String,
    user: String,
    password: String,
    database: String,
    miss: bool,
    seconds: f64,
    warmup: f64,
    keys: u64,
    /// Executions per client, instead of a duration.
    count: Option<u64>,
}

/// One client's loop: its timed latencies and its error count.
async fn client(plan: Arc<Plan>, index: u64, seq: Arc<AtomicU64>) -> (Vec<Duration>, u64) {
    let target = Target {
        origin: &plan.addr,
        tls: None,
        timeout: Duration::from_secs(10),
    };
    let creds = Credentials {
        user: &plan.user,
        password: &plan.password,
        database: &plan.database,
        app: "wirecache tds_load",
    };
    let mut conn = Connection::login(&target, &creds).await.unwrap();
    let start = Instant::now();
    let (warm, end) = (
        Duration::from_secs_f64(plan.warmup),
        Duration::from_secs_f64(plan.warmup + plan.seconds),
    );
    // xorshift64, a different stream per client.
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (index + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let (mut timed, mut errors) = (Vec::new(), 0u64);
    let mut done = 0u64;
    loop {
        let elapsed = start.elapsed();
        let finished = match plan.count {
            Some(count) => done >= count,
            None => elapsed >= end,
        };
        if finished {
            break;
        }
        done += 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let key = x % plan.keys + 1;
        let sql = if plan.miss {
            let n = seq.fetch_add(1, Ordering::Relaxed);
            format!("SELECT id, name FROM t WHERE id = {key} AND {n} = {n}")
        } else {
            format!("SELECT id, name FROM t WHERE id = {key}")
        };
        let t0 = Instant::now();
        let answer = conn.batch(&sql).await;
        let took = t0.elapsed();
        let ok = matches!(&answer, Ok(a) if a.error.is_none() && a.rows == 1);
        if plan.count.is_some() || elapsed >= warm {
            if ok {
                timed.push(took);
            } else {
                errors += 1;
            }
        }
    }
    conn.close().await;
    (timed, errors)
}

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    assert!(
        a.len() == 8 || a.len() == 9,
        "usage: tds_load HOST:PORT USER DATABASE hot|miss CLIENTS SECONDS WARMUP KEYS [COUNT]"
    );
    let clients: u64 = a[4].parse().unwrap();
    let plan = Arc::new(Plan {
        addr: a[0].clone(),
        user: a[1].clone(),
        password: std::env::var("TDS_PASSWORD").unwrap_or_default(),
        database: a[2].clone(),
        miss: a[3] == "miss",
        seconds: a[5].parse().unwrap(),
        warmup: a[6].parse().unwrap(),
        keys: a[7].parse().unwrap(),
        count: a.get(8).map(|c| c.parse().unwrap()),
    });
    // Miss mode: texts unique across runs too (no hit on an earlier run's entry).
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let seq = Arc::new(AtomicU64::new(epoch << 8));
    let tasks: Vec<_> = (0..clients)
        .map(|i| tokio::spawn(client(plan.clone(), i, seq.clone())))
        .collect();
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (timed, e) = t.await.unwrap();
        all.extend(timed);
        errors += e;
    }
    let s = stats::summarize(&all).expect("no successful execution");
    let seconds = match plan.count {
        Some(_) => s.mean_us * s.count as f64 / 1e6 / clients as f64,
        None => plan.seconds,
    };
    println!(
        "{{\"mode\":\"{}\",\"clients\":{clients},\"seconds\":{},\"ops\":{},\"ops_per_s\":{:.1},\"p50_us\":{:.1},\"p99_us\":{:.1},\"mean_us\":{:.1},\"errors\":{errors}}}",
        a[3],
        seconds,
        s.count,
        s.count as f64 / seconds,
        s.p50_us,
        s.p99_us,
        s.mean_us
    );
}
