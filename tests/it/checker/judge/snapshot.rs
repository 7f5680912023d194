//! The checks of transactions that keep one view of the data: REPEATABLE READ and
//! PostgreSQL's SERIALIZABLE read one snapshot, InnoDB's SERIALIZABLE holds the
//! locks of its reads to the end. Either way a key read twice must read the same
//! unless the transaction wrote it in between ([`Verdict::SnapshotMoved`]); and a
//! snapshot, taken at the latest when the transaction's first read was answered,
//! shows no commit sent after that ([`Verdict::AfterSnapshot`]).

use std::collections::{HashMap, HashSet};

use super::{Timeline, Verdict, Violation, violation};
use crate::checker::history::ReadRec;
use crate::checker::model::State;

/// The ceiling: a read of `key` under a snapshot that shows a commit sent after
/// the snapshot was taken. Keys the transaction wrote are judged as its own.
pub(super) fn ceiling(
    t: &Timeline<'_>,
    read: &ReadRec,
    key: i64,
    seen: Option<i64>,
) -> Option<Violation> {
    let ceiling = read.view.as_ref()?.ceiling?;
    if read.own.iter().any(|(k, _)| *k == key) {
        return None;
    }
    let offender = match seen {
        Some(v) => t
            .commit_of(
                key,
                State {
                    ver: v,
                    present: true,
                },
            )
            .filter(|i| t.commit(*i).send > ceiling)?,
        None => {
            // Absent, though present at the floor: some delete newer than the floor
            // must have been sent before the snapshot was taken.
            let (floor, _) = t.floor(key, read.floor_tick);
            if !floor.present || t.newer_delete_sent(key, floor.ver, ceiling) {
                return None;
            }
            t.first_change(key, |c, s| {
                !s.present && s.ver > floor.ver && c.send > ceiling
            })?
        }
    };
    let expected = t.floor(key, ceiling).0;
    Some(violation(
        Verdict::AfterSnapshot,
        key,
        seen,
        expected,
        Some(offender),
    ))
}

/// A key as one view of one transaction of one connection reads it.
type Slot = (usize, u64, u32, i64);

/// The last read of a slot: its index, what it saw, and the transaction's writes
/// to the key by then and the state they left it in.
type LastRead = (usize, Option<i64>, (u32, Option<State>));

/// Repeated reads: within one transaction with a view, a key's reads must agree
/// while the transaction changed nothing of it in between: neither wrote it (a
/// write rolled back to a savepoint counts) nor undid a write of it (rolling back
/// to a savepoint taken before the write). A read already flagged for the key is
/// not flagged again.
pub(super) fn repeats(reads: &[ReadRec], found: &mut Vec<Violation>) {
    let flagged: HashSet<(usize, i64)> = found.iter().map(|v| (v.read, v.key)).collect();
    let mut last: HashMap<Slot, LastRead> = HashMap::new();
    for (i, read) in reads.iter().enumerate() {
        let Some(view) = &read.view else {
            continue;
        };
        for (key, seen) in &read.seen {
            let own = read.own.iter().find(|(k, _)| k == key).map(|(_, s)| *s);
            let writes = (view.writes_to(*key), own);
            let slot = (read.conn, view.tx, view.epoch, *key);
            if let Some((earlier, before, w)) = last.get(&slot)
                && *w == writes
                && before != seen
                && !flagged.contains(&(i, *key))
            {
                let expected = match before {
                    Some(v) => State {
                        ver: *v,
                        present: true,
                    },
                    None => State {
                        ver: 0,
                        present: false,
                    },
                };
                found.push(Violation {
                    read: i,
                    earlier: Some(*earlier),
                    ..violation(Verdict::SnapshotMoved, *key, *seen, expected, None)
                });
            }
            last.insert(slot, (i, *seen, writes));
        }
    }
}
