//! This instance's view of the shared generations: Redis's epoch and every
//! database's generation fields as far as this instance has applied them (the
//! subscription keeps it, in sequence order, before it moves the applied sequence
//! number). The shared result tier stamps what it writes from it and checks what it
//! reads against it.
//!
//! It also knows when this instance's own writes are not in it yet: a bump is
//! counted in flight from before its local counters move until Redis recorded it,
//! and the view is behind until the subscription applied that sequence number. The
//! tier reads nothing meanwhile, so a write acknowledged here can never let the tier
//! serve the pre-write result here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::l2_codec::Stamp;

/// Shared field values, per `dbs` member (`cache/db`).
pub type Seen = HashMap<String, HashMap<String, i64>>;

#[derive(Debug, Default)]
struct Inner {
    epoch: Option<Arc<str>>,
    dbs: Seen,
}

/// The view, shared by the subscription and the sessions.
#[derive(Debug, Default)]
pub struct View {
    inner: Mutex<Inner>,
    /// Own bumps being recorded (counted before the local counters move).
    in_flight: AtomicU64,
    /// The highest sequence number Redis gave one of this instance's bumps.
    own_seq: AtomicU64,
}

impl View {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies one bump as Redis applied it (`HINCRBY` of each field).
    pub fn bumped(&self, member: &str, fields: &[String]) {
        let mut inner = self.lock();
        let db = inner.dbs.entry(member.to_owned()).or_default();
        for f in fields {
            *db.entry(f.clone()).or_default() += 1;
        }
    }

    /// Replaces the view with what Redis holds now. Returns, per member, the fields
    /// that moved since the view last saw them; `None` when the epoch changed (every
    /// local copy is void).
    pub fn replace(&self, epoch: &str, now: Seen) -> Option<Vec<(String, Vec<String>)>> {
        let mut inner = self.lock();
        let same = inner.epoch.as_deref() == Some(epoch);
        let moved = same.then(|| {
            now.iter()
                .map(|(member, fields)| {
                    let before = inner.dbs.get(member);
                    let moved = fields
                        .iter()
                        .filter(|(f, v)| before.and_then(|b| b.get(*f)) != Some(*v))
                        .map(|(f, _)| f.clone())
                        .collect();
                    (member.clone(), moved)
                })
                .collect()
        });
        inner.epoch = Some(epoch.into());
        inner.dbs = now;
        moved
    }

    /// The current values of `fields` of `member` (absent: 0, as Redis reads them).
    pub fn stamp(&self, member: &str, fields: &[String]) -> Option<Stamp> {
        let inner = self.lock();
        let epoch = inner.epoch.clone()?;
        let db = inner.dbs.get(member);
        let fields = fields
            .iter()
            .map(|f| (f.clone(), db.and_then(|d| d.get(f)).copied().unwrap_or(0)))
            .collect();
        Some(Stamp { epoch, fields })
    }

    /// Whether an entry read at `epoch`/`fields` is current for `member` here, and
    /// carries every field in `required` (what this instance's plan depends on).
    pub fn current(
        &self,
        member: &str,
        epoch: &str,
        fields: &[(&str, i64)],
        required: &[String],
    ) -> bool {
        if !required.iter().all(|r| fields.iter().any(|(f, _)| f == r)) {
            return false;
        }
        let inner = self.lock();
        if inner.epoch.as_deref() != Some(epoch) {
            return false;
        }
        let db = inner.dbs.get(member);
        fields
            .iter()
            .all(|(f, v)| db.and_then(|d| d.get(*f)).copied().unwrap_or(0) == *v)
    }

    /// An own bump starts: call before the local counters move.
    pub fn own_started(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
    }

    /// An own bump ended: recorded as sequence number `seq`, or not at all (owed).
    pub fn own_ended(&self, seq: Option<u64>) {
        if let Some(seq) = seq {
            self.own_recorded(seq);
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    /// Redis recorded an own bump (also one owed before) as sequence number `seq`.
    pub fn own_recorded(&self, seq: u64) {
        self.own_seq.fetch_max(seq, Ordering::SeqCst);
    }

    /// Whether every own bump is in the view, given the sequence number applied.
    pub fn own_settled(&self, applied_seq: u64) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
            && self.own_seq.load(Ordering::SeqCst) <= applied_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(pairs: &[(&str, i64)]) -> Seen {
        let db = pairs.iter().map(|(f, v)| ((*f).to_owned(), *v)).collect();
        HashMap::from([("c/d".to_owned(), db)])
    }

    #[test]
    fn stamps_follow_bumps_and_resyncs() {
        let v = View::default();
        let fields = ["*".to_owned(), "t:a".to_owned()];
        assert!(v.stamp("c/d", &fields).is_none(), "no epoch yet");
        assert!(
            v.replace("e1", seen(&[("t:a", 3)])).is_none(),
            "first epoch"
        );
        let s = v.stamp("c/d", &fields).expect("stamp");
        assert_eq!(s.fields, [("*".to_owned(), 0), ("t:a".to_owned(), 3)]);
        let as_read: Vec<(&str, i64)> = s.fields.iter().map(|(f, n)| (f.as_str(), *n)).collect();
        assert!(v.current("c/d", "e1", &as_read, &fields));
        v.bumped("c/d", &["t:a".to_owned()]);
        assert!(!v.current("c/d", "e1", &as_read, &fields), "a bump");
        let now = v.stamp("c/d", &fields).expect("stamp");
        let as_read: Vec<(&str, i64)> = now.fields.iter().map(|(f, n)| (f.as_str(), *n)).collect();
        assert!(v.current("c/d", "e1", &as_read, &fields));
        assert!(!v.current("c/d", "e0", &as_read, &fields), "another epoch");
        let more = ["*".to_owned(), "t:a".to_owned(), "t:b".to_owned()];
        assert!(!v.current("c/d", "e1", &as_read, &more), "a field missing");
        let moved = v.replace("e1", seen(&[("t:a", 4), ("t:b", 1)]));
        assert_eq!(
            moved,
            Some(vec![("c/d".to_owned(), vec!["t:b".to_owned()])])
        );
        assert!(v.replace("e2", Seen::new()).is_none(), "new epoch");
    }

    #[test]
    fn own_bumps_hold_the_view_back_until_applied() {
        let v = View::default();
        assert!(v.own_settled(0));
        v.own_started();
        assert!(!v.own_settled(100), "being recorded");
        v.own_ended(Some(7));
        assert!(!v.own_settled(6), "recorded, not applied here yet");
        assert!(v.own_settled(7));
        v.own_started();
        v.own_ended(None);
        assert!(v.own_settled(7), "owed: the caller checks what is owed");
    }
}
