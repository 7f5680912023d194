//! The answers owed to the client, in request order. Every request that expects an
//! answer pushes one item: an answer made here (a hit, a deferred acknowledgement) or
//! one the origin will send. Local answers at the head of the queue go out at once;
//! one behind an origin answer waits for it, so a pipeline's answers never reorder.

use bytes::Bytes;

use super::Core;
use crate::engine::Effects;

/// A forwarded request whose answer the origin owes.
#[derive(Debug)]
pub struct Owed<A> {
    /// How the protocol recognises the end of this answer.
    pub answer: A,
    /// The request's writes, applied at its acknowledgement.
    pub effects: Effects,
    /// The answer is stored by the session's current fill.
    pub tee: bool,
}

/// An answer owed to the client, in order.
#[derive(Debug)]
pub enum Pending<A> {
    /// Made here; `sync` marks the end of a batch answered here (PostgreSQL's
    /// ReadyForQuery for a Sync), where skipping after an error stops.
    Local {
        bytes: Bytes,
        sync: bool,
    },
    Origin(Owed<A>),
}

impl<A> Core<A> {
    /// Expects an answer from the origin for a request just forwarded.
    pub fn expect(&mut self, answer: A, effects: Effects, tee: bool) {
        self.isolation_forwarded();
        if self.idle() {
            self.restart_deadline();
        }
        self.pending.push_back(Pending::Origin(Owed {
            answer,
            effects,
            tee,
        }));
    }

    /// Expects an answer from the origin for a request put before every other one
    /// queued for it, when nothing is in flight there yet (a connection just leased):
    /// behind the local answers already owed, ahead of every origin answer.
    pub fn expect_first(&mut self, answer: A) {
        let at = self
            .pending
            .iter()
            .position(|p| matches!(p, Pending::Origin(_)))
            .unwrap_or(self.pending.len());
        let owed = Owed {
            answer,
            effects: Effects::default(),
            tee: false,
        };
        self.pending.insert(at, Pending::Origin(owed));
    }

    /// Answers the client here: straight into the output when nothing is owed before
    /// it (no allocation), else queued in order.
    pub fn reply(&mut self, parts: &[&[u8]]) {
        if self.pending.is_empty() {
            for p in parts {
                self.io.client.outbox.extend_from_slice(p);
            }
        } else {
            self.local(Bytes::from(parts.concat()), false);
        }
    }

    /// Queues an answer made here behind everything owed.
    pub fn local(&mut self, bytes: Bytes, sync: bool) {
        self.pending.push_back(Pending::Local { bytes, sync });
    }

    /// Moves local answers at the head of the queue to the client.
    pub fn release_local(&mut self) {
        while let Some(Pending::Local { .. }) = self.pending.front() {
            if let Some(Pending::Local { bytes, .. }) = self.pending.pop_front() {
                self.io.client.outbox.extend_from_slice(&bytes);
            }
        }
    }

    /// The oldest answer the origin owes, once the local answers before it are out.
    pub fn front_owed(&mut self) -> Option<&mut Owed<A>> {
        self.release_local();
        match self.pending.front_mut() {
            Some(Pending::Origin(owed)) => Some(owed),
            _ => None,
        }
    }

    /// The oldest owed answer is complete.
    pub fn answered(&mut self) {
        self.pending.pop_front();
        self.restart_deadline();
    }

    /// Drops owed answers up to the first for which `stop` holds (kept); false if
    /// none does (the queue is then empty).
    pub fn drop_until(&mut self, stop: impl Fn(&Pending<A>) -> bool) -> bool {
        while let Some(front) = self.pending.front() {
            if stop(front) {
                return true;
            }
            self.pending.pop_front();
        }
        false
    }

    /// Drops the owed answers behind the oldest one for which `drop` holds.
    pub fn drop_behind(&mut self, drop: impl Fn(&Pending<A>) -> bool) {
        let head = self.pending.pop_front();
        self.pending.retain(|p| !drop(p));
        if let Some(head) = head {
            self.pending.push_front(head);
        }
    }

    /// Nothing is owed to the client.
    pub fn nothing_owed(&self) -> bool {
        self.pending.is_empty()
    }

    /// No client request is in flight at the origin.
    pub fn idle(&self) -> bool {
        !self.pending.iter().any(|p| matches!(p, Pending::Origin(_)))
    }

    /// How many client requests are in flight at the origin.
    pub fn owed_at_origin(&self) -> usize {
        let origin = |p: &&Pending<A>| matches!(p, Pending::Origin(_));
        self.pending.iter().filter(origin).count()
    }

    /// Nothing at all is in flight at the origin, not even a refresh.
    pub fn origin_quiet(&self) -> bool {
        self.idle() && self.refresh.is_none()
    }
}
