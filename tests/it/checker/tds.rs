//! The SQL Server (TDS) driver of the checker: tiberius through wirecache's TDS
//! listener (cache `demo`), against the test TDS origin (`common::tds_origin`, which
//! executes a T-SQL subset on the private PostgreSQL; no SQL Server runs here). Text
//! statements go as SQLBatch, prepared ones as `sp_executesql` with `@Pn` parameters;
//! batches and "begin with the first write" are multi-statement SQLBatches. Writes
//! learn their version from `OUTPUT inserted.ver` / `deleted.ver`.
//!
//! Isolation is per connection, set with `SET TRANSACTION ISOLATION LEVEL` at
//! connect (see [`level_of`]); the origin runs SQL Server's levels as PostgreSQL's
//! (`common::tds_sql::control`), so a transaction is judged by how PostgreSQL runs it:
//! READ COMMITTED per statement, REPEATABLE READ, SNAPSHOT and SERIALIZABLE as one
//! snapshot. Errors end what SQL Server's end with `XACT_ABORT OFF`
//! (`common::tds_origin_txn`): a duplicate key the statement alone; a deadlock or an
//! update conflict the transaction.

use std::collections::HashMap;

use tiberius::{AuthMethod, ColumnData, Config, EncryptionLevel, Row, ToSql};
use tokio::net::TcpStream;
use tokio_postgres::{Client as PgClient, NoTls};
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::driver::{Rig, Session, Target};
use super::fleet::Fleet;
use super::model::{
    BeginKind, Caps, FailClass, Failure, Level, Path, Reply, SnapshotRule, State, Stmt, WriteKind,
};
use super::sql::{self, Param};
use super::tds_sql::{at_p, inline, text, write_prepared, write_steps};
use crate::common::PgOrigin;
use crate::common::pg::SUPERUSER;
use crate::common::proxy::{Protocol, Proxy};
use crate::common::tds_origin::{SYS_CATALOG, TdsOrigin};

type Tds = tiberius::Client<Compat<TcpStream>>;

const SCHEMA: &str = "
CREATE TABLE seqs (id int PRIMARY KEY, ver bigint NOT NULL);
CREATE TABLE grps (grp int PRIMARY KEY, name text NOT NULL);
";

const BEGINS: &[BeginKind] = &[
    BeginKind::Explicit,
    BeginKind::ExplicitAlt,
    BeginKind::WithFirstWrite,
    BeginKind::AutocommitOff,
];

const CACHE: &str = "demo";

/// wirecache in front of the test TDS origin, whose data is a fresh database of the
/// shared PostgreSQL.
pub struct TdsTarget {
    proxy: Fleet,
    origin: TdsOrigin,
    db: String,
    direct: PgClient,
    behind: bool,
}

impl TdsTarget {
    pub async fn start(rig: Rig) -> TdsTarget {
        let pg = PgOrigin::shared();
        let db = pg.create_db("tdschk");
        pg.psql(&db, SYS_CATALOG);
        pg.psql(&db, SCHEMA);
        pg.psql(&db, &sql::kv_tables(""));
        pg.psql(&db, &sql::seed_data());
        pg.psql(
            &db,
            &format!("ALTER DATABASE {db} SET deadlock_timeout = '100ms'; ALTER DATABASE {db} SET lock_timeout = '5s';"),
        );
        let origin = TdsOrigin::start(pg.port).await;
        let builder = Proxy::builder().cache(CACHE, Protocol::MsSql, origin.port());
        let proxy = Fleet::start(builder.cache_lines(CACHE, rig.cache_lines()), rig).await;
        let conn_str = format!(
            "host=127.0.0.1 port={} user={SUPERUSER} dbname={db}",
            pg.port
        );
        let (direct, conn) = match tokio_postgres::connect(&conn_str, NoTls).await {
            Ok(c) => c,
            Err(e) => panic!("connect to the origin's PostgreSQL: {e}"),
        };
        tokio::spawn(conn);
        TdsTarget {
            proxy,
            origin,
            db,
            direct,
            behind: rig == Rig::WritesBehind,
        }
    }
}

/// A tiberius connection to `port` as `login`, with the level `level` names.
async fn connect(port: u16, db: &str, login: &str, level: &str) -> Result<Tds, Failure> {
    let mut config = Config::new();
    config.host("127.0.0.1");
    config.port(port);
    config.database(db);
    config.authentication(AuthMethod::sql_server(login, "trusted"));
    config.encryption(EncryptionLevel::NotSupported);
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| Failure {
            class: FailClass::Connection,
            message: e.to_string(),
        })?;
    let _ = tcp.set_nodelay(true);
    let mut c = tiberius::Client::connect(config, tcp.compat_write())
        .await
        .map_err(fail)?;
    let set = format!("SET TRANSACTION ISOLATION LEVEL {level}");
    c.simple_query(set)
        .await
        .map_err(fail)?
        .into_results()
        .await
        .map_err(fail)?;
    Ok(c)
}

