//! The history recorder: a logical clock shared by all connections, and per
//! connection the events it saw (what it sent, when, what came back), the reads to
//! judge and the commits that were acknowledged. Ticks are taken *before* a
//! statement is sent and *after* its answer arrived, so "a's ack tick < b's send
//! tick" proves a was acknowledged before b was sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::model::{Failure, Reply, State, Stmt};

/// The shared logical clock.
#[derive(Debug, Clone, Default)]
pub struct Clock(Arc<AtomicU64>);

impl Clock {
    pub fn tick(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// One statement as sent and answered.
#[derive(Debug, Clone)]
pub struct Event {
    pub conn: usize,
    pub send: u64,
    pub ack: u64,
    /// The SQL as sent (prepared statements with their parameters appended).
    pub sql: String,
    /// What came back, in short.
    pub answer: String,
    /// Keys the statement read or wrote.
    pub keys: Vec<i64>,
    /// The transaction (per-connection number) it ran in, if any.
    pub tx: Option<u64>,
}

/// A read to judge.
#[derive(Debug, Clone)]
pub struct ReadRec {
    /// Index into the round's merged events.
    pub event: usize,
    pub conn: usize,
    pub send: u64,
    pub ack: u64,
    /// Commits acknowledged before this tick must be visible (the read's own send
    /// tick, or its transaction's begin tick under a transaction snapshot).
    pub floor_tick: u64,
    /// Per covered key: the version seen, `None` if absent.
    pub seen: Vec<(i64, Option<i64>)>,
    /// Keys this transaction wrote, with the state it left them in.
    pub own: Vec<(i64, State)>,
    /// Inside a transaction that keeps one view of the data (a snapshot, or locks
    /// held to the end): what else the read must agree with.
    pub view: Option<TxView>,
}

/// What a read inside a transaction with one view must also satisfy (see
/// [`super::model::SnapshotRule`]).
#[derive(Debug, Clone)]
pub struct TxView {
    /// The transaction (per-connection number): its reads of a key must agree.
    pub tx: u64,
    /// Which of the transaction's views (the origin may restart it: see
    /// [`super::model::Caps::fresh_savepoint_restarts`]): reads agree within one.
    pub epoch: u32,
    /// Commits sent after this tick must not show: the snapshot was taken by then
    /// (the answer of the transaction's first read). `None`: no such bound (locking
    /// reads, or the first read itself).
    pub ceiling: Option<u64>,
    /// Per key the transaction wrote so far, how many writes it made to it (rolled
    /// back to a savepoint or not): reads need not agree across a write.
    pub writes: Vec<(i64, u32)>,
}

impl TxView {
    /// How many writes the transaction had made to `key`.
    pub fn writes_to(&self, key: i64) -> u32 {
        self.writes
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(0, |(_, n)| *n)
    }
}

/// A commit (or autocommit write) that may have changed keys.
#[derive(Debug, Clone)]
pub struct CommitRec {
    pub conn: usize,
    /// Send tick of the committing statement.
    pub send: u64,
    /// Ack tick; `None` when the outcome is unknown (never acknowledged).
    pub ack: Option<u64>,
    pub changes: Vec<(i64, State)>,
    /// Index of the committing event.
    pub event: usize,
}

/// What one connection recorded in one round.
#[derive(Debug, Default)]
pub struct ConnLog {
    pub events: Vec<Event>,
    pub reads: Vec<ReadRec>,
    pub commits: Vec<CommitRec>,
}

/// All connections' logs of one round, merged: event indices are global.
#[derive(Debug, Default)]
pub struct RoundLog {
    pub events: Vec<Event>,
    pub reads: Vec<ReadRec>,
    pub commits: Vec<CommitRec>,
}

impl RoundLog {
    pub fn merge(logs: Vec<ConnLog>) -> RoundLog {
        let mut round = RoundLog::default();
        for log in logs {
            let base = round.events.len();
            round.events.extend(log.events);
            round.reads.extend(log.reads.into_iter().map(|r| ReadRec {
                event: r.event + base,
                ..r
            }));
            round
                .commits
                .extend(log.commits.into_iter().map(|c| CommitRec {
                    event: c.event + base,
                    ..c
                }));
        }
        round
    }
}

/// Keys a statement reads or writes.
pub fn keys_of(stmt: &Stmt) -> Vec<i64> {
    match stmt {
        Stmt::Read(shape, _) => shape.keys(),
        Stmt::Write(_, k, _) | Stmt::Begin(_, Some((_, k))) => vec![*k],
        Stmt::Batch(shapes) => shapes.iter().flat_map(|s| s.keys()).collect(),
        _ => Vec::new(),
    }
}

/// What came back, in short.
pub fn answer(result: &Result<Reply, Failure>) -> String {
    let rows = |rows: &[(i64, i64)]| {
        let items: Vec<String> = rows.iter().map(|(k, v)| format!("{k}:v{v}")).collect();
        format!("[{}]", items.join(" "))
    };
    match result {
        Ok(Reply::Rows(r)) => rows(r),
        Ok(Reply::Batch(sets)) => sets.iter().map(|r| rows(r)).collect::<Vec<_>>().join(" "),
        Ok(Reply::Wrote(Some(v))) => format!("ver {v}"),
        Ok(Reply::Wrote(None)) => "0 rows".into(),
        Ok(Reply::Done) => "ok".into(),
        Err(f) => {
            let msg: String = f.message.chars().take(100).collect();
            format!("ERROR {}: {msg}", f.class.as_str())
        }
    }
}
