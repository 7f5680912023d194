//! The MariaDB driver of the checker: mysql_async through wirecache's MariaDB
//! listener (cache `demo-maria`), against the harness's private MariaDB origin.
//! Text statements go as COM_QUERY, prepared ones as COM_STMT_EXECUTE; batches and
//! "begin with the first write" are multi-statement strings. Updates learn their
//! version from `LAST_INSERT_ID(ver + 1)` (the OK packet's last insert id),
//! inserts and deletes from `RETURNING ver`. Odd connections run at READ COMMITTED,
//! even ones at REPEATABLE READ and SERIALIZABLE in turn (see [`level_of`]), and
//! are judged accordingly.
//!
//! An insert or delete is a short sequence (lock the key's `seqs` row, write `kv`,
//! record the delete's version), so it is generated only inside transactions.

use std::collections::HashMap;

use mysql_async::prelude::*;
use mysql_async::{Conn, Params, Row, Value};
use tokio::sync::Mutex;

use super::driver::{Rig, Session, Target};
use super::fleet::Fleet;
use super::model::{
    BeginKind, Caps, FailClass, Failure, Level, Path, Reply, SnapshotRule, State, Stmt, WriteKind,
};
use super::mysql_sql::{inline, text, write_prepared, write_steps};
use super::pooled::Pool;
use super::sql::{self, Param};
use crate::common::mysql::{self as harness, MyOrigin, ROOT_PASSWORD, ROOT_USER};

const SCHEMA: &str = "
CREATE TABLE seqs (id int PRIMARY KEY, ver bigint NOT NULL) ENGINE=InnoDB;
CREATE TABLE grps (grp int PRIMARY KEY, name varchar(16) NOT NULL) ENGINE=InnoDB;
";

const BEGINS: &[BeginKind] = &[
    BeginKind::Explicit,
    BeginKind::ExplicitAlt,
    BeginKind::WithFirstWrite,
    BeginKind::AutocommitOff,
];

/// The MariaDB cache the checker reads through.
const CACHE: &str = "demo-maria";

/// wirecache in front of a fresh database of the shared MariaDB origin.
pub struct MyTarget {
    proxy: Fleet,
    origin: &'static MyOrigin,
    db: String,
    direct: Mutex<Conn>,
    behind: bool,
    pool: Pool,
}

impl MyTarget {
    pub async fn start(rig: Rig) -> MyTarget {
        MyTarget::start_pooled(rig, Pool::Off, 0).await
    }

    /// The same with the cache in pooled mode `pool`.
    pub async fn start_pooled(rig: Rig, pool: Pool, conns: usize) -> MyTarget {
        let origin = MyOrigin::shared();
        let db = origin.create_db("checker");
        origin.sql(&db, SCHEMA);
        origin.sql(&db, &sql::kv_tables(" ENGINE=InnoDB"));
        origin.sql(&db, &sql::seed_data());
        let proxy = (crate::common::proxy::Proxy::builder().mysql_demo(origin.port))
            .cache_lines(CACHE, rig.cache_lines())
            .cache_lines(CACHE, &pool.cache_lines(ROOT_USER, ROOT_PASSWORD, conns));
        let proxy = Fleet::start(proxy, rig).await;
        let direct = harness::connect(&origin.url(&db, ROOT_USER, ROOT_PASSWORD)).await;
        MyTarget {
            proxy,
            origin,
            db,
            direct: Mutex::new(direct),
            behind: rig == Rig::WritesBehind,
            pool,
        }
    }
}

impl Target for MyTarget {
    type Session = MySession;

