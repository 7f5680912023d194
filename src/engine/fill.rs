//! The end of a fill: whether its result may be stored (the doorkeeper, asked before
//! the fill starts), storing it when none of its tables moved while it ran, and what
//! the TTL learner makes of it (design §5).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;

use super::{Engine, Entry, FillOutcome, FillTicket, Scope, Ttl};
use crate::cache::ttl::TtlEvent;
use crate::invalidate::Snapshot;

/// Key hashes whose last result hash is remembered for TTL learning.
pub(super) const OBSERVED_KEYS: u64 = 200_000;

/// The last result stored for a key: its hash and the generations it was read at.
#[derive(Debug)]
pub(super) struct Observed {
    result_hash: u64,
    snapshot: Snapshot,
}

/// Whether a fill's result is stored whenever it completes cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admission {
    /// Stored (a template that repeats, a rule's TTL, a probe, a refresh).
    Always,
    /// Stored only if its key missed before (its template's calls mostly miss).
    SecondMiss,
    /// Its key had not missed before: fetched without being collected or stored.
    TurnedAway,
}

impl Engine {
    /// Before a fill of `key` starts: whether its result may be stored. A ticket of a
    /// template whose calls mostly miss asks the doorkeeper, once: its key is admitted
    /// if it missed before, recently, and turned away (counted as
    /// [`FillOutcome::NotAdmitted`]) if not, and then nothing of it is collected.
    pub fn admit(&self, scope: &Scope, ticket: &mut FillTicket, key: &[u8]) -> bool {
        let asked = ticket.admission == Admission::SecondMiss;
        let admitted = self.settle_admission(ticket, key);
        if asked && !admitted {
            scope.cache.metrics.fill(FillOutcome::NotAdmitted);
        }
        admitted
    }

    /// Decides a ticket's admission once (asking the doorkeeper if its template is
    /// admitting, which remembers `key` as having missed now): `Always` or
    /// `TurnedAway` from then on. Counts nothing but the template's admitted misses.
    fn settle_admission(&self, ticket: &mut FillTicket, key: &[u8]) -> bool {
        if ticket.admission == Admission::SecondMiss {
            ticket.admission = if self.doorkeeper.admit(xxhash_rust::xxh3::xxh3_64(key)) {
                ticket.template.on_admitted();
                Admission::Always
            } else {
                Admission::TurnedAway
            };
        }
        ticket.admission == Admission::Always
    }

    /// Stores a completed result if none of its tables moved while it ran (and, for a
    /// template whose calls mostly miss, its key missed before), and learns from it:
    /// origin latency, and whether the result changed since the last fill of the same
    /// key (design §5).
    pub fn complete_fill(
        &self,
        scope: &Scope,
        ticket: FillTicket,
        key: &[u8],
        payload: Bytes,
    ) -> FillOutcome {
        ticket
            .template
            .origin_latency
            .record(ticket.started.elapsed());
        let outcome = if payload.len() as u64 > self.store.max_entry_size() {
            FillOutcome::TooLarge
        } else if !ticket.snapshot.is_current() {
            FillOutcome::Invalidated
        } else {
            self.admit_and_store(scope, ticket, key, payload)
        };
        scope.cache.metrics.fill(outcome);
        outcome
    }

    /// A clean, current result: stored unless the doorkeeper turns it away.
    fn admit_and_store(
        &self,
        scope: &Scope,
        mut ticket: FillTicket,
        key: &[u8],
        payload: Bytes,
    ) -> FillOutcome {
        // Settled before the fill started where the session asked (`admit`); a
        // session that fills without leading a flight is judged here, at the end.
        if !self.settle_admission(&mut ticket, key) {
            // Neither stored nor observed: most such keys never come back, and the
            // ones that do are stored (and observed) at their next miss.
            return FillOutcome::NotAdmitted;
        }
        let key_hash = xxhash_rust::xxh3::xxh3_64(key);
        self.observe(scope, key_hash, &payload, &ticket);
        let template = ticket.template;
        template
            .result_bytes_last
            .store(payload.len() as u64, Ordering::Relaxed);
        let entry = Entry {
            payload,
            snapshot: ticket.snapshot,
            ttl: ticket.ttl.duration(),
            pinned: matches!(ticket.ttl, Ttl::Pinned(_)),
            serve_stale: scope.cache.serve_stale,
            stored_at: Instant::now(),
            template,
            hits: Default::default(),
            refreshing: Default::default(),
        };
        self.store.insert(key, entry);
        FillOutcome::Stored
    }

    /// Compares a result with the previous one for the same key and tells the template.
    fn observe(&self, scope: &Scope, key_hash: u64, payload: &[u8], ticket: &FillTicket) {
        let result_hash = xxhash_rust::xxh3::xxh3_64(payload);
        if let Some(prev) = self.observed.get(&key_hash) {
            let event = if prev.result_hash == result_hash {
                TtlEvent::Unchanged
            } else if !prev.snapshot.is_current() {
                TtlEvent::ChangedExplained
            } else {
                TtlEvent::ChangedUnexplained
            };
            ticket.template.observe(event, &scope.cache.bounds);
        }
        let observed = Observed {
            result_hash,
            snapshot: ticket.snapshot.clone(),
        };
        self.observed.insert(key_hash, Arc::new(observed));
    }
}
