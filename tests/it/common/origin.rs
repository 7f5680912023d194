//! One interface to every kind of origin, so the consistency promises (design §4) are
//! written once and run against each protocol: [`Origin`] starts a private origin,
//! runs SQL straight against it, puts a wirecache in front of it and connects a client
//! through it, and names the few dialect differences; [`Client`] sends a statement as
//! text or prepared. Adapters: [`Postgres`] (PostgreSQL, tokio-postgres) and
//! [`MariaDb`] (MariaDB through wirecache's MySQL listener, mysql_async).
//!
//! A new protocol is one more adapter (and one more field in [`Sql`]); the shared
//! suites (`consistency`, `transactions`) then run against it through
//! [`for_each_origin!`](crate::for_each_origin).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use tokio_postgres::types::{ToSql, Type};

use super::mysql::{self, MyOrigin, ROOT_PASSWORD, ROOT_USER};
use super::pg::PgOrigin;
use super::proxy::{Proxy, ProxyBuilder};

/// How a statement travels: as text (PostgreSQL simple query, MySQL COM_QUERY) or
/// prepared (PostgreSQL extended protocol, MySQL COM_STMT_PREPARE/EXECUTE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Text,
    Prepared,
}

/// Both ways, text first.
pub const BOTH: [Via; 2] = [Via::Text, Via::Prepared];

/// An error the origin (through wirecache) answered, or the driver's own.
#[derive(Debug)]
pub struct DbError {
    /// SQLSTATE (PostgreSQL) or error number (MySQL); empty for a driver error.
    pub code: String,
    pub message: String,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)
    }
}

/// Rows as text (`None` for NULL).
pub type Rows = Vec<Vec<Option<String>>>;

/// SQL whose text differs between dialects (DDL of triggers, routines, engines).
pub struct Sql {
    pub postgres: &'static str,
    pub mariadb: &'static str,
}

/// A client connection through wirecache.
pub trait Client: Send + Sized + 'static {
    /// Runs `sql` (with `params` for its placeholders, prepared only) and returns the
    /// rows of its (first) result.
    fn query(
        &mut self,
        via: Via,
        sql: &str,
        params: &[i64],
    ) -> impl Future<Output = Result<Rows, DbError>> + Send;

    /// Runs `sql` for its effect. As text it may hold several statements.
    fn execute(
        &mut self,
        via: Via,
        sql: &str,
        params: &[i64],
    ) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Prepares each text once and reuses the statement from then on (mysql_async
    /// does so anyway).
    fn keep_statements(&mut self) {}

    /// Waits until the origin is done with everything sent so far on this connection:
    /// what the driver sent on its own (PostgreSQL: the Close of a statement prepared
    /// per call) is answered, and the last statement is fully accounted for (MariaDB
    /// counts a statement in performance_schema only after its answer went out; it
    /// answers a COM_PING after that).
    fn settle(&mut self) -> impl Future<Output = ()> + Send;

    /// Closes the connection the way the driver does when the application lets go of
    /// it, and waits until the origin can have noticed.
    fn close(self) -> impl Future<Output = ()> + Send;
}