    fn name(&self) -> &'static str {
        "mariadb"
    }

    fn caps(&self) -> Caps {
        Caps {
            begins: BEGINS,
            snapshot_begins: &[BeginKind::Explicit],
            implicit_commit: true,
            error_aborts_transaction: false,
            atomic_insert_delete: false,
            fresh_savepoint_restarts: true,
        }
    }

    async fn connect(&self, conn: usize) -> Result<MySession, Failure> {
        let url = self
            .proxy
            .pick(conn)
            .mysql_url(CACHE, &self.db, ROOT_USER, ROOT_PASSWORD);
        let mut c = harness::try_connect(&url).await.map_err(|e| Failure {
            class: FailClass::Connection,
            message: format!(
                "{e}\n--- origin log:\n{}",
                crash_lines(&self.origin.log_path())
            ),
        })?;
        let level = level_of(conn);
        let named = level.as_str().replace('_', " ").to_uppercase();
        // Apart: a statement that only sets the level keeps the session's cache
        // namespace, so connections at every level share entries (one string would
        // give each level a namespace of its own).
        for set in [
            "SET SESSION innodb_lock_wait_timeout = 5".to_string(),
            format!("SET SESSION TRANSACTION ISOLATION LEVEL {named}"),
        ] {
            c.query_drop(set).await.map_err(fail)?;
        }
        let behind = if self.behind {
            let url = self.origin.url(&self.db, ROOT_USER, ROOT_PASSWORD);
            Some(harness::try_connect(&url).await.map_err(fail)?)
        } else {
            None
        };
        Ok(MySession {
            conn: c,
            behind,
            index: conn,
            level,
        })
    }

    async fn truth(&self) -> Result<HashMap<i64, State>, Failure> {
        let mut c = self.direct.lock().await;
        let rows: Vec<Row> = c
            .query("SELECT s.id, COALESCE(kv.ver, s.ver), kv.id IS NOT NULL FROM seqs s LEFT JOIN kv_view kv ON kv.id = s.id")
            .await
            .map_err(fail)?;
        let mut out = HashMap::new();
        for r in rows {
            let present = int(&r, 2)? != 0;
            out.insert(
                int(&r, 0)?,
                State {
                    ver: int(&r, 1)?,
                    present,
                },
            );
        }
        Ok(out)
    }

    async fn hits(&self) -> f64 {
        self.proxy.hits_of(CACHE).await
    }

    async fn cache_metrics(&self) -> String {
        super::cache_lines(&self.proxy.metrics().await, CACHE)
    }

    fn reconnect_percent(&self) -> u64 {
        self.pool.reconnect_percent()
    }

    fn render(&self, stmt: &Stmt) -> String {
        match stmt {
            Stmt::Read(shape, Path::Prepared) => {
                let (q, p) = sql::read_prepared(*shape, sql::question);
                sql::show_prepared(&q, &p)
            }
            Stmt::Write(kind, key, Path::Prepared) => {
                let (q, p) = write_prepared(*kind, *key);
                sql::show_prepared(&q, &p)
            }
            other => text(other, 0),
        }
    }
}

/// What the origin's log says about a crash (the signal and the query that
/// crashed it), or its last lines; for connection failures' messages.
fn crash_lines(log: &std::path::Path) -> String {
    let mut text = std::fs::read_to_string(log).unwrap_or_default();
    // A crashing server writes the query last: give it a moment.
    for _ in 0..20 {
        if !text.contains("got signal") || text.contains("Query (") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        text = std::fs::read_to_string(log).unwrap_or_default();
    }
    let crash: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("got signal") || l.starts_with("Query (") || l.contains("[ERROR]"))
        .take(10)
        .collect();
    if crash.is_empty() {
        crate::common::file_tail(log, 20)
    } else {
        crash.join("\n")
    }
}

/// One client connection through wirecache.
pub struct MySession {
    conn: Conn,
    behind: Option<Conn>,
    index: usize,
    level: Level,
}

/// The isolation level of client connection `conn`: odd ones READ COMMITTED, even
/// ones REPEATABLE READ and SERIALIZABLE in turn.
fn level_of(conn: usize) -> Level {
    match conn % 4 {
        1 | 3 => Level::ReadCommitted,
        0 => Level::RepeatableRead,
        _ => Level::Serializable,
    }
}

