//! The integration tests' TDS test origin (`tests/it/common/tds_origin.rs`: a TDS 7.4
//! server that executes a T-SQL subset on PostgreSQL — not SQL Server) run on its own,
//! for the TDS benchmark (`scripts/bench/tds.sh`). The test harness is included as it
//! is (`#[path]`), so the benchmark measures exactly the origin the tests use; nothing
//! here is part of wirecache.
//!
//! ```text
//! TDS_ORIGIN_PG_PORT=5432 cargo run --release --example tds_test_origin [setup DB ROWS]
//! ```
//!
//! `setup DB ROWS` (as PostgreSQL's `postgres` superuser, trust authentication) creates
//! database DB with SQL Server's catalog views and table `t (id int PRIMARY KEY, name
//! text)` of ROWS rows, then exits. Without it: listens on an ephemeral 127.0.0.1
//! port, prints `port=N`, serves until SIGTERM or SIGINT, then prints the origin's
//! counters (`statements=… selects=… logins=…`). TDS logins are PostgreSQL logins.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::too_many_lines)]

#[path = "../tests/it/common/mod.rs"]
mod common;

use common::tds_origin::{SYS_CATALOG, TdsOrigin};
use tokio::signal::unix::{SignalKind, signal};

async fn setup(pg_port: u16, db: &str, rows: u64) -> Result<(), tokio_postgres::Error> {
    let conn = |db: &str| format!("host=127.0.0.1 port={pg_port} user=postgres dbname={db}");
    let (admin, connection) =
        tokio_postgres::connect(&conn("postgres"), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    admin
        .batch_execute(&format!("CREATE DATABASE \"{db}\""))
        .await?;
    let (c, connection) = tokio_postgres::connect(&conn(db), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    c.batch_execute(SYS_CATALOG).await?;
    c.batch_execute(&format!(
        "CREATE TABLE t (id int PRIMARY KEY, name text);
         INSERT INTO t SELECT g, 'name ' || g FROM generate_series(1, {rows}) g;
         ANALYZE t;"
    ))
    .await
}

#[tokio::main]
async fn main() {
    let pg_port: u16 = std::env::var("TDS_ORIGIN_PG_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .expect("TDS_ORIGIN_PG_PORT: the PostgreSQL port");
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [cmd, db, rows] = args.as_slice()
        && cmd == "setup"
    {
        let rows = rows.parse().expect("ROWS: a number");
        if let Err(e) = setup(pg_port, db, rows).await {
            eprintln!("tds_test_origin: setup failed: {e}");
            std::process::exit(1);
        }
        return;
    }
    let origin = TdsOrigin::start(pg_port).await;
    println!("port={}", origin.port());
    let mut term = signal(SignalKind::terminate()).unwrap();
    let mut int = signal(SignalKind::interrupt()).unwrap();
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    println!(
        "statements={} selects={} logins={}",
        origin.statements(),
        origin.selects(),
        origin.logins()
    );
}
