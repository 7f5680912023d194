//! A randomized differential consistency checker (issue 8), in the spirit of
//! Jepsen's history checkers. Several client connections run seeded random
//! programs through wirecache; every statement is recorded with logical send and
//! acknowledgement times; every read is judged against the acknowledged commits
//! (see [`judge`]), each transaction by the property of its isolation level
//! (statement-level freshness for READ COMMITTED, a single snapshot for REPEATABLE
//! READ and PostgreSQL's SERIALIZABLE, held locks for InnoDB's SERIALIZABLE); a
//! failure prints the seed, the interleaved history of the offending key and a
//! replay script.
//!
//! The core (grammar, runner, history, judge, report) knows no protocol; a
//! protocol plugs in through [`driver::Target`] ([`postgres`], [`mysql`], [`tds`]).
//!
//! The run is cut into rounds: all connections run a slice of their programs, then
//! the round is judged and the origin's true state (read directly) becomes the next
//! round's baseline, so memory stays bounded however long the run.
//!
//! Environment: `WIRECACHE_CHECKER_OPS` (statements per protocol),
//! `WIRECACHE_CHECKER_SECONDS` (run for this long instead), `WIRECACHE_CHECKER_SEED`,
//! `WIRECACHE_CHECKER_CONNS`, `WIRECACHE_CHECKER_DDL=0` (no DDL on scratch tables),
//! `WIRECACHE_CHECKER_POOL` (`session` or `transaction`: the pooled runs' mode, see
//! [`pooled`]).

pub mod driver;
pub mod fleet;
pub mod grammar;
pub mod history;
pub mod judge;
pub mod model;
pub mod mysql;
pub mod mysql_sql;
pub mod pooled;
pub mod postgres;
pub mod postgres_sql;
pub mod report;
pub mod rng;
pub mod runner;
pub mod sql;
pub mod stats;
pub mod tds;
pub mod tds_sql;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use driver::Target;
use grammar::Grammar;
pub use grammar::Workload;
use history::{Clock, RoundLog};
use model::{KEYS, State};
use runner::Runner;
use stats::Stats;

/// Operations per protocol in the bounded (CI) run.
pub const CI_OPS: u64 = 5000;

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    /// Statements to send in all, over all connections.
    pub ops: u64,
    /// Run for this long instead of (or as well as, whichever ends first) `ops`.
    pub seconds: Option<u64>,
    pub conns: usize,
    /// Statements per connection per round.
    pub round_ops: u64,
    /// What the programs do (the self-tests run narrower ones).
    pub workload: Workload,
    /// DDL on scratch tables (`WIRECACHE_CHECKER_DDL=0` turns it off).
    pub ddl: bool,
    /// Print a progress line every so often (long runs).
    pub progress: bool,
}

impl Config {
    /// The bounded CI run, or the long run the environment asks for.
    pub fn from_env() -> Config {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let seconds = var("WIRECACHE_CHECKER_SECONDS");
        let ops = var("WIRECACHE_CHECKER_OPS");
        let long = seconds.is_some() || ops.is_some();
        let seed = var("WIRECACHE_CHECKER_SEED").unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(1, |d| d.as_nanos() as u64)
        });
        Config {
            seed,
            ops: ops.unwrap_or(if seconds.is_some() { u64::MAX } else { CI_OPS }),
            seconds,
            conns: var("WIRECACHE_CHECKER_CONNS").map_or(4, |n| n.max(1) as usize),
            round_ops: if long { 2500 } else { 250 },
            workload: Workload::Mixed,
            ddl: var("WIRECACHE_CHECKER_DDL") != Some(0),
            progress: long,
        }
    }
}