/// A kind of origin and its dialect.
pub trait Origin: Send + Sync + Sized + 'static {
    type Client: Client;

    /// Names the protocol in messages.
    const NAME: &'static str;
    /// Begins a transaction explicitly.
    const BEGIN: &'static str;
    /// Turns autocommit off for the session, where the dialect has such a switch.
    const AUTOCOMMIT_OFF: Option<&'static str>;
    /// Whether a query of one database may name a table of another (`db.table`).
    const CROSS_DATABASE: bool;
    /// Whether wirecache caches a query over a view of a view (PostgreSQL knows the
    /// dependencies from its catalog; for MySQL it never caches one).
    const CACHES_NESTED_VIEWS: bool;

    /// The private origin shared by this test process (started on first use).
    fn shared() -> &'static Self;

    /// A fresh database `<prefix>_<pid>_<n>`.
    fn create_db(&self, prefix: &str) -> String;

    /// Runs SQL straight against the origin as its superuser (several statements
    /// allowed) and returns the output: one line per row, tab or `|` between columns.
    fn run(&self, db: &str, sql: &str) -> String;

    /// The caches of a wirecache in front of this origin; `demo` is the one tests
    /// connect through.
    fn proxy(&self) -> ProxyBuilder;

    /// Connects through wirecache's `demo` cache as the superuser.
    fn connect(proxy: &Proxy, db: &str) -> impl Future<Output = Self::Client> + Send;

    /// Connects through `demo` as one of the plain users `alice` and `bob`, with
    /// `db` as the default database (`None`: none, where the dialect allows it).
    fn connect_as(
        proxy: &Proxy,
        db: Option<&str>,
        user: &str,
    ) -> impl Future<Output = Self::Client> + Send;

    /// Lets `user` read `table` of `db` (at least).
    fn grant_select(&self, db: &str, table: &str, user: &str);

    /// Whether `e` says the user may not read a table.
    fn is_access_denied(e: &DbError) -> bool;

    /// How many SELECTs the origin executed in `db`, if it can tell (proof that a hit
    /// did not reach it).
    fn reads_at_origin(&self, db: &str) -> Option<i64>;

    /// How many SELECTs naming `table` the origin executed in `db` (PostgreSQL:
    /// pg_stat_statements, text and prepared; MariaDB: performance_schema, text only,
    /// counted once the statement's answer went out, see [`Client::settle`]).
    fn selects_of(&self, db: &str, table: &str) -> i64;

    /// The `n`th (from 1) placeholder of a prepared statement.
    fn placeholder(n: usize) -> String;

    /// `update` extended to return the new value of `column`, if the dialect can.
    fn returning(update: &str, column: &str) -> Option<String>;

    /// `table` of the namespace `ns`, qualified.
    fn qualified(ns: &str, table: &str) -> String;

    /// Two namespaces (schemas of one database, or databases), each holding a table
    /// `t (v int)` whose one row is `v = 1` in the first and `2` in the second.
    /// Returns the database to connect to and the namespaces' names.
    fn namespaces(&self, prefix: &str) -> (String, [String; 2]);

    /// Makes `ns` the namespace of the session's unqualified names.
    fn use_namespace(ns: &str) -> String;

    /// Statements that begin a transaction with the global ID `xid`, apply `write`
    /// and prepare it for a two-phase commit (left open when the session ends).
    fn prepare_two_phase(xid: &str, write: &str) -> Vec<String>;

    /// Commits the prepared transaction `xid` (from any session).
    fn commit_prepared(xid: &str) -> String;

    /// This dialect's text of `sql`.
    fn pick(sql: &Sql) -> &'static str;
}

/// The first column of the first row of `sql`, as a number.
pub async fn int<C: Client>(c: &mut C, via: Via, sql: &str) -> i64 {
    int_with(c, via, sql, &[]).await
}

/// Like [`int`], with parameters.
pub async fn int_with<C: Client>(c: &mut C, via: Via, sql: &str, params: &[i64]) -> i64 {
    let rows = c
        .query(via, sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql} ({via:?}): {e}"));
    let value = rows.first().and_then(|r| r.first()).cloned().flatten();
    value
        .as_deref()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{sql} ({via:?}): not a number: {rows:?}"))
}

/// Runs `sql` for its effect and panics on an error.
pub async fn exec<C: Client>(c: &mut C, via: Via, sql: &str) {
    exec_with(c, via, sql, &[]).await;
}

/// Like [`exec`], with parameters.
pub async fn exec_with<C: Client>(c: &mut C, via: Via, sql: &str, params: &[i64]) {
    c.execute(via, sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql} ({via:?}): {e}"));
}

// --- PostgreSQL -------------------------------------------------------------------

/// PostgreSQL 15 ([`PgOrigin`]) behind wirecache's PostgreSQL listener.
pub type Postgres = PgOrigin;

/// A tokio-postgres connection. Prepared statements are prepared per call and closed
/// after it (what `Client::query(&str, …)` does), unless [`Client::keep_statements`]
/// asked to keep them.
pub struct PgClient {
    pub client: tokio_postgres::Client,
    kept: Option<HashMap<String, tokio_postgres::Statement>>,
}

impl PgClient {
    pub fn new(client: tokio_postgres::Client) -> PgClient {
        PgClient { client, kept: None }
    }

    async fn statement(&mut self, sql: &str) -> Result<tokio_postgres::Statement, DbError> {
        if let Some(stmt) = self.kept.as_ref().and_then(|k| k.get(sql)) {
            return Ok(stmt.clone());
        }
        let stmt = self.client.prepare(sql).await.map_err(pg_error)?;
        if let Some(kept) = self.kept.as_mut() {
            kept.insert(sql.to_string(), stmt.clone());
        }
        Ok(stmt)
    }

