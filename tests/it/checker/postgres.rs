//! The PostgreSQL driver of the checker: tokio-postgres through wirecache's
//! PostgreSQL listener, against the harness's private PostgreSQL origin. Text
//! statements use the simple query protocol, prepared ones the extended protocol;
//! batches are pipelined on one client (tokio-postgres sends concurrent queries
//! without waiting). Writes learn their version from `RETURNING ver`.

use std::collections::HashMap;

use futures_util::future::join_all;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage, Statement, ToStatement};

use super::driver::{Rig, Session, Target};
use super::fleet::Fleet;
use super::model::{
    BeginKind, Caps, FailClass, Failure, Level, Path, Reply, SnapshotRule, State, Stmt,
};
use super::pooled::Pool;
use super::postgres_sql::{text, write_prepared, write_text};
use super::sql::{self, Param};
use crate::common::PgOrigin;

const SCHEMA: &str = "
CREATE TABLE seqs (id int PRIMARY KEY, ver bigint NOT NULL);
CREATE TABLE grps (grp int PRIMARY KEY, name text NOT NULL);
";

const BEGINS: &[BeginKind] = &[
    BeginKind::Explicit,
    BeginKind::ExplicitAlt,
    BeginKind::WithFirstWrite,
    BeginKind::PipelinedWithFirstWrite,
    BeginKind::RepeatableRead,
    BeginKind::Serializable,
];

/// wirecache in front of a fresh database of the shared PostgreSQL origin.
pub struct PgTarget {
    proxy: Fleet,
    origin_port: u16,
    db: String,
    direct: Client,
    /// Writes go straight to the origin, behind wirecache's back (self-test).
    behind: bool,
    /// Pass-through, or pooled (the clients log in with the checker's password).
    pool: Pool,
}

impl PgTarget {
    pub async fn start(rig: Rig) -> PgTarget {
        PgTarget::start_pooled(rig, Pool::Off, 0).await
    }

    /// The same with the cache in pooled mode `pool`, sized for `conns` clients.
    pub async fn start_pooled(rig: Rig, pool: Pool, conns: usize) -> PgTarget {
        let origin = PgOrigin::shared();
        let db = origin.create_db("checker");
        origin.psql(&db, SCHEMA);
        origin.psql(&db, &sql::kv_tables(""));
        origin.psql(&db, &sql::seed_data());
        origin.psql(
            &db,
            &format!("ALTER DATABASE {db} SET deadlock_timeout = '100ms'; ALTER DATABASE {db} SET lock_timeout = '5s';"),
        );
        let proxy = crate::common::proxy::Proxy::builder()
            .postgres_demo(origin.port)
            .cache_lines("demo", rig.cache_lines())
            .cache_lines(
                "demo",
                &pool.cache_lines("postgres", super::pooled::PASSWORD, conns),
            );
        let proxy = Fleet::start(proxy, rig).await;
        let direct = match direct(origin.port, &db).await {
            Ok(c) => c,
            Err(f) => panic!("connect to the origin: {}", f.message),
        };
        PgTarget {
            proxy,
            origin_port: origin.port,
            db,
            direct,
            behind: rig == Rig::WritesBehind,
            pool,
        }
    }
}

