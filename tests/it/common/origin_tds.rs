//! The shared consistency suite's adapter for SQL Server's protocol ([`Tds`]): the
//! test TDS origin (`tds_origin`, executing on the private PostgreSQL) behind
//! wirecache's TDS listener, driven by tiberius: text statements as SQLBatch,
//! prepared ones as `sp_executesql` with `@P1…` parameters. The data lives in
//! PostgreSQL, so schemas are set up in PostgreSQL's dialect (`Sql::postgres`) straight
//! on it. Which promises are not run on TDS, and why: [`for_tds!`](crate::for_tds).

use std::sync::OnceLock;
use std::time::Duration;

use tiberius::{AuthMethod, ColumnData, Config, EncryptionLevel, ToSql};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::origin::{Client, DbError, Origin, Rows, Sql, Via};
use super::pg::{PgOrigin, SUPERUSER};
use super::proxy::{Protocol, Proxy, ProxyBuilder};
use super::tds_origin::{SYS_CATALOG, TdsOrigin};

/// The test TDS origin in front of the shared PostgreSQL, serving from a runtime of
/// its own (the tests' runtimes end with each test).
pub struct Tds {
    pg: &'static PgOrigin,
    port: u16,
}

static SHARED: OnceLock<Tds> = OnceLock::new();

/// A tiberius connection through wirecache.
pub struct TdsClient {
    client: tiberius::Client<Compat<TcpStream>>,
}

fn tds_error(e: tiberius::error::Error) -> DbError {
    match e {
        tiberius::error::Error::Server(t) => DbError {
            code: t.code().to_string(),
            message: t.message().to_string(),
        },
        other => DbError {
            code: String::new(),
            message: other.to_string(),
        },
    }
}

fn cell(d: &ColumnData<'_>) -> Option<String> {
    match d {
        ColumnData::U8(v) => v.map(|v| v.to_string()),
        ColumnData::I16(v) => v.map(|v| v.to_string()),
        ColumnData::I32(v) => v.map(|v| v.to_string()),
        ColumnData::I64(v) => v.map(|v| v.to_string()),
        ColumnData::Bit(v) => v.map(|v| v.to_string()),
        ColumnData::String(v) => v.as_ref().map(|s| s.to_string()),
        other => panic!("a column type the suite does not read: {other:?}"),
    }
}

impl TdsClient {
    async fn connect(proxy: &Proxy, db: &str, user: &str) -> TdsClient {
        let port = proxy.addr(Protocol::MsSql).port();
        let mut config = Config::new();
        config.host("127.0.0.1");
        config.port(port);
        config.database(db);
        config.authentication(AuthMethod::sql_server(format!("demo-{user}"), "trusted"));
        config.encryption(EncryptionLevel::NotSupported);
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let client = tiberius::Client::connect(config, tcp.compat_write())
            .await
            .unwrap_or_else(|e| panic!("connect as {user}: {e}"));
        TdsClient { client }
    }
}

impl Client for TdsClient {
    async fn query(&mut self, via: Via, sql: &str, params: &[i64]) -> Result<Rows, DbError> {
        let stream = match via {
            Via::Text => {
                assert!(params.is_empty(), "text statements take no parameters");
                self.client.simple_query(sql).await
            }
            Via::Prepared => {
                let args: Vec<&dyn ToSql> = params.iter().map(|p| p as &dyn ToSql).collect();
                self.client.query(sql, &args).await
            }
        }
        .map_err(tds_error)?;
        let rows = stream.into_first_result().await.map_err(tds_error)?;
        Ok(rows
            .into_iter()
            .map(|r| r.cells().map(|(_, d)| cell(d)).collect())
            .collect())
    }

    async fn execute(&mut self, via: Via, sql: &str, params: &[i64]) -> Result<(), DbError> {
        match via {
            Via::Text => {
                assert!(params.is_empty(), "text statements take no parameters");
                let stream = self.client.simple_query(sql).await.map_err(tds_error)?;
                stream.into_results().await.map_err(tds_error)?;
            }
            Via::Prepared => {
                let args: Vec<&dyn ToSql> = params.iter().map(|p| p as &dyn ToSql).collect();
                self.client.execute(sql, &args).await.map_err(tds_error)?;
            }
        }
        Ok(())
    }

    /// Nothing is owed: without MARS a TDS client reads each answer whole.
    async fn settle(&mut self) {}

