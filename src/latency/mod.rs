//! `wirecache latency-test`: runs one query N times straight at the origin and N
//! times through wirecache (one connection each, sequentially, after one warm-up
//! execution each) and reports both latency distributions — min, p50, p90, p99,
//! max, a text histogram on shared buckets — and the ratio of the medians, as text
//! or JSON. Needs no configuration file.
//!
//! [`stats`] holds the pure arithmetic, [`client`] the PostgreSQL, MySQL and SQL
//! Server clients ([`mssql`]: its URLs and wirecache's own TDS client).

pub mod client;
pub mod mssql;
pub mod stats;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use client::{Client, Kind, LatencyError, check_url, redact};
use stats::{Bucket, Summary};

/// Buckets of the text histogram.
const HISTOGRAM_BUCKETS: usize = 12;
/// Width of the longest histogram bar.
const BAR_WIDTH: usize = 40;

/// Command-line arguments of `wirecache latency-test`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The origin itself: postgres://user:pw@host:port/db, mysql://… or
    /// mssql://user:pw@host:port/db[?encrypt=disable|prefer|require|verify-ca|verify-full&ca=FILE].
    #[arg(long)]
    pub direct: String,
    /// The same database through wirecache (cache ID in front of the user name).
    #[arg(long)]
    pub via: String,
    /// The SQL to run.
    #[arg(long)]
    pub query: String,
    /// Executions per side (after one warm-up each).
    #[arg(short = 'n', default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub n: u32,
    /// Prepare the query once and execute the prepared statement (default: simple query;
    /// not for mssql://).
    #[arg(long)]
    pub prepared: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One side's measurements.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The URL, password redacted.
    pub url: String,
    pub kind: &'static str,
    /// Rows returned by the last execution.
    pub rows: u64,
    /// Executions whose row count differed from the warm-up's.
    pub row_mismatches: u32,
    #[serde(flatten)]
    pub summary: Summary,
    pub histogram: Vec<Bucket>,
}

/// Both sides and how they compare.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub query: String,
    pub n: u32,
    pub protocol: &'static str,
    pub direct: RunReport,
    pub via: RunReport,
    /// Direct p50 divided by via p50: above 1, wirecache is faster.
    pub p50_ratio: f64,
}

/// One side's raw samples before they are summarised.
struct Samples {
    url: String,
    kind: Kind,
    rows: u64,
    row_mismatches: u32,
    latencies: Vec<Duration>,
}

/// Connects, warms up once, then times `n` sequential executions.
async fn measure(side: client::Side, url: &str, args: &Args) -> Result<Samples, LatencyError> {
    let kind = check_url(side, url, args.prepared)?;
    let mut client = Client::connect(side, url, &args.query, args.prepared).await?;
    let expected = client.run(side, &args.query).await?;
    let mut latencies = Vec::with_capacity(args.n as usize);
    let mut rows = expected;
    let mut row_mismatches = 0;
    for _ in 0..args.n {
        let started = Instant::now();
        rows = client.run(side, &args.query).await?;
        latencies.push(started.elapsed());
        if rows != expected {
            row_mismatches += 1;
        }
    }
    client.close().await;
    Ok(Samples {
        url: redact(url),
        kind,
        rows,
        row_mismatches,
        latencies,
    })
}

fn report_of(s: Samples, edges: &[f64]) -> Option<RunReport> {
    Some(RunReport {
        summary: stats::summarize(&s.latencies)?,
        histogram: stats::histogram(&s.latencies, edges),
        url: s.url,
        kind: s.kind.as_str(),
        rows: s.rows,
        row_mismatches: s.row_mismatches,
    })
}

/// Runs the test: first the direct side, then the side through wirecache.
pub async fn run(args: &Args) -> Result<Report, LatencyError> {
    let direct = measure("direct", &args.direct, args).await?;
    let via = measure("via", &args.via, args).await?;
    let edges = stats::log_edges(&[&direct.latencies, &via.latencies], HISTOGRAM_BUCKETS);
    let no_samples = || LatencyError::Query {
        side: "direct",
        message: "no executions".into(),
    };
    let direct = report_of(direct, &edges).ok_or_else(no_samples)?;
    let via = report_of(via, &edges).ok_or_else(no_samples)?;
    let p50_ratio = if via.summary.p50_us > 0.0 {
        direct.summary.p50_us / via.summary.p50_us
    } else {
        f64::INFINITY
    };
    Ok(Report {
        query: args.query.clone(),
        n: args.n,
        protocol: if args.prepared { "prepared" } else { "simple" },
        direct,
        via,
        p50_ratio,
    })
}

/// The report as a human reads it.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "query:    {}", r.query);
    let _ = writeln!(
        out,
        "runs:     {} per side, {} protocol, one connection each, after one warm-up\n",
        r.n, r.protocol
    );
    let _ = writeln!(
        out,
        "{:<8} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "", "rows", "min", "p50", "p90", "p99", "max", "mean"
    );
    for (name, run) in [("direct", &r.direct), ("via", &r.via)] {
        let s = &run.summary;
        let _ = writeln!(
            out,
            "{name:<8} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            run.rows,
            stats::human_us(s.min_us),
            stats::human_us(s.p50_us),
            stats::human_us(s.p90_us),
            stats::human_us(s.p99_us),
            stats::human_us(s.max_us),
            stats::human_us(s.mean_us),
        );
    }
    let verdict = if r.p50_ratio >= 1.0 {
        format!("wirecache is {:.2}x faster", r.p50_ratio)
    } else {
        format!("wirecache is {:.2}x slower", 1.0 / r.p50_ratio)
    };
    let _ = writeln!(
        out,
        "\np50 direct / p50 via = {:.2} ({verdict})",
        r.p50_ratio
    );
    for (name, run) in [("direct", &r.direct), ("via", &r.via)] {
        if run.row_mismatches > 0 {
            let _ = writeln!(
                out,
                "note: {name}: {} executions returned a different row count than the warm-up",
                run.row_mismatches
            );
        }
    }
    render_histograms(&mut out, r);
    out
}

/// Both sides' latency histograms, bars on one scale.
fn render_histograms(out: &mut String, r: &Report) {
    let max = [&r.direct, &r.via]
        .iter()
        .flat_map(|run| run.histogram.iter().map(|b| b.count))
        .max()
        .unwrap_or(0);
    for (name, run) in [("direct", &r.direct), ("via", &r.via)] {
        let _ = writeln!(out, "\n{name}: {}", run.url);
        for b in &run.histogram {
            let _ = writeln!(
                out,
                "  {:>9} .. {:>9} |{:<width$}| {}",
                stats::human_us(b.lo_us),
                stats::human_us(b.hi_us),
                stats::bar(b.count, max, BAR_WIDTH),
                b.count,
                width = BAR_WIDTH
            );
        }
    }
}

/// Exit code for a malformed URL (sysexits EX_USAGE).
const EXIT_USAGE: u8 = 64;

/// The subcommand: runs the test on a single-threaded runtime and prints the report.
pub fn main(args: &Args) -> ExitCode {
    for (side, url) in [("direct", &args.direct), ("via", &args.via)] {
        if let Err(e) = check_url(side, url, args.prepared) {
            eprintln!("wirecache: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    }
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(LatencyError::Runtime)
        .and_then(|rt| rt.block_on(run(args)));
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wirecache: latency-test: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("wirecache: latency-test: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", render_text(&report));
    }
    ExitCode::SUCCESS
}