/// What a run found.
#[derive(Debug)]
pub struct Outcome {
    pub protocol: &'static str,
    pub seed: u64,
    pub stats: Stats,
    pub hits: f64,
    /// The proxy's metrics for the cache, at the end.
    pub metrics: String,
    pub violations: usize,
    /// Violations by verdict, in the order of [`judge::Verdict::ALL`].
    pub by_verdict: [usize; judge::Verdict::ALL.len()],
    /// Keys whose modelled final state differed from the origin's (a checker bug,
    /// or a write lost).
    pub mismatches: usize,
    pub report: String,
    /// Why the run stopped early (the origin went away), if it did.
    pub aborted: Option<String>,
    pub wall: Duration,
}

impl Outcome {
    pub fn summary(&self) -> String {
        let mut unexpected = String::new();
        if let Some(why) = &self.aborted {
            let _ = write!(unexpected, "\n  RUN STOPPED EARLY: {why}");
        }
        for u in &self.stats.unexpected {
            let _ = write!(unexpected, "\n  unexpected error: {u}");
        }
        format!(
            "checker {}: seed {}, {:.1?}\n{}\n  reads served from the cache (hits): {}\n{}\n  violations found: {} ({}); model mismatches: {}{}",
            self.protocol,
            self.seed,
            self.wall,
            self.stats,
            self.hits,
            self.metrics,
            self.violations,
            self.verdicts(),
            self.mismatches,
            unexpected
        )
    }

    /// How many violations of each verdict were found.
    pub fn verdicts(&self) -> String {
        let parts: Vec<String> = judge::Verdict::ALL
            .iter()
            .zip(self.by_verdict)
            .map(|(v, n)| format!("{} {n}", v.as_str()))
            .collect();
        parts.join(", ")
    }

    /// How many violations of `verdict` were found.
    pub fn found(&self, verdict: judge::Verdict) -> usize {
        judge::Verdict::ALL
            .iter()
            .position(|v| *v == verdict)
            .map_or(0, |i| self.by_verdict[i])
    }
}

/// Runs the checker against `target`.
pub async fn run<T: Target>(target: Arc<T>, cfg: &Config) -> Outcome {
    let started = Instant::now();
    let deadline = cfg.seconds.map(|s| started + Duration::from_secs(s));
    let grammar = Grammar {
        caps: target.caps(),
        workload: cfg.workload,
        ddl: cfg.ddl,
        home: 0,
    };
    let clock = Clock::default();
    let mut runners: Vec<Runner<T>> = (0..cfg.conns)
        .map(|c| Runner::new(target.clone(), c, clock.clone(), cfg.seed, grammar))
        .collect();
    warm_up(&*target).await;
    let mut baseline = truth(&*target).await;
    let (mut violations, mut mismatches, mut report) = (0, 0, String::new());
    let mut by_verdict = [0; judge::Verdict::ALL.len()];
    let mut done = 0u64;
    let mut aborted = None;
    let mut last_progress = Instant::now();
    while done < cfg.ops && deadline.is_none_or(|d| Instant::now() < d) {
        let per_conn = cfg
            .round_ops
            .min((cfg.ops - done).div_ceil(cfg.conns as u64));
        runners = run_round(runners, per_conn, deadline).await;
        let round = RoundLog::merge(
            runners
                .iter_mut()
                .map(|r| std::mem::take(&mut r.log))
                .collect(),
        );
        done = runners.iter().map(|r| r.stats.ops).sum();
        let found = judge::judge(&baseline, &round);
        if !found.is_empty() && violations < report::SHOWN {
            report.push_str(&report::violations(target.name(), cfg.seed, &round, &found));
        }
        violations += found.len();
        for v in &found {
            if let Some(i) = judge::Verdict::ALL.iter().position(|x| *x == v.verdict) {
                by_verdict[i] += 1;
            }
        }
        aborted = runners.iter().find_map(|r| r.fatal.clone());
        if aborted.is_some() {
            break;
        }
        let now = truth(&*target).await;
        mismatches += settle(&baseline, &round, &now, &mut report);
        baseline = now;
        if cfg.progress && last_progress.elapsed() > Duration::from_secs(10) {
            last_progress = Instant::now();
            eprintln!(
                "checker {}: {done} ops in {:.0?}, {violations} violations so far",
                target.name(),
                started.elapsed()
            );
        }
    }
    let mut stats = Stats::default();
    for r in &runners {
        stats.add(&r.stats);
    }
    Outcome {
        protocol: target.name(),
        seed: cfg.seed,
        stats,
        hits: target.hits().await,
        metrics: target.cache_metrics().await,
        violations,
        by_verdict,
        mismatches,
        report,
        aborted,
        wall: started.elapsed(),
    }
}