async fn direct(port: u16, db: &str) -> Result<Client, Failure> {
    let conn_str = format!("host=127.0.0.1 port={port} user=postgres dbname={db}");
    let (client, conn) = tokio_postgres::connect(&conn_str, NoTls)
        .await
        .map_err(fail)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

impl Target for PgTarget {
    type Session = PgSession;

    fn name(&self) -> &'static str {
        "postgres"
    }

    fn caps(&self) -> Caps {
        Caps {
            begins: BEGINS,
            snapshot_begins: &[BeginKind::RepeatableRead, BeginKind::Serializable],
            implicit_commit: false,
            error_aborts_transaction: true,
            atomic_insert_delete: true,
            fresh_savepoint_restarts: false,
        }
    }

    async fn connect(&self, conn: usize) -> Result<PgSession, Failure> {
        let client = self
            .proxy
            .pick(conn)
            .try_connect("demo", &self.db, "postgres", self.pool.password())
            .await
            .map_err(fail)?;
        let behind = if self.behind {
            Some(direct(self.origin_port, &self.db).await?)
        } else {
            None
        };
        Ok(PgSession {
            client,
            behind,
            conn,
            prepared: HashMap::new(),
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
            .map_err(fail)?;
        let mut out = HashMap::new();
        for r in rows {
            let id: i32 = r.try_get(0).map_err(bad_row)?;
            let ver: i64 = r.try_get(1).map_err(bad_row)?;
            let present: bool = r.try_get(2).map_err(bad_row)?;
            out.insert(i64::from(id), State { ver, present });
        }
        Ok(out)
    }

    async fn hits(&self) -> f64 {
        self.proxy.hits_of("demo").await
    }

    async fn cache_metrics(&self) -> String {
        super::cache_lines(&self.proxy.metrics().await, "demo")
    }

    fn reconnect_percent(&self) -> u64 {
        self.pool.reconnect_percent()
    }

    fn render(&self, stmt: &Stmt) -> String {
        match stmt {
            Stmt::Read(shape, Path::Prepared) => {
                let (q, p) = sql::read_prepared(*shape, sql::dollar);
                sql::show_prepared(&q, &p)
            }
            Stmt::Write(kind, key, Path::Prepared) => {
                let (q, p) = write_prepared(*kind, *key);
                sql::show_prepared(&q, &p)
            }
            Stmt::Batch(shapes) => {
                let parts: Vec<String> = shapes
                    .iter()
                    .map(|s| self.render(&Stmt::Read(*s, Path::Prepared)))
                    .collect();
                format!("/* pipelined */ {}", parts.join(" ; "))
            }
            Stmt::Begin(BeginKind::ExplicitAlt, _) => {
                "START TRANSACTION /* extended protocol */".into()
            }
            Stmt::Begin(BeginKind::PipelinedWithFirstWrite, Some((k, key))) => format!(
                "/* pipelined */ BEGIN ; {}",
                self.render(&Stmt::Write(*k, *key, Path::Prepared))
            ),
            other => text(other, 0),
        }
    }
}

/// One client connection through wirecache.
pub struct PgSession {
    client: Client,
    behind: Option<Client>,
    conn: usize,
    /// Prepared statements by text, kept like a driver's statement cache (a
    /// statement dropped after each use would make tokio-postgres pipeline a Close
    /// in front of the next query).
    prepared: HashMap<String, Statement>,
}

impl PgSession {
    async fn statement(&mut self, q: &str) -> Result<Statement, Failure> {
        if let Some(s) = self.prepared.get(q) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(q).await.map_err(fail)?;
        self.prepared.insert(q.to_string(), s.clone());
        Ok(s)
    }
}

impl Session for PgSession {
    async fn run(&mut self, stmt: &Stmt) -> Result<Reply, Failure> {
        match stmt {
            Stmt::Read(shape, Path::Prepared) => {
                let (q, p) = sql::read_prepared(*shape, sql::dollar);
                let st = self.statement(&q).await?;
                prepared_rows(&self.client, &st, &p).await.map(Reply::Rows)
            }
            Stmt::Write(kind, key, path) => {
                let rows = if let Some(c) = &self.behind {
                    simple_rows(c, &write_text(*kind, *key)).await?
                } else if *path == Path::Prepared {
                    let (q, p) = write_prepared(*kind, *key);
                    let st = self.statement(&q).await?;
                    prepared_rows(&self.client, &st, &p).await?
                } else {
                    simple_rows(&self.client, &write_text(*kind, *key)).await?
                };
                Ok(Reply::Wrote(rows.first().map(|r| r.0)))
            }
            Stmt::Batch(shapes) => self.batch(shapes).await,
            Stmt::Begin(BeginKind::ExplicitAlt, None) => {
                self.client
                    .execute("START TRANSACTION", &[])
                    .await
                    .map_err(fail)?;
                Ok(Reply::Done)
            }
            Stmt::Begin(BeginKind::PipelinedWithFirstWrite, Some((kind, key))) => {
                // Prepared first, so that both go out in this order, in one batch:
                // a future sends its messages when first polled, and join! polls
                // them in order.
                let (q, p) = write_prepared(*kind, *key);
                let begin = self.statement("BEGIN").await?;
                let write = self.statement(&q).await?;
                let (begun, rows) = tokio::join!(
                    self.client.execute(&begin, &[]),
                    prepared_rows(&self.client, &write, &p)
                );
                begun.map_err(fail)?;
                Ok(Reply::Wrote(rows?.first().map(|r| r.0)))
            }
            Stmt::Begin(_, Some(_)) => {
                let rows = simple_rows(&self.client, &text(stmt, self.conn)).await?;
                Ok(Reply::Wrote(rows.first().map(|r| r.0)))
            }
            Stmt::ImplicitCommit(_) | Stmt::RestoreAutocommit => Err(Failure {
                class: FailClass::Other,
                message: "not a PostgreSQL statement".into(),
            }),
            other => {
                let rows = simple_rows(&self.client, &text(other, self.conn)).await?;
                Ok(match other {
                    Stmt::Read(..) => Reply::Rows(rows),
                    _ => Reply::Done,
                })
            }
        }
    }

    fn level(&self, begin: BeginKind) -> Level {
        match begin {
            BeginKind::RepeatableRead => Level::RepeatableRead,
            BeginKind::Serializable => Level::Serializable,
            _ => Level::ReadCommitted,
        }
    }

    /// PostgreSQL's REPEATABLE READ and SERIALIZABLE both read one snapshot (the
    /// latter also aborts, with SQLSTATE 40001, transactions it cannot order).
    fn snapshot_rule(&self, begin: BeginKind) -> SnapshotRule {
        match self.level(begin) {
            Level::ReadCommitted => SnapshotRule::PerStatement,
            Level::RepeatableRead | Level::Serializable => SnapshotRule::FromBegin,
        }
    }
}

impl PgSession {
    async fn batch(&mut self, shapes: &[super::model::ReadShape]) -> Result<Reply, Failure> {
        let mut queries = Vec::new();
        for s in shapes {
            let (q, p) = sql::read_prepared(*s, sql::dollar);
            queries.push((self.statement(&q).await?, p));
        }
        let results = join_all(
            queries
                .iter()
                .map(|(q, p)| prepared_rows(&self.client, q, p)),
        )
        .await;
        let sets = results.into_iter().collect::<Result<Vec<_>, _>>()?;
        Ok(Reply::Batch(sets))
    }
}

async fn prepared_rows<Q: ToStatement + ?Sized>(
    c: &Client,
    q: &Q,
    params: &[Param],
) -> Result<Vec<(i64, i64)>, Failure> {
    let ints: Vec<i32> = params
        .iter()
        .map(|p| match p {
            Param::Int(v) => *v as i32,
            Param::Text(_) => 0,
        })
        .collect();
    let args: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .zip(&ints)
        .map(|(p, i)| match p {
            Param::Int(_) => i as &(dyn ToSql + Sync),
            Param::Text(t) => t as &(dyn ToSql + Sync),
        })
        .collect();
    let rows = c.query(q, &args).await.map_err(fail)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        // A write's RETURNING has only `ver`; a read has `id, ver`.
        if r.len() == 1 {
            out.push((r.try_get::<_, i64>(0).map_err(bad_row)?, 0));
        } else {
            let id: i32 = r.try_get(0).map_err(bad_row)?;
            out.push((i64::from(id), r.try_get(1).map_err(bad_row)?));
        }
    }
    Ok(out)
}

/// Rows of a simple query: `(id, ver)`, or `(ver, 0)` for a one-column answer.
async fn simple_rows(c: &Client, q: &str) -> Result<Vec<(i64, i64)>, Failure> {
    let msgs = c.simple_query(q).await.map_err(fail)?;
    let mut out = Vec::new();
    for m in msgs {
        if let SimpleQueryMessage::Row(r) = m {
            let num = |i: usize| -> Result<i64, Failure> {
                r.get(i)
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| Failure {
                        class: FailClass::Other,
                        message: format!("unreadable column {i} in answer to {q}"),
                    })
            };
            out.push(if r.len() == 1 {
                (num(0)?, 0)
            } else {
                (num(0)?, num(1)?)
            });
        }
    }
    Ok(out)
}

fn fail(e: tokio_postgres::Error) -> Failure {
    let class = match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => FailClass::Duplicate,
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED => FailClass::Deadlock,
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE => FailClass::Serialization,
        Some(c) if *c == SqlState::LOCK_NOT_AVAILABLE => FailClass::LockTimeout,
        Some(c) if *c == SqlState::IN_FAILED_SQL_TRANSACTION => FailClass::Aborted,
        Some(_) => FailClass::Other,
        // No SQLSTATE: the connection broke (closed, I/O).
        None => FailClass::Connection,
    };
    let message = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    };
    Failure { class, message }
}

fn bad_row(e: tokio_postgres::Error) -> Failure {
    Failure {
        class: FailClass::Other,
        message: format!("unreadable row: {e}"),
    }
}
