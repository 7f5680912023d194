//! Runs one connection's program through a [`Session`] and records it: every
//! statement becomes an [`Event`], every read a [`ReadRec`] (with the floor and the
//! transaction's own writes it must reflect), every acknowledged commit a
//! [`CommitRec`]. It follows each transaction's real fate: a PostgreSQL error
//! aborts it (until `ROLLBACK TO` a savepoint), a deadlock rolls it back, a lost
//! connection ends it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

mod tx;

use tx::TxState;

use super::driver::{Session, Target};
use super::grammar::{Grammar, Tx, Unit};
use super::history::{Clock, CommitRec, ConnLog, Event, ReadRec, answer, keys_of};
use super::model::{
    BeginKind, EndKind, Ending, FailClass, Failure, GROUPS, Level, Reply, SnapshotRule, State, Stmt,
};
use super::rng::Rng;
use super::stats::Stats;

/// One client connection and its program.
pub struct Runner<T: Target> {
    target: Arc<T>,
    conn: usize,
    session: Option<T::Session>,
    clock: Clock,
    rng: Rng,
    /// Draws the reconnects at rest ([`Target::reconnect_percent`]), apart from
    /// `rng` so that the programs stay those of the seed.
    churn: Rng,
    grammar: Grammar,
    pub log: ConnLog,
    pub stats: Stats,
    /// Set when the connection could not be (re)opened: the run stops, and what it
    /// recorded so far is still judged.
    pub fatal: Option<String>,
    txs: u64,
}

/// The outcome of one sent statement.
struct Sent {
    result: Result<Reply, Failure>,
    send: u64,
    ack: u64,
    event: usize,
}

impl<T: Target> Runner<T> {
    pub fn new(target: Arc<T>, conn: usize, clock: Clock, seed: u64, grammar: Grammar) -> Self {
        Runner {
            target,
            conn,
            session: None,
            clock,
            rng: Rng::for_stream(seed, conn, 0),
            churn: Rng::for_stream(seed, conn, u64::MAX),
            grammar: Grammar {
                home: conn as i64 % GROUPS,
                ..grammar
            },
            log: ConnLog::default(),
            stats: Stats::default(),
            fatal: None,
            txs: 0,
        }
    }

    /// Runs units until `ops` statements were sent or `deadline` passed.
    pub async fn round(&mut self, ops: u64, deadline: Option<Instant>) {
        let start = self.stats.ops;
        while self.stats.ops - start < ops
            && self.fatal.is_none()
            && deadline.is_none_or(|d| Instant::now() < d)
        {
            self.maybe_reconnect();
            match self.grammar.unit(&mut self.rng) {
                Unit::Auto(stmt) => self.autocommit(&stmt).await,
                Unit::Tx(tx) => self.transaction(&tx).await,
            }
        }
    }

    /// Between units (outside any transaction) the client may end its session, so
    /// that its next statement logs in again: in pooled mode the connection goes back
    /// to the pool and another session gets it.
    fn maybe_reconnect(&mut self) {
        let percent = self.target.reconnect_percent();
        if percent == 0 || self.session.is_none() || !self.churn.chance(percent) {
            return;
        }
        self.disconnect(
            "-- disconnect at rest (the next statement logs in again)",
            None,
        );
    }

    /// Drops the session (the next statement logs in again) and records it.
    fn disconnect(&mut self, note: &str, tx: Option<u64>) {
        self.session = None;
        self.log.events.push(Event {
            conn: self.conn,
            send: self.clock.tick(),
            ack: self.clock.tick(),
            sql: note.into(),
            answer: String::new(),
            keys: Vec::new(),
            tx,
        });
    }

    async fn send(&mut self, stmt: &Stmt, tx: Option<u64>) -> Sent {
        if self.session.is_none() && self.fatal.is_none() {
            match self.target.connect(self.conn).await {
                Ok(s) => self.session = Some(s),
                Err(f) => {
                    let msg = format!("conn {}: cannot connect: {}", self.conn, f.message);
                    self.fatal = Some(msg);
                }
            }
            self.stats.connects += 1;
        }
        let send = self.clock.tick();
        let result = match self.session.as_mut() {
            Some(s) => s.run(stmt).await,
            None => Err(Failure {
                class: FailClass::Connection,
                message: "no connection".into(),
            }),
        };
        let ack = self.clock.tick();
        self.stats.ops += 1;
        if let Err(f) = &result {
            self.stats.failed(f);
            if f.class == FailClass::Connection {
                self.session = None;
            }
        }
        self.log.events.push(Event {
            conn: self.conn,
            send,
            ack,
            sql: self.target.render(stmt),
            answer: answer(&result),
            keys: keys_of(stmt),
            tx,
        });
        let event = self.log.events.len() - 1;
        Sent {
            result,
            send,
            ack,
            event,
        }
    }