impl Session for MySession {
    async fn run(&mut self, stmt: &Stmt) -> Result<Reply, Failure> {
        match stmt {
            Stmt::Read(shape, Path::Prepared) => {
                let (q, p) = sql::read_prepared(*shape, sql::question);
                let rows: Vec<Row> = self.conn.exec(q, params(&p)).await.map_err(fail)?;
                pairs(&rows).map(Reply::Rows)
            }
            Stmt::Read(shape, Path::Text) => {
                let rows: Vec<Row> = self
                    .conn
                    .query(sql::read_text(*shape))
                    .await
                    .map_err(fail)?;
                pairs(&rows).map(Reply::Rows)
            }
            Stmt::Write(kind, key, path) => {
                let c = self.behind.as_mut().unwrap_or(&mut self.conn);
                write(c, *kind, *key, *path).await
            }
            Stmt::Batch(shapes) => {
                let (sets, _) = multi(&mut self.conn, &text(stmt, self.index)).await?;
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
            Stmt::Begin(BeginKind::WithFirstWrite, Some((kind, _))) => {
                let (sets, written) = multi(&mut self.conn, &text(stmt, self.index)).await?;
                let rows: Vec<Row> = sets.into_iter().flatten().collect();
                wrote(*kind, &rows, written)
            }
            other => {
                self.conn
                    .query_drop(text(other, self.index))
                    .await
                    .map_err(fail)?;
                Ok(Reply::Done)
            }
        }
    }

    fn level(&self, _begin: BeginKind) -> Level {
        self.level
    }

    /// InnoDB's REPEATABLE READ reads the snapshot its first consistent read takes;
    /// inside a transaction its SERIALIZABLE turns every plain read into a locking
    /// read (`LOCK IN SHARE MODE`) of the latest committed rows, held to the end.
    fn snapshot_rule(&self, _begin: BeginKind) -> SnapshotRule {
        match self.level {
            Level::ReadCommitted => SnapshotRule::PerStatement,
            Level::RepeatableRead => SnapshotRule::FromBegin,
            Level::Serializable => SnapshotRule::Locked,
        }
    }
}

/// Sends one statement of a write: its rows, affected rows and last insert id.
async fn step(
    c: &mut Conn,
    q: &str,
    p: &[Param],
    path: Path,
) -> Result<(Vec<Row>, u64, Option<u64>), Failure> {
    let rows: Vec<Row> = if path == Path::Prepared {
        c.exec(q, params(p)).await.map_err(fail)?
    } else {
        c.query(inline(q, p)).await.map_err(fail)?
    };
    Ok((rows, c.affected_rows(), c.last_insert_id()))
}

async fn write(c: &mut Conn, kind: WriteKind, key: i64, path: Path) -> Result<Reply, Failure> {
    let steps = write_steps(kind, key, None);
    let Some((q0, p0)) = steps.first() else {
        return Err(other("a write without statements".into()));
    };
    let (rows, affected, id) = step(c, q0, p0, path).await?;
    match kind {
        WriteKind::Update => wrote(kind, &rows, (affected, id)),
        WriteKind::Insert => {
            let Reply::Wrote(Some(v)) = wrote(WriteKind::Update, &rows, (affected, id))? else {
                return Err(other("the key has no seqs row".into()));
            };
            let steps = write_steps(kind, key, Some(v));
            if let Some((q, p)) = steps.get(1) {
                step(c, q, p, path).await?;
            }
            Ok(Reply::Wrote(Some(v)))
        }
        WriteKind::Delete => {
            let (q1, p1) = steps.get(1).ok_or_else(|| other("no delete".into()))?;
            let (rows, _, _) = step(c, q1, p1, path).await?;
            let Some(d) = rows.first().map(|r| int(r, 0)).transpose()? else {
                return Ok(Reply::Wrote(None));
            };
            let steps = write_steps(kind, key, Some(d));
            if let Some((q, p)) = steps.get(2) {
                step(c, q, p, path).await?;
            }
            Ok(Reply::Wrote(Some(d)))
        }
    }
}

/// The version a write left: from `RETURNING` rows, or for an update from the OK
/// packet (`(affected rows, last insert id)`).
fn wrote(kind: WriteKind, rows: &[Row], written: (u64, Option<u64>)) -> Result<Reply, Failure> {
    match kind {
        WriteKind::Update => match written {
            (0, _) => Ok(Reply::Wrote(None)),
            (_, Some(v)) => Ok(Reply::Wrote(Some(v as i64))),
            (_, None) => Err(other("an update's OK packet has no last insert id".into())),
        },
        _ => match rows.first() {
            Some(r) => Ok(Reply::Wrote(Some(int(r, 0)?))),
            None => Ok(Reply::Wrote(None)),
        },
    }
}

/// Runs a multi-statement string: its result sets, and the last OK's
/// `(affected rows, last insert id)`.
async fn multi(c: &mut Conn, q: &str) -> Result<(Vec<Vec<Row>>, (u64, Option<u64>)), Failure> {
    let mut result = c.query_iter(q).await.map_err(fail)?;
    let mut sets = Vec::new();
    let mut written = (0, None);
    while !result.is_empty() {
        let rows: Vec<Row> = result.collect().await.map_err(fail)?;
        written = (result.affected_rows(), result.last_insert_id());
        sets.push(rows);
    }
    Ok((sets, written))
}

fn params(p: &[Param]) -> Params {
    Params::Positional(
        p.iter()
            .map(|p| match p {
                Param::Int(v) => Value::Int(*v),
                Param::Text(t) => Value::Bytes(t.clone().into_bytes()),
            })
            .collect(),
    )
}

fn int(r: &Row, i: usize) -> Result<i64, Failure> {
    match r.get_opt::<i64, usize>(i) {
        Some(Ok(v)) => Ok(v),
        _ => Err(other(format!("column {i} of a row is not an integer"))),
    }
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

fn fail(e: mysql_async::Error) -> Failure {
    let class = match &e {
        mysql_async::Error::Server(s) => match s.code {
            1062 => FailClass::Duplicate,
            1213 => FailClass::Deadlock,
            1205 => FailClass::LockTimeout,
            _ => FailClass::Other,
        },
        mysql_async::Error::Io(_) | mysql_async::Error::Driver(_) => FailClass::Connection,
        _ => FailClass::Other,
    };
    Failure {
        class,
        message: e.to_string(),
    }
}