/// The isolation level of client connection `conn`, as SQL Server names it, and as
/// the checker counts it: odd ones READ COMMITTED; even ones REPEATABLE READ,
/// SERIALIZABLE, SNAPSHOT (counted as REPEATABLE READ: one snapshot), SERIALIZABLE in
/// turn.
fn level_of(conn: usize) -> (&'static str, Level) {
    match conn % 8 {
        0 => ("REPEATABLE READ", Level::RepeatableRead),
        4 => ("SNAPSHOT", Level::RepeatableRead),
        2 | 6 => ("SERIALIZABLE", Level::Serializable),
        _ => ("READ COMMITTED", Level::ReadCommitted),
    }
}

impl Target for TdsTarget {
    type Session = TdsSession;

    fn name(&self) -> &'static str {
        "mssql"
    }

    fn caps(&self) -> Caps {
        Caps {
            begins: BEGINS,
            snapshot_begins: &[BeginKind::Explicit],
            implicit_commit: false,
            error_aborts_transaction: false,
            atomic_insert_delete: false,
            fresh_savepoint_restarts: false,
        }
    }

    async fn connect(&self, conn: usize) -> Result<TdsSession, Failure> {
        let (named, level) = level_of(conn);
        let port = self.proxy.pick(conn).addr(Protocol::MsSql).port();
        let login = format!("{CACHE}-{SUPERUSER}");
        let client = connect(port, &self.db, &login, named).await?;
        let behind = if self.behind {
            Some(connect(self.origin.port(), &self.db, SUPERUSER, named).await?)
        } else {
            None
        };
        Ok(TdsSession {
            client,
            behind,
            index: conn,
            level,
        })
    }

    async fn truth(&self) -> Result<HashMap<i64, State>, Failure> {
        let rows = self
            .direct
            .query(
                "SELECT s.id, coalesce(kv.ver, s.ver), kv.id IS NOT NULL FROM seqs s LEFT JOIN kv_view kv ON kv.id = s.id",
                &[],
            )
            .await
            .map_err(|e| other(format!("the origin's state: {e}")))?;
        let mut out = HashMap::new();
        for r in rows {
            let bad = |e: tokio_postgres::Error| other(format!("unreadable row: {e}"));
            let id: i32 = r.try_get(0).map_err(bad)?;
            let ver: i64 = r.try_get(1).map_err(bad)?;
            let present: bool = r.try_get(2).map_err(bad)?;
            out.insert(i64::from(id), State { ver, present });
        }
        Ok(out)
    }

    async fn hits(&self) -> f64 {
        self.proxy.hits_of(CACHE).await
    }

    async fn cache_metrics(&self) -> String {
        super::cache_lines(&self.proxy.metrics().await, CACHE)
    }

    fn render(&self, stmt: &Stmt) -> String {
        match stmt {
            Stmt::Read(shape, Path::Prepared) => {
                let (q, p) = sql::read_prepared(*shape, at_p);
                sql::show_prepared(&q, &p)
            }
            Stmt::Write(kind, key, Path::Prepared) => {
                let (q, p) = write_prepared(*kind, *key);
                sql::show_prepared(&q, &p)
            }
            other => text(other, 0).unwrap_or_else(|| "-- (nothing sent)".into()),
        }
    }
}

/// One client connection through wirecache.
pub struct TdsSession {
    client: Tds,
    /// Writes go straight to the origin, behind wirecache's back (self-test).
    behind: Option<Tds>,
    index: usize,
    level: Level,
}

impl Session for TdsSession {
    async fn run(&mut self, stmt: &Stmt) -> Result<Reply, Failure> {
        match stmt {
            Stmt::Read(shape, Path::Prepared) => {
                let (q, p) = sql::read_prepared(*shape, at_p);
                let rows = prepared(&mut self.client, &q, &p).await?;
                pairs(&rows).map(Reply::Rows)
            }
            Stmt::Read(shape, Path::Text) => {
                let sets = batch(&mut self.client, &sql::read_text(*shape)).await?;
                pairs(&sets.into_iter().flatten().collect::<Vec<_>>()).map(Reply::Rows)
            }
            Stmt::Write(kind, key, path) => {
                let c = self.behind.as_mut().unwrap_or(&mut self.client);
                write(c, *kind, *key, *path).await
            }
            Stmt::Batch(shapes) => {
                let sets = batch(
                    &mut self.client,
                    &text(stmt, self.index).unwrap_or_default(),
                )
                .await?;
                if sets.len() != shapes.len() {
                    return Err(other(format!(
                        "{} result sets for {} reads",
                        sets.len(),
                        shapes.len()
                    )));
                }
                sets.iter()
                    .map(|s| pairs(s))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Reply::Batch)
            }
            Stmt::Begin(_, Some((WriteKind::Update, _))) => {
                let sets = batch(
                    &mut self.client,
                    &text(stmt, self.index).unwrap_or_default(),
                )
                .await?;
                let rows: Vec<Row> = sets.into_iter().flatten().collect();
                first_int(&rows).map(Reply::Wrote)
            }
            Stmt::Begin(_, Some(_)) => Err(other("only an update travels with a BEGIN".into())),
            other => {
                if let Some(q) = text(other, self.index) {
                    batch(&mut self.client, &q).await?;
                }
                Ok(Reply::Done)
            }
        }
    }

    fn level(&self, _begin: BeginKind) -> Level {
        self.level
    }

    /// The origin runs every level above READ COMMITTED as a PostgreSQL snapshot.
    fn snapshot_rule(&self, _begin: BeginKind) -> SnapshotRule {
        match self.level {
            Level::ReadCommitted => SnapshotRule::PerStatement,
            Level::RepeatableRead | Level::Serializable => SnapshotRule::FromBegin,
        }
    }
}

