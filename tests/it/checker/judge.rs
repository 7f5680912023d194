//! The staleness judge. A read through wirecache is STALE if, for some key, it
//! returns a version older than one whose commit was acknowledged (to any client)
//! before the read was sent — or, inside a transaction with one snapshot, before
//! the transaction began. Absent is a state too: a key read as absent is stale if
//! the floor state is present and no delete newer than the floor had been sent
//! before the read was answered. Reads that overlap a commit may return either.
//! Inside a transaction, the keys it wrote must read exactly as it left them.

use std::collections::HashMap;

use super::history::{CommitRec, ReadRec, RoundLog};
use super::model::State;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Older than an acknowledged commit.
    Stale,
    /// The transaction's own write was not visible to its own read.
    OwnWriteLost,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Stale => "stale read",
            Verdict::OwnWriteLost => "own write not visible",
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
    /// What the read had to reflect at least (or exactly, for own writes).
    pub expected: State,
    /// The commit that set the floor (index into the round's commits), if any.
    pub floor_commit: Option<usize>,
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
    fn floor(&self, key: i64, tick: u64) -> (State, Option<usize>) {
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
    fn newer_delete_sent(&self, key: i64, ver: i64, tick: u64) -> bool {
        self.by_key
            .get(&key)
            .into_iter()
            .flatten()
            .any(|(i, s)| !s.present && s.ver > ver && self.commits[*i].send < tick)
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
            if let Some(v) = judge_key(&timeline, read, *key, *seen) {
                found.push(Violation { read: i, ..v });
            }
        }
    }
    found
}

fn judge_key(t: &Timeline<'_>, read: &ReadRec, key: i64, seen: Option<i64>) -> Option<Violation> {
    let violation = |verdict, expected, floor_commit| Violation {
        verdict,
        read: 0,
        key,
        seen,
        expected,
        floor_commit,
    };
    if let Some((_, own)) = read.own.iter().find(|(k, _)| *k == key) {
        let ok = match seen {
            Some(v) => own.present && own.ver == v,
            None => !own.present,
        };
        return (!ok).then(|| violation(Verdict::OwnWriteLost, *own, None));
    }
    let (floor, commit) = t.floor(key, read.floor_tick);
    let ok = match seen {
        Some(v) => v >= floor.ver,
        None => !floor.present || t.newer_delete_sent(key, floor.ver, read.ack),
    };
    (!ok).then(|| violation(Verdict::Stale, floor, commit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::history::CommitRec;

    fn present(ver: i64) -> State {
        State { ver, present: true }
    }

    fn commit(send: u64, ack: u64, key: i64, s: State) -> CommitRec {
        CommitRec {
            conn: 1,
            send,
            ack: Some(ack),
            changes: vec![(key, s)],
            event: 0,
        }
    }

    fn read(send: u64, ack: u64, seen: Option<i64>) -> ReadRec {
        ReadRec {
            event: 0,
            conn: 0,
            send,
            ack,
            floor_tick: send,
            seen: vec![(1, seen)],
            own: Vec::new(),
        }
    }

    fn verdicts(commits: Vec<CommitRec>, reads: Vec<ReadRec>) -> Vec<Verdict> {
        let baseline = HashMap::from([(1, present(1))]);
        let round = RoundLog {
            events: Vec::new(),
            reads,
            commits,
        };
        judge(&baseline, &round)
            .into_iter()
            .map(|v| v.verdict)
            .collect()
    }

    #[test]
    fn older_than_an_acknowledged_commit_is_stale() {
        let c = vec![commit(10, 20, 1, present(2))];
        assert_eq!(
            verdicts(c.clone(), vec![read(21, 22, Some(1))]),
            vec![Verdict::Stale]
        );
        // Overlapping the commit: either answer is fine.
        assert!(verdicts(c.clone(), vec![read(15, 25, Some(1))]).is_empty());
        assert!(verdicts(c, vec![read(21, 22, Some(2))]).is_empty());
    }

    #[test]
    fn absence_needs_a_delete_that_may_have_committed() {
        let deleted = State {
            ver: 3,
            present: false,
        };
        let c = vec![commit(10, 20, 1, present(2))];
        assert_eq!(
            verdicts(c.clone(), vec![read(21, 22, None)]),
            vec![Verdict::Stale]
        );
        let mut c2 = c.clone();
        c2.push(commit(21, 30, 1, deleted));
        assert!(verdicts(c2.clone(), vec![read(25, 26, None)]).is_empty());
        // A delete sent only after the read was answered does not excuse it.
        let mut c3 = c;
        c3.push(commit(27, 30, 1, deleted));
        assert_eq!(verdicts(c3, vec![read(25, 26, None)]), vec![Verdict::Stale]);
    }

    #[test]
    fn own_writes_must_be_seen_exactly() {
        let mut r = read(5, 6, Some(1));
        r.own = vec![(1, present(2))];
        assert_eq!(
            verdicts(Vec::new(), vec![r.clone()]),
            vec![Verdict::OwnWriteLost]
        );
        r.seen = vec![(1, Some(2))];
        assert!(verdicts(Vec::new(), vec![r]).is_empty());
    }

    #[test]
    fn a_snapshot_floor_allows_commits_after_the_begin() {
        let c = vec![commit(10, 20, 1, present(2))];
        let mut r = read(30, 31, Some(1));
        r.floor_tick = 9;
        assert!(verdicts(c, vec![r]).is_empty());
    }
}