    async fn prepared_rows(&mut self, sql: &str, params: &[i64]) -> Result<Rows, DbError> {
        let stmt = self.statement(sql).await?;
        let args = pg_params(stmt.params(), params);
        let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref() as _).collect();
        let rows = self.client.query(&stmt, &refs).await.map_err(pg_error)?;
        Ok(rows.iter().map(pg_row).collect())
    }
}

/// Each `i64` as the type the statement's parameter has.
fn pg_params(types: &[Type], params: &[i64]) -> Vec<Box<dyn ToSql + Sync + Send>> {
    assert_eq!(types.len(), params.len(), "parameters");
    types
        .iter()
        .zip(params)
        .map(|(ty, &v)| -> Box<dyn ToSql + Sync + Send> {
            if *ty == Type::INT2 {
                Box::new(i16::try_from(v).expect("int2"))
            } else if *ty == Type::INT4 {
                Box::new(i32::try_from(v).expect("int4"))
            } else if *ty == Type::INT8 {
                Box::new(v)
            } else {
                Box::new(v.to_string())
            }
        })
        .collect()
}

/// A row of the extended protocol as text.
fn pg_row(row: &tokio_postgres::Row) -> Vec<Option<String>> {
    (0..row.len())
        .map(|i| {
            let ty = row.columns()[i].type_();
            if *ty == Type::INT2 {
                row.get::<_, Option<i16>>(i).map(|v| v.to_string())
            } else if *ty == Type::INT4 {
                row.get::<_, Option<i32>>(i).map(|v| v.to_string())
            } else if *ty == Type::INT8 {
                row.get::<_, Option<i64>>(i).map(|v| v.to_string())
            } else if *ty == Type::BOOL {
                row.get::<_, Option<bool>>(i).map(|v| v.to_string())
            } else {
                row.get::<_, Option<String>>(i)
            }
        })
        .collect()
}

fn pg_error(e: tokio_postgres::Error) -> DbError {
    let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
    let message = match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    };
    DbError { code, message }
}

impl Client for PgClient {
    /// Prepares each text once and reuses it (Bind/Execute only, no Close owed).
    fn keep_statements(&mut self) {
        self.kept.get_or_insert_with(HashMap::new);
    }

    async fn query(&mut self, via: Via, sql: &str, params: &[i64]) -> Result<Rows, DbError> {
        match via {
            Via::Text => {
                assert!(params.is_empty(), "text statements take no parameters");
                let messages = self.client.simple_query(sql).await.map_err(pg_error)?;
                Ok(messages
                    .iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(r) => {
                            Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                        }
                        _ => None,
                    })
                    .collect())
            }
            Via::Prepared => self.prepared_rows(sql, params).await,
        }
    }

    async fn execute(&mut self, via: Via, sql: &str, params: &[i64]) -> Result<(), DbError> {
        match via {
            Via::Text => {
                assert!(params.is_empty(), "text statements take no parameters");
                self.client.batch_execute(sql).await.map_err(pg_error)
            }
            Via::Prepared => {
                let stmt = self.statement(sql).await?;
                let args = pg_params(stmt.params(), params);
                let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref() as _).collect();
                self.client
                    .execute(&stmt, &refs)
                    .await
                    .map(drop)
                    .map_err(pg_error)
            }
        }
    }

    async fn settle(&mut self) {
        // Answered after the Close+Sync tokio-postgres sent when a statement dropped.
        self.client.simple_query("").await.expect("empty query");
    }

    async fn close(self) {
        drop(self.client);
        // The connection task sends Terminate; give wirecache and the origin a moment.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl Origin for PgOrigin {
    type Client = PgClient;
    const NAME: &'static str = "postgres";
    const BEGIN: &'static str = "BEGIN";
    const AUTOCOMMIT_OFF: Option<&'static str> = None;
    const CROSS_DATABASE: bool = false;
    const CACHES_NESTED_VIEWS: bool = true;

    fn shared() -> &'static Self {
        PgOrigin::shared()
    }

    fn create_db(&self, prefix: &str) -> String {
        PgOrigin::create_db(self, prefix)
    }

    fn run(&self, db: &str, sql: &str) -> String {
        self.psql(db, sql)
    }

    fn proxy(&self) -> ProxyBuilder {
        Proxy::builder().postgres_demo(self.port)
    }

    async fn connect(proxy: &Proxy, db: &str) -> PgClient {
        PgClient::new(proxy.connect(db, super::pg::SUPERUSER).await)
    }

    async fn connect_as(proxy: &Proxy, db: Option<&str>, user: &str) -> PgClient {
        let db = db.expect("a PostgreSQL session always has a database");
        PgClient::new(proxy.connect(db, user).await)
    }

    fn grant_select(&self, db: &str, table: &str, user: &str) {
        self.psql(db, &format!("GRANT SELECT ON {table} TO {user};"));
    }

    fn is_access_denied(e: &DbError) -> bool {
        e.code == tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE.code()
    }

    fn reads_at_origin(&self, _db: &str) -> Option<i64> {
        None
    }

    fn selects_of(&self, db: &str, table: &str) -> i64 {
        let sql = format!(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d \
             ON d.oid = s.dbid WHERE d.datname = '{db}' AND s.query ILIKE 'SELECT%{table}%'"
        );
        self.psql("postgres", &sql).trim().parse().unwrap_or(-1)
    }

    fn placeholder(n: usize) -> String {
        format!("${n}")
    }

    fn returning(update: &str, column: &str) -> Option<String> {
        Some(format!("{update} RETURNING {column}"))
    }

    fn qualified(ns: &str, table: &str) -> String {
        format!("{ns}.{table}")
    }

    fn namespaces(&self, prefix: &str) -> (String, [String; 2]) {
        let db = PgOrigin::create_db(self, prefix);
        let names = ["a".to_string(), "b".to_string()];
        self.psql(
            &db,
            "CREATE SCHEMA a; CREATE SCHEMA b;
             CREATE TABLE a.t (v int); CREATE TABLE b.t (v int);
             INSERT INTO a.t VALUES (1); INSERT INTO b.t VALUES (2);",
        );
        (db, names)
    }

    fn use_namespace(ns: &str) -> String {
        format!("SET search_path = {ns}")
    }

    fn prepare_two_phase(xid: &str, write: &str) -> Vec<String> {
        vec![format!("BEGIN; {write}; PREPARE TRANSACTION '{xid}'")]
    }

    fn commit_prepared(xid: &str) -> String {
        format!("COMMIT PREPARED '{xid}'")
    }

    fn pick(sql: &Sql) -> &'static str {
        sql.postgres
    }
}

