//! The judge's cases: reads it must pass and reads it must flag.

use super::*;
use crate::checker::history::{CommitRec, TxView};

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
        view: None,
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

const ABSENT: State = State {
    ver: 2,
    present: false,
};

/// A read of key 1 by transaction `tx` of connection 0, whose snapshot floor is
/// t5 and whose ceiling (its first read's answer) is `ceiling`, having written key
/// 1 `writes` times.
fn tx_read(send: u64, tx: u64, ceiling: Option<u64>, writes: u32, seen: Option<i64>) -> ReadRec {
    ReadRec {
        floor_tick: 5,
        view: Some(TxView {
            tx,
            epoch: 0,
            ceiling,
            writes: vec![(1, writes)],
        }),
        ..read(send, send + 1, seen)
    }
}

#[test]
fn a_snapshot_shows_no_commit_sent_after_its_first_read() {
    // The first read was answered at t12; a commit sent at t15 must not show.
    let late = vec![commit(15, 20, 1, present(2))];
    assert_eq!(
        verdicts(late.clone(), vec![tx_read(30, 1, Some(12), 0, Some(2))]),
        vec![Verdict::AfterSnapshot]
    );
    assert!(verdicts(late.clone(), vec![tx_read(30, 1, Some(12), 0, Some(1))]).is_empty());
    // Sent before the ceiling (though acknowledged after): it may show, or not.
    let early = vec![commit(10, 20, 1, present(2))];
    assert!(verdicts(early.clone(), vec![tx_read(30, 1, Some(12), 0, Some(2))]).is_empty());
    assert!(verdicts(early, vec![tx_read(30, 1, Some(12), 0, Some(1))]).is_empty());
    // READ COMMITTED has no ceiling, nor has the first read itself.
    assert!(verdicts(late.clone(), vec![read(30, 31, Some(2))]).is_empty());
    assert!(verdicts(late, vec![tx_read(30, 1, None, 0, Some(2))]).is_empty());
}

#[test]
fn a_snapshot_shows_no_delete_sent_after_its_first_read() {
    let late = vec![commit(15, 20, 1, ABSENT)];
    assert_eq!(
        verdicts(late.clone(), vec![tx_read(30, 1, Some(12), 0, None)]),
        vec![Verdict::AfterSnapshot]
    );
    assert!(verdicts(late, vec![tx_read(30, 1, Some(12), 0, Some(1))]).is_empty());
    let early = vec![commit(10, 20, 1, ABSENT)];
    assert!(verdicts(early, vec![tx_read(30, 1, Some(12), 0, None)]).is_empty());
}

#[test]
fn the_own_write_is_judged_as_such_under_a_snapshot() {
    // The transaction updated key 1 to v3 on top of a commit sent after its
    // snapshot (as an InnoDB locking write may): its own version must show.
    let c = vec![commit(15, 20, 1, present(2))];
    let mut r = tx_read(30, 1, Some(12), 1, Some(3));
    r.own = vec![(1, present(3))];
    assert!(verdicts(c.clone(), vec![r.clone()]).is_empty());
    r.seen = vec![(1, Some(2))];
    assert_eq!(verdicts(c, vec![r]), vec![Verdict::OwnWriteLost]);
}

#[test]
fn a_key_read_twice_reads_the_same() {
    // Overlapping a commit, either answer passes the floor and the ceiling, but a
    // transaction must not see both.
    let c = vec![commit(10, 20, 1, present(2))];
    let moved = vec![
        tx_read(8, 1, None, 0, Some(1)),
        tx_read(22, 1, Some(12), 0, Some(2)),
    ];
    assert_eq!(
        verdicts(c.clone(), moved.clone()),
        vec![Verdict::SnapshotMoved]
    );
    // Locking reads (no ceiling) are held to it too; absent counts as a state.
    let locked = vec![
        tx_read(8, 1, None, 0, Some(2)),
        tx_read(22, 1, None, 0, None),
    ];
    let mut del = c.clone();
    del.push(commit(
        11,
        21,
        1,
        State {
            ver: 3,
            present: false,
        },
    ));
    assert_eq!(verdicts(del, locked), vec![Verdict::SnapshotMoved]);
    // Same answer twice; or two transactions; or two connections: nothing to flag.
    let same = vec![
        tx_read(8, 1, None, 0, Some(2)),
        tx_read(22, 1, Some(12), 0, Some(2)),
    ];
    assert!(verdicts(c.clone(), same).is_empty());
    let two_txs = vec![
        tx_read(8, 1, None, 0, Some(1)),
        tx_read(22, 2, None, 0, Some(2)),
    ];
    assert!(verdicts(c.clone(), two_txs).is_empty());
    let mut other_conn = moved.clone();
    other_conn[1].conn = 1;
    assert!(verdicts(c.clone(), other_conn).is_empty());
    // The origin restarted the transaction's view in between (MariaDB's rollback
    // to a savepoint taken before the first read): a new snapshot, a new ceiling.
    let mut restarted = moved;
    restarted[1].view.as_mut().unwrap().epoch = 1;
    restarted[1].view.as_mut().unwrap().ceiling = None;
    assert!(verdicts(c, restarted).is_empty());
}

#[test]
fn a_write_in_between_lets_a_key_change() {
    let c = vec![commit(10, 20, 1, present(2))];
    // The transaction wrote key 1 (v3) between its reads.
    let mut after = tx_read(22, 1, None, 1, Some(3));
    after.own = vec![(1, present(3))];
    assert!(verdicts(c.clone(), vec![tx_read(8, 1, None, 0, Some(1)), after]).is_empty());
    // It wrote key 1 and rolled back to a savepoint: the write still counts.
    let undone = vec![
        tx_read(8, 1, None, 0, Some(1)),
        tx_read(22, 1, None, 1, Some(2)),
    ];
    assert!(verdicts(c.clone(), undone).is_empty());
    // It wrote key 1 (v2) before the first read and rolled that write back (to a
    // savepoint) before the second: the snapshot's v1 shows again.
    let mut own = tx_read(22, 1, None, 1, Some(2));
    own.own = vec![(1, present(2))];
    let rolled_back = vec![own, tx_read(24, 1, None, 1, Some(1))];
    assert!(verdicts(Vec::new(), rolled_back).is_empty());
    // A write to another key does not.
    let mut other_key = tx_read(22, 1, None, 0, Some(2));
    other_key.view.as_mut().unwrap().writes = vec![(1, 0), (2, 1)];
    assert_eq!(
        verdicts(c, vec![tx_read(8, 1, None, 0, Some(1)), other_key]),
        vec![Verdict::SnapshotMoved]
    );
}

#[test]
fn one_verdict_per_key_and_read() {
    // Past the ceiling and moved: reported once, as past the ceiling.
    let c = vec![commit(15, 20, 1, present(2))];
    let reads = vec![
        tx_read(8, 1, None, 0, Some(1)),
        tx_read(30, 1, Some(12), 0, Some(2)),
    ];
    assert_eq!(verdicts(c, reads), vec![Verdict::AfterSnapshot]);
}