    async fn autocommit(&mut self, stmt: &Stmt) {
        let sent = self.send(stmt, None).await;
        match (stmt, &sent.result) {
            (Stmt::Read(shape, _), Ok(Reply::Rows(rows))) => {
                self.record_read(&sent, shape.keys(), rows, sent.send, &HashMap::new());
            }
            (Stmt::Batch(shapes), Ok(Reply::Batch(sets))) => {
                self.stats.batches += 1;
                for (shape, rows) in shapes.iter().zip(sets) {
                    self.record_read(&sent, shape.keys(), rows, sent.send, &HashMap::new());
                }
            }
            (Stmt::Write(kind, key, _), Ok(Reply::Wrote(v))) => {
                self.stats.writes += 1;
                if let Some(v) = v {
                    let change = (*key, kind.state_after(*v));
                    self.commit(&sent, Some(sent.ack), vec![change]);
                }
            }
            (Stmt::Write(_, key, _), Err(f)) if f.class == FailClass::Connection => {
                // It may or may not have happened.
                self.commit(
                    &sent,
                    None,
                    vec![(
                        *key,
                        State {
                            ver: i64::MAX,
                            present: false,
                        },
                    )],
                );
            }
            (Stmt::ScratchDdl, _) => self.stats.ddl += 1,
            _ => {}
        }
    }

    fn record_read(
        &mut self,
        sent: &Sent,
        keys: Vec<i64>,
        rows: &[(i64, i64)],
        floor_tick: u64,
        own: &HashMap<i64, State>,
    ) {
        self.stats.reads += 1;
        let seen = keys
            .into_iter()
            .map(|k| (k, rows.iter().find(|(id, _)| *id == k).map(|(_, v)| *v)))
            .collect();
        self.log.reads.push(ReadRec {
            event: sent.event,
            conn: self.conn,
            send: sent.send,
            ack: sent.ack,
            floor_tick,
            seen,
            own: own.iter().map(|(k, s)| (*k, *s)).collect(),
            view: None,
        });
    }

    fn commit(&mut self, sent: &Sent, ack: Option<u64>, changes: Vec<(i64, State)>) {
        self.log.commits.push(CommitRec {
            conn: self.conn,
            send: sent.send,
            ack,
            changes,
            event: sent.event,
        });
    }

    async fn transaction(&mut self, tx: &Tx) {
        self.txs += 1;
        let id = self.txs;
        let sent = self.send(&tx.begin, Some(id)).await;
        let (level, rule) = match &self.session {
            Some(s) => (s.level(tx.kind), s.snapshot_rule(tx.kind)),
            None => (Level::ReadCommitted, SnapshotRule::PerStatement),
        };
        let mut state = TxState::new(id, sent.send, level, rule);
        match (&tx.begin, &sent.result) {
            (Stmt::Begin(_, Some((kind, key))), Ok(Reply::Wrote(v))) => {
                state.touched = true;
                if let Some(v) = v {
                    state.wrote(*key, kind.state_after(*v));
                }
            }
            (_, Err(f)) => self.on_failure(&mut state, f),
            _ => {}
        }
        for (i, stmt) in tx.body.iter().enumerate() {
            if state.gone || state.dead {
                break;
            }
            pause(tx, i).await;
            let recovers = matches!(stmt, Stmt::RollbackTo(n) if state.savepoints.iter().any(|(s, ..)| s == n));
            if state.aborted && !recovers {
                continue;
            }
            self.in_tx(&mut state, stmt).await;
        }
        pause(tx, tx.body.len()).await;
        let ending = self.end(&mut state, tx).await;
        self.stats.ended(tx.kind, state.level, ending);
    }

    fn on_failure(&mut self, tx: &mut TxState, f: &Failure) {
        tx.had_error = true;
        match f.class {
            FailClass::Connection => tx.gone = true,
            FailClass::Deadlock | FailClass::Serialization
                if !self.grammar.caps.error_aborts_transaction =>
            {
                tx.dead = true;
            }
            _ if self.grammar.caps.error_aborts_transaction => tx.aborted = true,
            _ => {}
        }
    }

