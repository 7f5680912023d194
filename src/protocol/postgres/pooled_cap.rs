//! The server-side statements an origin connection carries under transaction pooling
//! (`pooled_stmts`), and the cache's `max_prepared_statements`: a long-lived
//! connection would otherwise keep every statement any session ever prepared on it
//! (memory in its backend). When a statement must be prepared on a connection that
//! carries the cap, the least recently used ones are closed first (Close, its answer
//! swallowed) and forgotten; a session that needs one again prepares it again, as on
//! any connection that lacks it. A statement the current batch uses or a live
//! portal was bound from is never closed (closing it would close the portal), so a
//! batch that uses more statements than the cap briefly carries more.
//!
//! A statement whose Parse or Close went out in a batch that failed may or may not
//! be on the connection: it is *unsure*, never used as it is (it is prepared again
//! with Close + Parse), counted against the cap and closed first.

use std::collections::{HashMap, HashSet};

use super::pooled_stmts;
use super::session::{Answer, Expect, Session};
use crate::engine::Effects;

/// The server-side statements on one connection, by last use.
#[derive(Debug, Default, Clone)]
pub struct ConnStmts {
    /// Statement number → (last use, sure).
    on: HashMap<u64, (u64, bool)>,
    tick: u64,
}

impl ConnStmts {
    /// Whether statement `id` is surely on the connection; if so, it is used now.
    pub fn has(&mut self, id: u64) -> bool {
        self.tick += 1;
        match self.on.get_mut(&id) {
            Some((used, true)) => {
                *used = self.tick;
                true
            }
            _ => false,
        }
    }

    /// Statement `id` is (being) prepared on the connection.
    pub fn insert(&mut self, id: u64) {
        self.tick += 1;
        self.on.insert(id, (self.tick, true));
    }

    /// Statement `id` may or may not be on the connection.
    pub fn doubt(&mut self, id: u64) {
        let tick = self.on.get(&id).map_or(0, |(t, _)| *t);
        self.on.insert(id, (tick, false));
    }

    pub fn remove(&mut self, id: u64) {
        self.on.remove(&id);
    }

    pub fn clear(&mut self) {
        self.on.clear();
    }

    pub fn len(&self) -> usize {
        self.on.len()
    }

    /// Takes out the statements to close so that `room` more fit within `cap`
    /// (0: no cap): unsure ones first, then the least recently used, never one in
    /// `keep`.
    pub fn evict(&mut self, cap: usize, room: usize, keep: &HashSet<u64>) -> Vec<u64> {
        let mut out = Vec::new();
        while cap > 0 && self.on.len() + room > cap {
            let victim = self
                .on
                .iter()
                .filter(|(id, _)| !keep.contains(id))
                .min_by_key(|(_, (used, sure))| (*sure, *used))
                .map(|(id, _)| *id);
            let Some(id) = victim else {
                break;
            };
            self.on.remove(&id);
            out.push(id);
        }
        out
    }
}

impl Session {
    /// Closes statements on the attached connection so that `room` more fit under
    /// the cap; the Closes go out now, in order.
    pub(super) fn make_room(&mut self, room: usize) {
        for id in self.victims(room) {
            self.core.to_origin(&pooled_stmts::close(id));
            self.core
                .expect(swallowed_close(), Effects::default(), false);
        }
    }

    /// After a lease: statements over the cap are closed before anything queued for
    /// the origin while no connection was attached (nothing else is in flight there).
    pub(super) fn trim_leased(&mut self) {
        let victims = self.victims(0);
        if victims.is_empty() {
            return;
        }
        let outbox = &mut self.core.io().origin.outbox;
        let queued = outbox.split();
        for id in &victims {
            outbox.extend_from_slice(&pooled_stmts::close(*id));
        }
        outbox.unsplit(queued);
        for _ in &victims {
            self.core.expect_first(swallowed_close());
        }
    }

    /// The statements to close for `room` more, taken out of the connection's set
    /// (and remembered as closed in this batch).
    fn victims(&mut self, room: usize) -> Vec<u64> {
        let Some(lender) = self.lender() else {
            return Vec::new();
        };
        let cap = lender.max_prepared;
        if cap == 0 || lender.prepared.len() + room <= cap {
            return Vec::new();
        }
        let mut keep: HashSet<u64> = lender.batch_parsed.iter().copied().collect();
        let portals: Vec<_> = self.ext.portals.values().cloned().collect();
        for stmt in portals {
            if let Some(id) = self.server_id(&stmt) {
                keep.insert(id);
            }
        }
        let Some(lender) = self.lender() else {
            return Vec::new();
        };
        let victims = lender.prepared.evict(cap, room, &keep);
        lender.batch_closed.extend(&victims);
        victims
    }
}

fn swallowed_close() -> Answer {
    Answer {
        expect: Expect::Close,
        swallow: true,
        on_error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_goes_first() {
        let mut s = ConnStmts::default();
        for id in 1..=3 {
            s.insert(id);
        }
        assert!(s.has(1));
        assert_eq!(s.evict(3, 1, &HashSet::new()), vec![2]);
        assert_eq!(s.len(), 2);
        // Kept ones are never taken; without another, the cap is exceeded.
        let keep: HashSet<u64> = [1, 3].into();
        assert!(s.evict(1, 1, &keep).is_empty());
        assert_eq!(s.evict(1, 0, &[1].into()), vec![3]);
        // No cap: nothing is ever closed.
        s.insert(9);
        assert!(s.evict(0, 100, &HashSet::new()).is_empty());
    }

    #[test]
    fn unsure_ones_are_not_used_and_go_first() {
        let mut s = ConnStmts::default();
        s.insert(1);
        s.insert(2);
        s.doubt(2);
        assert!(!s.has(2));
        assert!(s.has(1));
        s.doubt(7);
        assert_eq!(s.len(), 3);
        assert_eq!(s.evict(2, 0, &HashSet::new()), vec![7]);
        assert_eq!(s.evict(1, 0, &HashSet::new()), vec![2]);
        assert!(s.has(1));
    }
}