/// Sends one step of a write (as text or through `sp_executesql`): its rows.
async fn step(c: &mut Tds, q: &str, p: &[Param], path: Path) -> Result<Vec<Row>, Failure> {
    if path == Path::Prepared {
        prepared(c, q, p).await
    } else {
        Ok(batch(c, &inline(q, p))
            .await?
            .into_iter()
            .flatten()
            .collect())
    }
}

async fn write(c: &mut Tds, kind: WriteKind, key: i64, path: Path) -> Result<Reply, Failure> {
    let steps = write_steps(kind, key, None);
    let Some((q0, p0)) = steps.first() else {
        return Err(other("a write without statements".into()));
    };
    let first = first_int(&step(c, q0, p0, path).await?)?;
    match kind {
        WriteKind::Update => Ok(Reply::Wrote(first)),
        WriteKind::Insert => {
            let Some(v) = first else {
                return Err(other("the key has no seqs row".into()));
            };
            if let Some((q, p)) = write_steps(kind, key, Some(v)).get(1) {
                step(c, q, p, path).await?;
            }
            Ok(Reply::Wrote(Some(v)))
        }
        WriteKind::Delete => {
            let (q1, p1) = steps.get(1).ok_or_else(|| other("no delete".into()))?;
            let Some(d) = first_int(&step(c, q1, p1, path).await?)? else {
                return Ok(Reply::Wrote(None));
            };
            if let Some((q, p)) = write_steps(kind, key, Some(d)).get(2) {
                step(c, q, p, path).await?;
            }
            Ok(Reply::Wrote(Some(d)))
        }
    }
}

/// A statement through `sp_executesql`: the rows of its first result.
async fn prepared(c: &mut Tds, q: &str, p: &[Param]) -> Result<Vec<Row>, Failure> {
    let args: Vec<&dyn ToSql> = p
        .iter()
        .map(|p| match p {
            Param::Int(v) => v as &dyn ToSql,
            Param::Text(t) => t as &dyn ToSql,
        })
        .collect();
    let stream = c.query(q, &args).await.map_err(fail)?;
    stream.into_first_result().await.map_err(fail)
}

/// A SQLBatch: the rows of each of its results.
async fn batch(c: &mut Tds, q: &str) -> Result<Vec<Vec<Row>>, Failure> {
    let stream = c.simple_query(q).await.map_err(fail)?;
    stream.into_results().await.map_err(fail)
}

fn int(r: &Row, i: usize) -> Result<i64, Failure> {
    match r.cells().nth(i).map(|(_, d)| d) {
        Some(ColumnData::I64(Some(v))) => Ok(*v),
        Some(ColumnData::I32(Some(v))) => Ok(i64::from(*v)),
        Some(ColumnData::I16(Some(v))) => Ok(i64::from(*v)),
        Some(ColumnData::U8(Some(v))) => Ok(i64::from(*v)),
        other => Err(self::other(format!(
            "column {i} is not an integer: {other:?}"
        ))),
    }
}

/// The version a write's `OUTPUT` answered (`None`: it touched no row).
fn first_int(rows: &[Row]) -> Result<Option<i64>, Failure> {
    rows.first().map(|r| int(r, 0)).transpose()
}

fn pairs(rows: &[Row]) -> Result<Vec<(i64, i64)>, Failure> {
    rows.iter().map(|r| Ok((int(r, 0)?, int(r, 1)?))).collect()
}

fn other(message: String) -> Failure {
    Failure {
        class: FailClass::Other,
        message,
    }
}

/// SQL Server's error numbers, as the test origin sends them for PostgreSQL's errors.
fn fail(e: tiberius::error::Error) -> Failure {
    use tiberius::error::Error;
    let class = match &e {
        Error::Server(t) => match t.code() {
            2627 | 2601 => FailClass::Duplicate,
            1205 => FailClass::Deadlock,
            3960 => FailClass::Serialization,
            1222 => FailClass::LockTimeout,
            _ => FailClass::Other,
        },
        Error::Io { .. } | Error::Protocol(_) | Error::Tls(_) => FailClass::Connection,
        _ => FailClass::Other,
    };
    let message = match &e {
        Error::Server(t) => format!("{}: {}", t.code(), t.message()),
        other => other.to_string(),
    };
    Failure { class, message }
}
