//! The staleness judge. A read through wirecache is STALE if, for some key, it
//! returns a version older than one whose commit was acknowledged (to any client)
//! before the read was sent — or, inside a transaction with one snapshot, before
//! the transaction began. Absent is a state too: a key read as absent is stale if
//! the floor state is present and no delete newer than the floor had been sent
//! before the read was answered. Reads that overlap a commit may return either.
//! Inside a transaction, the keys it wrote must read exactly as it left them.
//!
//! A transaction with one view of the data ([`SnapshotRule::FromBegin`],
//! [`SnapshotRule::Locked`]) is held to more (see [`snapshot`]): two of its reads of
//! a key must agree unless it wrote the key in between, and under a snapshot no
//! read may show a commit sent after the snapshot was taken (a ceiling, by the
//! answer to the transaction's first read). READ COMMITTED is judged by the floor
//! alone.
//!
//! [`SnapshotRule::FromBegin`]: super::model::SnapshotRule::FromBegin
//! [`SnapshotRule::Locked`]: super::model::SnapshotRule::Locked

mod snapshot;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use super::history::{CommitRec, ReadRec, RoundLog};
use super::model::State;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Older than an acknowledged commit.
    Stale,
    /// The transaction's own write was not visible to its own read.
    OwnWriteLost,
    /// Newer than the transaction's snapshot: a commit sent after the snapshot was
    /// taken shows.
    AfterSnapshot,
    /// A key read twice in one transaction (with one view) changed in between,
    /// though the transaction did not write it.
    SnapshotMoved,
}

impl Verdict {
    pub const ALL: [Verdict; 4] = [
        Verdict::Stale,
        Verdict::OwnWriteLost,
        Verdict::AfterSnapshot,
        Verdict::SnapshotMoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Stale => "stale read",
            Verdict::OwnWriteLost => "own write not visible",
            Verdict::AfterSnapshot => "read after its snapshot",
            Verdict::SnapshotMoved => "snapshot moved",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Violation {
    pub verdict: Verdict,
    /// Index into the round's reads.
    pub read: usize,
    pub key: i64,
    pub seen: Option<i64>,
    /// What the read had to reflect at least (or exactly, for own writes); for a
    /// read after its snapshot, the newest state acknowledged before the ceiling.
    pub expected: State,
    /// The commit that set the floor (index into the round's commits), if any; for
    /// a read after its snapshot, the commit sent after the ceiling that shows.
    pub floor_commit: Option<usize>,
    /// For a moved snapshot: the transaction's earlier read of the key that
    /// disagrees (index into the round's reads).
    pub earlier: Option<usize>,
}

/// Per key, the committed changes of a round.
pub struct Timeline<'a> {
    baseline: &'a HashMap<i64, State>,
    by_key: HashMap<i64, Vec<(usize, State)>>,
    commits: &'a [CommitRec],
}

impl<'a> Timeline<'a> {
    pub fn new(baseline: &'a HashMap<i64, State>, commits: &'a [CommitRec]) -> Timeline<'a> {
        let mut by_key: HashMap<i64, Vec<(usize, State)>> = HashMap::new();
        for (i, c) in commits.iter().enumerate() {
            for (k, s) in &c.changes {
                by_key.entry(*k).or_default().push((i, *s));
            }
        }
        Timeline {
            baseline,
            by_key,
            commits,
        }
    }

    /// The newest state of `key` acknowledged before `tick`, and its commit.
    pub fn floor(&self, key: i64, tick: u64) -> (State, Option<usize>) {
        let base = self.baseline.get(&key).copied().unwrap_or(State {
            ver: 0,
            present: false,
        });
        let mut best = (base, None);
        for (i, s) in self.by_key.get(&key).into_iter().flatten() {
            let acked = self.commits[*i].ack.is_some_and(|a| a < tick);
            if acked && s.ver > best.0.ver {
                best = (*s, Some(*i));
            }
        }
        best
    }

    /// A delete newer than `ver` whose commit was sent before `tick`.
    pub fn newer_delete_sent(&self, key: i64, ver: i64, tick: u64) -> bool {
        self.by_key
            .get(&key)
            .into_iter()
            .flatten()
            .any(|(i, s)| !s.present && s.ver > ver && self.commits[*i].send < tick)
    }

    /// The commit of this round that left `key` in `state`, if one did.
    pub fn commit_of(&self, key: i64, state: State) -> Option<usize> {
        self.by_key
            .get(&key)
            .into_iter()
            .flatten()
            .find(|(_, s)| *s == state)
            .map(|(i, _)| *i)
    }

    /// The first commit of `key`'s changes that passes `pick`.
    pub fn first_change(
        &self,
        key: i64,
        pick: impl Fn(&CommitRec, State) -> bool,
    ) -> Option<usize> {
        self.by_key
            .get(&key)
            .into_iter()
            .flatten()
            .find(|(i, s)| pick(&self.commits[*i], *s))
            .map(|(i, _)| *i)
    }

    pub fn commit(&self, i: usize) -> &CommitRec {
        &self.commits[i]
    }

    /// The state the round leaves `key` in, if known (no unacknowledged commit).
    pub fn final_state(&self, key: i64) -> Option<State> {
        let changes = self.by_key.get(&key);
        if changes
            .into_iter()
            .flatten()
            .any(|(i, _)| self.commits[*i].ack.is_none())
        {
            return None;
        }
        Some(self.floor(key, u64::MAX).0)
    }
}

/// Judges every read of a round.
pub fn judge(baseline: &HashMap<i64, State>, round: &RoundLog) -> Vec<Violation> {
    let timeline = Timeline::new(baseline, &round.commits);
    let mut found = Vec::new();
    for (i, read) in round.reads.iter().enumerate() {
        for (key, seen) in &read.seen {
            let v = judge_key(&timeline, read, *key, *seen)
                .or_else(|| snapshot::ceiling(&timeline, read, *key, *seen));
            if let Some(v) = v {
                found.push(Violation { read: i, ..v });
            }
        }
    }
    snapshot::repeats(&round.reads, &mut found);
    found
}

/// A violation of `verdict` by the read of `key` that saw `seen` (its read index
/// filled in by [`judge`]).
fn violation(
    verdict: Verdict,
    key: i64,
    seen: Option<i64>,
    expected: State,
    floor_commit: Option<usize>,
) -> Violation {
    Violation {
        verdict,
        read: 0,
        key,
        seen,
        expected,
        floor_commit,
        earlier: None,
    }
}

fn judge_key(t: &Timeline<'_>, read: &ReadRec, key: i64, seen: Option<i64>) -> Option<Violation> {
    let flag =
        |verdict, expected, floor_commit| violation(verdict, key, seen, expected, floor_commit);
    if let Some((_, own)) = read.own.iter().find(|(k, _)| *k == key) {
        let ok = match seen {
            Some(v) => own.present && own.ver == v,
            None => !own.present,
        };
        return (!ok).then(|| flag(Verdict::OwnWriteLost, *own, None));
    }
    let (floor, commit) = t.floor(key, read.floor_tick);
    let ok = match seen {
        Some(v) => v >= floor.ver,
        None => !floor.present || t.newer_delete_sent(key, floor.ver, read.ack),
    };
    (!ok).then(|| flag(Verdict::Stale, floor, commit))
}
