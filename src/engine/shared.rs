//! The engine's side of the cluster's shared result tier: what a fill ticket tells
//! the tier (its TTL, the tables it depends on) and storing a result another
//! instance read, under this instance's own ticket, so it is served exactly like a
//! local hit.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Engine, Entry, FillTicket, Scope};

impl FillTicket {
    /// The TTL its result is stored with.
    pub fn ttl(&self) -> Duration {
        self.ttl.duration()
    }

    /// The tables its result depends on, if they are all known (bare, lower-cased
    /// names); `None` after a rule overrode a refusal (then any write to the database
    /// invalidates it, which the shared generations cannot express).
    pub fn shared_deps(&self) -> Option<&[Box<str>]> {
        self.shared_deps.as_deref()
    }
}

impl Engine {
    /// Stores `payload`, read from the shared tier for `key`, under `ticket`'s local
    /// generations (read when it was planned, before the tier was asked), for `ttl`
    /// (what the tier keeps it still, never more than the ticket's). False if a
    /// write moved them meanwhile or it is too large: then it is not served.
    pub fn install_shared(
        &self,
        scope: &Scope,
        ticket: &FillTicket,
        key: &[u8],
        payload: &[u8],
        ttl: Duration,
    ) -> bool {
        if payload.len() as u64 > self.store.max_entry_size()
            || !ticket.snapshot.is_current()
            || ttl.is_zero()
        {
            return false;
        }
        let entry = Entry {
            payload: Bytes::copy_from_slice(payload),
            snapshot: ticket.snapshot.clone(),
            ttl: ttl.min(ticket.ttl()),
            pinned: matches!(ticket.ttl, super::Ttl::Pinned(_)),
            serve_stale: scope.cache.serve_stale,
            stored_at: Instant::now(),
            template: ticket.template.clone(),
            hits: Default::default(),
            refreshing: Default::default(),
        };
        self.store.insert(key, entry);
        true
    }
}
