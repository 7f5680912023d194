//! Failure reports: for each violation, the interleaved history of the offending
//! key (who sent what, when it was acknowledged, what came back) and a minimal
//! replay script (the SQL per connection, in the order it was sent).

use std::collections::HashSet;
use std::fmt::Write as _;

use super::history::{Event, RoundLog};
use super::judge::{Verdict, Violation};

/// How many violations are printed in full.
pub const SHOWN: usize = 3;

/// The report of a round's violations.
pub fn violations(protocol: &str, seed: u64, round: &RoundLog, found: &[Violation]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{protocol}: {} violation(s); seed {seed} (WIRECACHE_CHECKER_SEED={seed})",
        found.len()
    );
    for v in found.iter().take(SHOWN) {
        one(&mut out, round, v);
    }
    out
}

fn one(out: &mut String, round: &RoundLog, v: &Violation) {
    let read = &round.reads[v.read];
    let ev = &round.events[read.event];
    let seen = v.seen.map_or("absent".to_string(), |x| format!("v{x}"));
    let _ = writeln!(
        out,
        "\n== {} of key {}: conn {} read {} (sent t{} answered t{}), {}",
        v.verdict.as_str(),
        v.key,
        read.conn,
        seen,
        read.send,
        read.ack,
        expectation(round, v)
    );
    if let Some(c) = v.floor_commit.map(|i| &round.commits[i]) {
        let why = match v.verdict {
            Verdict::AfterSnapshot => format!(
                "after the transaction's snapshot was taken (by t{})",
                read.view.as_ref().and_then(|x| x.ceiling).unwrap_or(0)
            ),
            _ => format!("before the read's floor t{}", read.floor_tick),
        };
        let _ = writeln!(
            out,
            "   set by conn {}'s commit sent t{}, acknowledged t{} ({why})",
            c.conn,
            c.send,
            c.ack.unwrap_or(0),
        );
    }
    let earlier = v.earlier.map(|i| round.reads[i].send);
    let start = v
        .floor_commit
        .map(|i| tx_start(round, round.commits[i].event))
        .unwrap_or(read.floor_tick)
        .min(read.floor_tick)
        .min(earlier.unwrap_or(u64::MAX));
    let picked = relevant(round, v.key, start, ev.ack, read.event);
    let _ = writeln!(out, "-- history of key {} (t = logical clock):", v.key);
    for e in &picked {
        let tx = e.tx.map_or(String::new(), |t| format!(" tx{t}"));
        let _ = writeln!(
            out,
            "   t{:>7}..t{:<7} conn {}{tx}: {}  -> {}",
            e.send, e.ack, e.conn, e.sql, e.answer
        );
    }
    let _ = writeln!(
        out,
        "-- replay script (run each block on its connection, in this order):"
    );
    let mut last = usize::MAX;
    for e in &picked {
        if e.conn != last {
            let _ = writeln!(out, "-- conn {}", e.conn);
            last = e.conn;
        }
        let _ = writeln!(out, "{};", e.sql.trim_end_matches(';'));
    }
}

/// What the read should have shown, by its verdict.
fn expectation(round: &RoundLog, v: &Violation) -> String {
    match (v.verdict, v.earlier) {
        (Verdict::OwnWriteLost, _) => format!("expected exactly {}", v.expected.describe()),
        (Verdict::AfterSnapshot, _) => format!(
            "expected its snapshot's state (at least {}, acknowledged before the snapshot)",
            v.expected.describe()
        ),
        (Verdict::SnapshotMoved, Some(i)) => {
            let r = &round.reads[i];
            let before = r
                .seen
                .iter()
                .find(|(k, _)| *k == v.key)
                .and_then(|(_, s)| *s)
                .map_or("absent".to_string(), |x| format!("v{x}"));
            format!(
                "expected {before}, as the same transaction's read sent t{} answered t{} saw",
                r.send, r.ack
            )
        }
        _ => format!("expected at least {}", v.expected.describe()),
    }
}

/// The send tick of the first statement of the transaction `event` belongs to.
fn tx_start(round: &RoundLog, event: usize) -> u64 {
    let e = &round.events[event];
    match e.tx {
        None => e.send,
        Some(t) => round
            .events
            .iter()
            .filter(|x| x.conn == e.conn && x.tx == Some(t))
            .map(|x| x.send)
            .min()
            .unwrap_or(e.send),
    }
}

/// Events in `[start, end]` that touch `key`, whole transactions that did, and
/// the offending read, in send order.
fn relevant(round: &RoundLog, key: i64, start: u64, end: u64, read: usize) -> Vec<&Event> {
    let in_window = |e: &&Event| e.ack >= start && e.send <= end;
    let txs: HashSet<(usize, u64)> = round
        .events
        .iter()
        .filter(in_window)
        .filter(|e| e.keys.contains(&key))
        .filter_map(|e| e.tx.map(|t| (e.conn, t)))
        .collect();
    let mut picked: Vec<&Event> = round
        .events
        .iter()
        .enumerate()
        .filter(|(i, e)| {
            *i == read
                || (in_window(e)
                    && (e.keys.contains(&key) || e.tx.is_some_and(|t| txs.contains(&(e.conn, t)))))
        })
        .map(|(_, e)| e)
        .collect();
    picked.sort_by_key(|e| e.send);
    picked
}
