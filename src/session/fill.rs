//! A result being collected for the cache while it streams to the client (or, for a
//! refresh ahead of expiry, while nobody waits for it): bounded by `max_entry_size`,
//! abandoned on anything but one plain result.

use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};

use crate::cluster::Pending;
use crate::engine::{Engine, FillOutcome, FillTicket, FlightGuard, Scope};

/// What one message of an answer is, for the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Stored (description, rows, a terminator).
    Keep,
    /// Stored, and it starts or ends one result: a plain answer has exactly one.
    Result,
    /// Framing the replay makes itself: not stored.
    Skip,
    /// The origin reported an error: nothing is stored.
    Error,
    /// More than a plain result (a notice, warnings, another result, COPY…).
    NotPlain,
}

pub(super) struct Fill {
    ticket: FillTicket,
    key: Bytes,
    collected: Collected,
    /// Held while filling so identical misses elsewhere wait for this one.
    _flight: Option<FlightGuard>,
    /// Written to the cluster's shared result tier too, once stored locally.
    shared: Option<Pending>,
}

/// The bytes of an answer so far, or why it will not be stored.
#[derive(Default)]
struct Collected {
    buf: BytesMut,
    failed: Option<FillOutcome>,
    results: u32,
}

impl Collected {
    fn tee(&mut self, bytes: &[u8], part: Part, max: usize) {
        if self.failed.is_some() {
            return;
        }
        match part {
            Part::Skip => return,
            Part::Error => self.failed = Some(FillOutcome::Error),
            Part::NotPlain => self.failed = Some(FillOutcome::NotPlain),
            Part::Result => self.results += 1,
            Part::Keep => {}
        }
        if self.failed.is_some() {
            self.buf = BytesMut::new();
        } else if self.buf.len() + bytes.len() > max {
            self.failed = Some(FillOutcome::TooLarge);
            self.buf = BytesMut::new();
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }
}

impl Fill {
    pub fn new(ticket: FillTicket, key: &[u8], flight: Option<FlightGuard>, max: usize) -> Self {
        // Sized for what the template's last result took (most results of a template
        // are alike): one allocation, which the entry keeps as it is.
        let last = ticket.template().result_bytes_last.load(Ordering::Relaxed);
        let capacity = usize::try_from(last).unwrap_or(0).min(max);
        Self {
            ticket,
            key: Bytes::copy_from_slice(key),
            collected: Collected {
                buf: BytesMut::with_capacity(capacity),
                ..Collected::default()
            },
            _flight: flight,
            shared: None,
        }
    }

    /// Once stored locally, the result goes to the shared tier as `pending` says.
    pub fn share(&mut self, pending: Pending) {
        self.shared = Some(pending);
    }

    /// Copies one message of the answer, or marks the fill failed.
    pub fn tee(&mut self, bytes: &[u8], part: Part, max: usize) {
        self.collected.tee(bytes, part, max);
    }

    /// Gives the fill up (unless it failed already) with `outcome`.
    pub fn fail(&mut self, outcome: FillOutcome) {
        self.collected.failed.get_or_insert(outcome);
    }

    /// Stores the result (if it is one plain result) and releases waiting sessions.
    pub fn finish(self, engine: &Engine, scope: &Scope) {
        let c = self.collected;
        match c.failed {
            Some(outcome) => engine.abandon_fill(scope, outcome),
            None if c.results != 1 => engine.abandon_fill(scope, FillOutcome::NotPlain),
            None => {
                let ttl = self.ticket.ttl();
                let payload = exact(c.buf);
                let outcome = engine.complete_fill(scope, self.ticket, &self.key, payload.clone());
                let l2 = engine.cluster().and_then(|cl| cl.l2());
                if let (FillOutcome::Stored, Some(p), Some(l2)) = (outcome, self.shared, l2) {
                    l2.put(p, payload, ttl);
                }
            }
        }
    }
}

/// The collected bytes as the entry keeps them: the buffer itself when it is (about)
/// as large as its contents, else a copy, so an entry never holds much more memory
/// than the cache counts for it.
fn exact(buf: BytesMut) -> Bytes {
    if buf.capacity() - buf.len() <= buf.len() / 8 {
        buf.freeze()
    } else {
        Bytes::copy_from_slice(&buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_keeps_the_buffer_only_when_it_fits() {
        let mut fitting = BytesMut::with_capacity(100);
        fitting.extend_from_slice(&[7; 100]);
        let at = fitting.as_ptr();
        let kept = exact(fitting);
        assert_eq!((kept.as_ptr(), kept.len()), (at, 100), "kept as it is");
        let mut roomy = BytesMut::with_capacity(4096);
        roomy.extend_from_slice(&[7; 100]);
        let at = roomy.as_ptr();
        let copied = exact(roomy);
        assert_ne!(copied.as_ptr(), at, "copied into its own allocation");
        assert_eq!(&copied[..], &[7; 100][..]);
        assert!(exact(BytesMut::new()).is_empty());
    }

    #[test]
    fn parts_decide_what_is_kept() {
        let mut c = Collected::default();
        c.tee(b"desc", Part::Keep, 100);
        c.tee(b"row", Part::Keep, 100);
        c.tee(b"ready", Part::Skip, 100);
        c.tee(b"done", Part::Result, 100);
        assert_eq!(
            (&c.buf[..], c.results, c.failed),
            (&b"descrowdone"[..], 1, None)
        );
        c.tee(b"0123456789", Part::Keep, 20);
        assert_eq!(c.failed, Some(FillOutcome::TooLarge));
        assert!(c.buf.is_empty());
        c.tee(b"x", Part::Error, 100);
        assert_eq!(
            c.failed,
            Some(FillOutcome::TooLarge),
            "the first failure stays"
        );
        let mut e = Collected::default();
        e.tee(b"row", Part::Keep, 100);
        e.tee(b"err", Part::Error, 100);
        assert_eq!((e.failed, e.buf.len()), (Some(FillOutcome::Error), 0));
    }
}