    async fn in_tx(&mut self, tx: &mut TxState, stmt: &Stmt) {
        let sent = self.send(stmt, Some(tx.id)).await;
        let reply = match &sent.result {
            Ok(r) => r.clone(),
            Err(f) => return self.on_failure(tx, f),
        };
        match (stmt, reply) {
            (Stmt::Read(shape, _), Reply::Rows(rows)) => {
                let floor = match tx.rule {
                    SnapshotRule::PerStatement | SnapshotRule::Locked => sent.send,
                    SnapshotRule::FromBegin => tx.begin_tick,
                };
                self.stats.read_in_tx(tx.level);
                tx.touched = true;
                self.record_read(&sent, shape.keys(), &rows, floor, &tx.own);
                if let Some(r) = self.log.reads.last_mut() {
                    r.view = tx.view();
                }
                tx.first_read_ack.get_or_insert(sent.ack);
            }
            (Stmt::Write(kind, key, _), Reply::Wrote(v)) => {
                self.stats.writes += 1;
                tx.touched = true;
                if let Some(v) = v {
                    tx.wrote(*key, kind.state_after(v));
                }
            }
            (Stmt::Savepoint(n), _) => tx.savepoints.push((*n, tx.own.clone(), tx.touched)),
            (Stmt::RollbackTo(n), _) => {
                if let Some(at) = tx.savepoints.iter().position(|(s, ..)| s == n) {
                    tx.savepoints.truncate(at + 1);
                    tx.own = tx.savepoints[at].1.clone();
                    tx.aborted = false;
                    if !tx.savepoints[at].2 && self.grammar.caps.fresh_savepoint_restarts {
                        tx.restart_view();
                    }
                }
            }
            (Stmt::Release(n), _) => {
                if let Some(at) = tx.savepoints.iter().position(|(s, ..)| s == n) {
                    tx.savepoints.truncate(at);
                }
            }
            _ => {}
        }
    }

    async fn end(&mut self, tx: &mut TxState, plan: &Tx) -> Ending {
        if tx.gone {
            return Ending::Disconnected;
        }
        let restore = plan.kind == BeginKind::AutocommitOff;
        if plan.end == EndKind::Disconnect {
            self.disconnect(
                "-- disconnect (the client drops the connection)",
                Some(tx.id),
            );
            return Ending::Disconnected;
        }
        if tx.dead {
            if restore {
                self.send(&Stmt::RestoreAutocommit, Some(tx.id)).await;
            }
            return Ending::ErrorRolledBack;
        }
        let stmt = match plan.end {
            EndKind::Rollback => Stmt::Rollback,
            EndKind::Implicit => Stmt::ImplicitCommit(plan.kind),
            _ => Stmt::Commit,
        };
        let sent = self.send(&stmt, Some(tx.id)).await;
        let ending = self.ending(tx, &stmt, &sent);
        if ending.committed() {
            let changes = tx.own.iter().map(|(k, s)| (*k, *s)).collect();
            self.commit(&sent, Some(sent.ack), changes);
        } else if ending == Ending::Unknown {
            let changes = tx.own.keys().map(|k| {
                (
                    *k,
                    State {
                        ver: i64::MAX,
                        present: false,
                    },
                )
            });
            self.commit(&sent, None, changes.collect());
        }
        let implicit_restores = matches!(stmt, Stmt::ImplicitCommit(BeginKind::AutocommitOff));
        if restore && !implicit_restores && ending != Ending::Unknown {
            self.send(&Stmt::RestoreAutocommit, Some(tx.id)).await;
        }
        ending
    }

    fn ending(&self, tx: &TxState, stmt: &Stmt, sent: &Sent) -> Ending {
        match &sent.result {
            Err(f) if f.class == FailClass::Connection => Ending::Unknown,
            Err(_) => Ending::ErrorRolledBack,
            Ok(_) if tx.aborted => Ending::ErrorRolledBack,
            Ok(_) => match stmt {
                Stmt::Rollback => Ending::RolledBack,
                _ if tx.had_error => Ending::ErrorThenCommitted,
                Stmt::ImplicitCommit(_) => Ending::ImplicitlyCommitted,
                _ => Ending::Committed,
            },
        }
    }
}

/// The think time planned before body statement `i` (or the end).
async fn pause(tx: &Tx, i: usize) {
    if let Some(ms) = tx.pauses.get(i).filter(|ms| **ms > 0) {
        tokio::time::sleep(std::time::Duration::from_millis(*ms)).await;
    }
}
