//! The cache side of a session: the key of the request at hand, hits, single-flight
//! (concurrent identical misses cause one origin execution), collecting a fill, and
//! refreshing a hot entry ahead of its expiry over this session's own origin
//! connection, so hot queries never fall back to the origin.
//!
//! A refresh is sent only when nothing else is in flight at the origin and no
//! transaction is open; its answer arrives before the answer of anything forwarded
//! after it, is collected into a fill and never reaches the client. At most one
//! refresh per entry (the engine's [`RefreshClaim`]) and one per session at a time:
//! the extra origin load is bounded by one query per hot entry per TTL.

use std::time::Instant;

use super::Core;
use super::fill::{Fill, Part};
use crate::cache::KeyKind;
use crate::engine::{FillOutcome, FillTicket, FlightGuard, Hit, RefreshClaim};
use crate::protocol::SessionError;

/// This session's part in filling a key.
pub enum Lead {
    /// Fill it: as the leader of its single flight (others wait for its result), or,
    /// `None`, alone (a result the doorkeeper will not store: nobody waits for it,
    /// and nothing is collected).
    Leader(Option<FlightGuard>),
    /// Another session filled (or gave up on) it while this one waited: look again.
    Followed,
}

impl<A> Core<A> {
    /// Makes the cache key of the request at hand: its kind and the parts that
    /// identify it (SQL text, parameter types and values, …), in this namespace.
    pub fn key(&mut self, kind: KeyKind, parts: &[&[u8]]) {
        self.key.start(self.scope.namespace, kind);
        for part in parts {
            self.key.part(part);
        }
    }

    /// A fresh entry under the current key that may be served where the request
    /// runs, counted as a hit (without an origin: also one within `serve_stale`).
    pub fn hit(&self, started: Instant) -> Option<Hit> {
        if !self.cluster_allows_hits() {
            return None;
        }
        let ctx = self.read_context().ok()?;
        let link = self.origin_link();
        self.engine
            .lookup(&self.scope, self.key.as_slice(), started, ctx, link)
    }

    /// Before filling the current key (planned as `ticket`): lead its fill, or, if
    /// another session is filling it already, wait (bounded) until that one is done.
    /// What was queued is written out first, so no client waits on this session's
    /// wait. A leader asks the cluster's shared result tier first; what it finds there
    /// is stored locally, and the leader then looks it up like a follower. A result
    /// the doorkeeper turns away (its template's calls mostly miss and this key had
    /// not missed before) is fetched alone: no single flight, no shared tier, nothing
    /// collected.
    pub async fn lead_or_follow(&mut self, ticket: &mut FillTicket) -> Result<Lead, SessionError> {
        self.l2_pending = None;
        if !self.engine.admit(&self.scope, ticket, self.key.as_slice()) {
            return Ok(Lead::Leader(None));
        }
        self.flush().await?;
        let Some(guard) = self.engine.lead_or_follow(self.key.as_slice()).await else {
            return Ok(Lead::Followed);
        };
        if self.engine.cluster().is_some_and(|c| c.l2().is_some())
            && self.ask_shared_tier(ticket).await
        {
            // Stored locally: followers find it as this session does.
            drop(guard);
            return Ok(Lead::Followed);
        }
        Ok(Lead::Leader(Some(guard)))
    }

    /// Starts collecting the answer of the request at hand for the current key.
    /// Nothing is collected for a result the doorkeeper turned away.
    pub fn start_fill(&mut self, ticket: FillTicket, flight: Option<FlightGuard>) {
        if ticket.turned_away() {
            return;
        }
        let mut fill = Fill::new(
            ticket,
            self.key.as_slice(),
            flight,
            self.engine.max_entry_size(),
        );
        if let Some(p) = self.l2_pending.take()
            && p.local_key == self.key.as_slice()
        {
            fill.share(p);
        }
        self.fill = Some(fill);
    }

    /// Copies one message of the answer into the current fill.
    pub fn tee(&mut self, bytes: &[u8], part: Part) {
        let max = self.engine.max_entry_size();
        if let Some(fill) = self.fill.as_mut() {
            fill.tee(bytes, part, max);
        }
    }

    /// The answer being collected is complete: store it if it is storable.
    pub fn finish_fill(&mut self) {
        if let Some(fill) = self.fill.take() {
            fill.finish(&self.engine, &self.scope);
        }
    }

    /// The request being collected will not complete (an error skipped it).
    pub fn abandon_fill(&mut self, outcome: FillOutcome) {
        if let Some(mut fill) = self.fill.take() {
            fill.fail(outcome);
            fill.finish(&self.engine, &self.scope);
        }
    }

    /// Whether a refresh may be sent now: none in flight, nothing owed by the origin,
    /// no transaction, and `protocol_ok` (the protocol's own conditions).
    fn may_refresh(&self, protocol_ok: bool) -> bool {
        protocol_ok && self.origin_quiet() && self.txn.is_idle() && !self.io.origin_lost()
    }

    /// Takes on the refresh of the entry just hit, under the current key, if the
    /// session may send one now. True: the caller writes the request to the origin,
    /// and its answer is recognised with `answer`. False: the claim is given back.
    pub fn begin_refresh(&mut self, claim: RefreshClaim, answer: A, protocol_ok: bool) -> bool {
        if !self.may_refresh(protocol_ok) {
            return false;
        }
        let Some(ticket) = self.engine.refresh_ticket(&self.scope, claim) else {
            return false;
        };
        self.refresh = Some((
            answer,
            Fill::new(
                ticket,
                self.key.as_slice(),
                None,
                self.engine.max_entry_size(),
            ),
        ));
        true
    }

    /// How the answer of the refresh in flight is recognised, if one is.
    pub fn refresh_answer(&mut self) -> Option<&mut A> {
        self.refresh.as_mut().map(|(answer, _)| answer)
    }

    /// One message of the refresh's answer; `done`: it was the last.
    pub fn tee_refresh(&mut self, bytes: &[u8], part: Part, done: bool) {
        let max = self.engine.max_entry_size();
        if let Some((_, fill)) = self.refresh.as_mut() {
            fill.tee(bytes, part, max);
        }
        if done && let Some((_, fill)) = self.refresh.take() {
            fill.finish(&self.engine, &self.scope);
        }
    }
}