// --- MariaDB ----------------------------------------------------------------------

/// MariaDB 10.11 ([`MyOrigin`]) behind wirecache's MySQL listener.
pub type MariaDb = MyOrigin;

/// A mysql_async connection (it keeps prepared statements in its statement cache).
pub struct MyClient {
    pub conn: mysql_async::Conn,
}

fn my_error(e: mysql_async::Error) -> DbError {
    match e {
        mysql_async::Error::Server(s) => DbError {
            code: s.code.to_string(),
            message: s.message,
        },
        other => DbError {
            code: String::new(),
            message: other.to_string(),
        },
    }
}

fn my_row(row: mysql_async::Row) -> Vec<Option<String>> {
    row.unwrap()
        .into_iter()
        .map(|v| match v {
            mysql_async::Value::NULL => None,
            mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
            mysql_async::Value::Int(i) => Some(i.to_string()),
            mysql_async::Value::UInt(u) => Some(u.to_string()),
            other => Some(other.as_sql(true)),
        })
        .collect()
}

impl Client for MyClient {
    async fn query(&mut self, via: Via, sql: &str, params: &[i64]) -> Result<Rows, DbError> {
        let rows: Vec<mysql_async::Row> = match via {
            Via::Text => {
                assert!(params.is_empty(), "text statements take no parameters");
                self.conn.query(sql).await
            }
            Via::Prepared => self.conn.exec(sql, params.to_vec()).await,
        }
        .map_err(my_error)?;
        Ok(rows.into_iter().map(my_row).collect())
    }

    async fn execute(&mut self, via: Via, sql: &str, params: &[i64]) -> Result<(), DbError> {
        match via {
            Via::Text => {
                assert!(params.is_empty(), "text statements take no parameters");
                self.conn.query_drop(sql).await
            }
            Via::Prepared => self.conn.exec_drop(sql, params.to_vec()).await,
        }
        .map_err(my_error)
    }

    async fn settle(&mut self) {
        self.conn.ping().await.expect("ping");
    }

    async fn close(self) {
        self.conn.disconnect().await.expect("disconnect");
    }
}

impl Origin for MyOrigin {
    type Client = MyClient;
    const NAME: &'static str = "mariadb";
    const BEGIN: &'static str = "START TRANSACTION";
    const AUTOCOMMIT_OFF: Option<&'static str> = Some("SET autocommit = 0");
    const CROSS_DATABASE: bool = true;
    const CACHES_NESTED_VIEWS: bool = false;