/// The lines of `/metrics` text about cache `cache` that say what happened to reads
/// and writes (and the shared result tier's answers, with `cluster.l2`).
pub fn cache_lines(metrics: &str, cache: &str) -> String {
    let label = format!("cache=\"{cache}\"");
    let names = [
        "hits_total",
        "hits_in_transaction_total",
        "misses_total",
        "fills_total",
        "bypasses_total",
        "invalidations_total",
        "pool_connections",
        "pool_wait_seconds_count",
    ];
    metrics
        .lines()
        .filter(|l| {
            (l.contains(&label) && names.iter().any(|n| l.contains(n)))
                || l.starts_with("wirecache_cluster_l2_hits_total")
                || (l.starts_with("wirecache_cluster_l2_misses_total") && !l.ends_with(" 0"))
        })
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sends every read shape once, on one connection, before the concurrent run, so
/// that wirecache learns what it asks its origin's catalog about the tables and the
/// view one question at a time. (Asked by several sessions at once, MariaDB 10.11
/// has been seen to crash on wirecache's catalog query; see the report of issue 8.)
async fn warm_up<T: Target>(target: &T) {
    use driver::Session as _;
    use model::{GROUPS, Path, ReadShape, Stmt};
    let mut session = match target.connect(0).await {
        Ok(s) => s,
        Err(f) => panic!("warm-up connection: {}", f.message),
    };
    for g in 0..GROUPS {
        let key = g + GROUPS;
        for shape in [
            ReadShape::Point(key),
            ReadShape::Range(key, key + 1),
            ReadShape::Group(g),
            ReadShape::Join(g),
            ReadShape::Aggregate(g),
            ReadShape::View(g),
        ] {
            for path in [Path::Text, Path::Prepared] {
                if let Err(f) = session.run(&Stmt::Read(shape, path)).await {
                    panic!("warm-up read {shape:?}: {}", f.message);
                }
            }
        }
    }
}

async fn run_round<T: Target>(
    runners: Vec<Runner<T>>,
    per_conn: u64,
    deadline: Option<Instant>,
) -> Vec<Runner<T>> {
    let tasks: Vec<_> = runners
        .into_iter()
        .map(|mut r| {
            tokio::spawn(async move {
                r.round(per_conn, deadline).await;
                r
            })
        })
        .collect();
    let mut back = Vec::new();
    for t in tasks {
        match t.await {
            Ok(r) => back.push(r),
            Err(e) => panic!("a checker connection panicked: {e}"),
        }
    }
    back
}

async fn truth<T: Target>(target: &T) -> HashMap<i64, State> {
    match target.truth().await {
        Ok(t) => t,
        Err(f) => panic!("reading the origin's state failed: {}", f.message),
    }
}

/// Compares the modelled final state of each key with the origin's; returns how
/// many differ (and describes them in `report`).
fn settle(
    baseline: &HashMap<i64, State>,
    round: &RoundLog,
    truth: &HashMap<i64, State>,
    report: &mut String,
) -> usize {
    let timeline = judge::Timeline::new(baseline, &round.commits);
    let mut bad = 0;
    for key in 1..=KEYS {
        let (Some(model), Some(real)) = (timeline.final_state(key), truth.get(&key)) else {
            continue;
        };
        if model != *real {
            bad += 1;
            let _ = writeln!(
                report,
                "model mismatch: key {key} modelled {} but the origin has {}",
                model.describe(),
                real.describe()
            );
        }
    }
    bad
}