    async fn close(self) {
        drop(self.client);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl Origin for Tds {
    type Client = TdsClient;
    const NAME: &'static str = "mssql";
    const BEGIN: &'static str = "BEGIN TRAN";
    const AUTOCOMMIT_OFF: Option<&'static str> = None;
    const CROSS_DATABASE: bool = false;
    const CACHES_NESTED_VIEWS: bool = false;

    fn shared() -> &'static Self {
        SHARED.get_or_init(|| {
            let pg = PgOrigin::shared();
            let (tx, rx) = std::sync::mpsc::channel();
            let pg_port = pg.port;
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let origin = TdsOrigin::start(pg_port).await;
                    tx.send(origin.port()).unwrap();
                    std::future::pending::<()>().await;
                });
            });
            Tds {
                pg,
                port: rx.recv().unwrap(),
            }
        })
    }

    fn create_db(&self, prefix: &str) -> String {
        let db = self.pg.create_db(prefix);
        self.pg.psql(&db, SYS_CATALOG);
        db
    }

    fn run(&self, db: &str, sql: &str) -> String {
        self.pg.psql(db, sql)
    }

    fn proxy(&self) -> ProxyBuilder {
        Proxy::builder().cache("demo", Protocol::MsSql, self.port)
    }

    async fn connect(proxy: &Proxy, db: &str) -> TdsClient {
        TdsClient::connect(proxy, db, SUPERUSER).await
    }

    async fn connect_as(proxy: &Proxy, db: Option<&str>, user: &str) -> TdsClient {
        let db = db.expect("the test origin's sessions always have a database");
        TdsClient::connect(proxy, db, user).await
    }

    fn grant_select(&self, db: &str, table: &str, user: &str) {
        self.pg
            .psql(db, &format!("GRANT SELECT ON {table} TO {user};"));
    }

    fn is_access_denied(e: &DbError) -> bool {
        e.message.contains("permission denied")
    }

    /// The test origin counts over every database, and tests run concurrently.
    fn reads_at_origin(&self, _db: &str) -> Option<i64> {
        None
    }

    fn selects_of(&self, db: &str, table: &str) -> i64 {
        let sql = format!(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d \
             ON d.oid = s.dbid WHERE d.datname = '{db}' AND s.query ILIKE 'SELECT%{table}%'"
        );
        self.pg.psql("postgres", &sql).trim().parse().unwrap_or(-1)
    }

    fn placeholder(n: usize) -> String {
        format!("@P{n}")
    }

    /// SQL Server's `OUTPUT inserted.v` is not in the test origin's subset.
    fn returning(_update: &str, _column: &str) -> Option<String> {
        None
    }

    fn qualified(ns: &str, table: &str) -> String {
        format!("{ns}.{table}")
    }

    fn namespaces(&self, prefix: &str) -> (String, [String; 2]) {
        let db = self.create_db(prefix);
        self.pg.psql(
            &db,
            "CREATE SCHEMA a; CREATE SCHEMA b;
             CREATE TABLE a.t (v int); CREATE TABLE b.t (v int);
             INSERT INTO a.t VALUES (1); INSERT INTO b.t VALUES (2);",
        );
        (db, ["a".to_string(), "b".to_string()])
    }

    /// The test origin passes `SET search_path` to PostgreSQL (SQL Server's schemas
    /// are per user, not per session); for wirecache it is a `SET` like any other.
    fn use_namespace(ns: &str) -> String {
        format!("SET search_path = {ns}")
    }

    fn prepare_two_phase(_xid: &str, _write: &str) -> Vec<String> {
        panic!("two-phase commit is not run on TDS (the test origin has none)")
    }

    fn commit_prepared(_xid: &str) -> String {
        panic!("two-phase commit is not run on TDS (the test origin has none)")
    }

    /// The test origin keeps its data in PostgreSQL: DDL is PostgreSQL's.
    fn pick(sql: &Sql) -> &'static str {
        sql.postgres
    }
}

/// Runs each named generic promise against [`Tds`] too, as `NAME::mssql`. The shared
/// lists (`for_each_origin!`) stay PostgreSQL and MariaDB: the promises about views
/// (the TDS path does not cache views yet), immutable user functions (the TDS catalog
/// does not judge them), `COMMIT AND CHAIN` and two-phase commit (not T-SQL), and
/// isolation levels (`txn_reads`: the test origin ignores `SET TRANSACTION ISOLATION
/// LEVEL`) are not run on TDS.
#[macro_export]
macro_rules! for_tds {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mssql() {
                    super::super::$name::<$crate::common::origin_tds::Tds>().await;
                }
            }
        )*
    };
}
