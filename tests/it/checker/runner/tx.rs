//! The bookkeeping of one open transaction: its view of the data, its own writes,
//! its savepoints, and what the server did to it.

use std::collections::HashMap;

use crate::checker::history::TxView;
use crate::checker::model::{Level, SnapshotRule, State};

/// The bookkeeping of one open transaction.
pub(super) struct TxState {
    pub(super) id: u64,
    pub(super) begin_tick: u64,
    pub(super) level: Level,
    pub(super) rule: SnapshotRule,
    /// The answer to its first read: under a snapshot, the ceiling of later reads.
    pub(super) first_read_ack: Option<u64>,
    /// Final state of every key it wrote.
    pub(super) own: HashMap<i64, State>,
    /// Writes it made per key, rolled back to a savepoint or not.
    pub(super) writes: HashMap<i64, u32>,
    /// `(savepoint, own writes when it was taken, whether a statement had touched
    /// a table by then)`.
    pub(super) savepoints: Vec<(u8, HashMap<i64, State>, bool)>,
    /// A statement touched a table (read or wrote) since the transaction or its view
    /// began.
    pub(super) touched: bool,
    /// How many times the view restarted (see [`TxState::restart_view`]).
    pub(super) epoch: u32,
    /// A PostgreSQL error: statements fail until `ROLLBACK TO` or the end.
    pub(super) aborted: bool,
    /// Rolled back by the server (deadlock, serialization failure).
    pub(super) dead: bool,
    /// The connection is gone.
    pub(super) gone: bool,
    pub(super) had_error: bool,
}

impl TxState {
    pub(super) fn new(id: u64, begin_tick: u64, level: Level, rule: SnapshotRule) -> TxState {
        TxState {
            id,
            begin_tick,
            level,
            rule,
            first_read_ack: None,
            own: HashMap::new(),
            writes: HashMap::new(),
            savepoints: Vec::new(),
            touched: false,
            epoch: 0,
            aborted: false,
            dead: false,
            gone: false,
            had_error: false,
        }
    }

    pub(super) fn wrote(&mut self, key: i64, state: State) {
        self.own.insert(key, state);
        *self.writes.entry(key).or_default() += 1;
    }

    /// The origin ended the engine's transaction under the client's open one: the
    /// next read takes a new snapshot (and locks), which later reads must agree with.
    pub(super) fn restart_view(&mut self) {
        self.epoch += 1;
        self.first_read_ack = None;
        self.touched = false;
    }

    /// What a read now must agree with besides its floor.
    pub(super) fn view(&self) -> Option<TxView> {
        self.rule.repeatable().then(|| TxView {
            tx: self.id,
            epoch: self.epoch,
            ceiling: match self.rule {
                SnapshotRule::FromBegin => self.first_read_ack,
                _ => None,
            },
            writes: self.writes.iter().map(|(k, n)| (*k, *n)).collect(),
        })
    }
}