    fn shared() -> &'static Self {
        MyOrigin::shared()
    }

    fn create_db(&self, prefix: &str) -> String {
        MyOrigin::create_db(self, prefix)
    }

    fn run(&self, db: &str, sql: &str) -> String {
        self.sql(db, sql)
    }

    fn proxy(&self) -> ProxyBuilder {
        Proxy::builder().mysql_demo(self.port)
    }

    async fn connect(proxy: &Proxy, db: &str) -> MyClient {
        let url = proxy.mysql_url("demo", db, ROOT_USER, ROOT_PASSWORD);
        MyClient {
            conn: mysql::connect(&url).await,
        }
    }

    async fn connect_as(proxy: &Proxy, db: Option<&str>, user: &str) -> MyClient {
        let url = proxy.mysql_url("demo", db.unwrap_or(""), user, &mysql::password_for(user));
        MyClient {
            conn: mysql::connect(&url).await,
        }
    }

    fn grant_select(&self, db: &str, table: &str, user: &str) {
        // The whole database, as MySQL applications usually grant.
        let _ = table;
        self.sql("", &format!("GRANT SELECT ON `{db}`.* TO '{user}'@'%';"));
    }

    fn is_access_denied(e: &DbError) -> bool {
        e.message.contains("denied")
    }

    fn reads_at_origin(&self, db: &str) -> Option<i64> {
        Some(self.selects(db))
    }

    fn selects_of(&self, db: &str, table: &str) -> i64 {
        // Text reads only: a prepared one's executions are not in the digest summary.
        let sql = format!(
            "SELECT COALESCE(SUM(COUNT_STAR), 0) FROM \
             performance_schema.events_statements_summary_by_digest \
             WHERE SCHEMA_NAME = '{db}' AND DIGEST_TEXT LIKE 'SELECT%{table}%'"
        );
        self.sql("", &sql).trim().parse().unwrap_or(-1)
    }

    fn placeholder(_n: usize) -> String {
        "?".to_string()
    }

    fn returning(_update: &str, _column: &str) -> Option<String> {
        None
    }

    fn qualified(ns: &str, table: &str) -> String {
        format!("`{ns}`.{table}")
    }

    fn namespaces(&self, prefix: &str) -> (String, [String; 2]) {
        let a = MyOrigin::create_db(self, &format!("{prefix}_a"));
        let b = MyOrigin::create_db(self, &format!("{prefix}_b"));
        self.sql(&a, "CREATE TABLE t (v int); INSERT INTO t VALUES (1);");
        self.sql(&b, "CREATE TABLE t (v int); INSERT INTO t VALUES (2);");
        (a.clone(), [a, b])
    }

    fn use_namespace(ns: &str) -> String {
        format!("USE `{ns}`")
    }

    fn prepare_two_phase(xid: &str, write: &str) -> Vec<String> {
        vec![
            format!("XA START '{xid}'"),
            write.to_string(),
            format!("XA END '{xid}'"),
            format!("XA PREPARE '{xid}'"),
        ]
    }

    fn commit_prepared(xid: &str) -> String {
        format!("XA COMMIT '{xid}'")
    }

    fn pick(sql: &Sql) -> &'static str {
        sql.mariadb
    }
}

/// Generates, for each named generic test `async fn NAME<O: Origin>()` of the calling
/// module, a module `NAME` with one `#[tokio::test]` per origin: `NAME::postgres` and
/// `NAME::mariadb`.
#[macro_export]
macro_rules! for_each_origin {
    // Also through a wirecache in pooled mode (`common::pg_pooled_origin`,
    // `common::mysql_pooled_origin`).
    (with_pooled: $($name:ident),* $(,)?) => {
        $crate::for_each_origin!($($name),*);
        mod pooled {
            $(
                mod $name {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn postgres_pooled() {
                        super::super::$name::<$crate::common::pg_pooled_origin::PgPooled>().await;
                    }

                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn mariadb_pooled() {
                        super::super::$name::<$crate::common::mysql_pooled_origin::MyPooled>()
                            .await;
                    }

                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn postgres_txn_pooled() {
                        super::super::$name::<$crate::common::pg_pooled_origin::PgTxnPooled>().await;
                    }
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name::<$crate::common::origin::Postgres>().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mariadb() {
                    super::$name::<$crate::common::origin::MariaDb>().await;
                }
            }
        )*
    };
}
