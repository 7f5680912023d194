//! The cache side of a session beyond plain hits: answering a simple query from the
//! cache, waiting for another session that is already filling the same key
//! (single-flight), and refreshing a hot entry ahead of its expiry over this session's
//! own origin connection, so hot queries never fall back to the origin.
//!
//! A refresh is sent only when nothing else is in flight at the origin; its answer
//! arrives before the answer of anything forwarded after it, is collected into a fill
//! and is never passed to the client. At most one refresh per entry (see
//! `Entry::on_hit`) and one per session at a time: the extra origin load is bounded by
//! one query per hot entry per TTL, and counted (`wirecache_refreshes_total`).

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::batch::Prepared;
use super::codec::Frame;
use super::errors::PgError;
use super::fill::Fill;
use super::messages;
use super::session::Session;
use crate::cache::Entry;
use crate::engine::FlightGuard;

/// Statement and portal name of bound refreshes (closed again in the same batch).
const REFRESH_NAME: &[u8] = b"wirecache_refresh";

/// What a bound refresh runs again: the statement, the Bind's values and formats, and
/// whether the portal was described.
pub struct BoundRefresh<'a> {
    pub stmt: &'a Prepared,
    pub rest: &'a [u8],
    pub described: bool,
}

/// This session's part in filling a key.
pub enum Lead {
    Leader(FlightGuard),
    /// Another session filled (or gave up on) it while this one waited.
    Followed,
}

impl Session {
    /// Answers the simple query whose key is in `self.key` from the cache, if it can.
    pub fn serve_simple(&mut self, started: Instant, frame: &Frame) -> bool {
        let Some((entry, refresh)) =
            self.engine
                .lookup_hit(&self.scope, self.key.as_slice(), started)
        else {
            return false;
        };
        self.reply(&[&entry.payload, &messages::ready_for_query(b'I')]);
        if refresh {
            self.start_refresh(frame, &entry);
        }
        true
    }

    /// Before filling the key in `self.key`: lead its fill, or, if another session is
    /// filling it already, wait (bounded) until that one is done, so concurrent
    /// identical misses cause one origin execution. The caller looks the key up again
    /// after following.
    pub async fn lead_or_follow(&mut self) -> Result<Lead, PgError> {
        self.flush().await?;
        let flights = self.engine.flights.clone();
        Ok(match flights.lead_or_wait(self.key.as_slice()).await {
            Some(guard) => Lead::Leader(guard),
            None => Lead::Followed,
        })
    }

    /// Whether a refresh can be sent now; if not, the entry may try again later.
    fn can_refresh(&self, entry: &Entry) -> bool {
        let ok = self.refresh.is_none()
            && self.origin_quiet()
            && self.status == b'I'
            && self.ext.synced();
        if !ok {
            entry.refreshing.store(false, Ordering::Relaxed);
        }
        ok
    }

    /// Sends the simple query again in the background to refresh `entry`.
    fn start_refresh(&mut self, frame: &Frame, entry: &Entry) {
        if !self.can_refresh(entry) {
            return;
        }
        let Some(ticket) = self.engine.refresh_ticket(&self.scope, entry) else {
            return;
        };
        self.forward(frame);
        self.refresh = Some(Fill::new(ticket, self.key.as_slice(), None));
    }

    /// Runs a bound statement again in the background to refresh `entry`, as a batch
    /// of its own under a statement and portal name of wirecache's (the client's
    /// unnamed statement and portal are left alone): Parse, Bind, [Describe], Execute,
    /// Close, Sync. Its answer is collected like the original's.
    pub fn start_bound_refresh(&mut self, entry: &Entry, r: BoundRefresh<'_>) {
        if !self.can_refresh(entry) {
            return;
        }
        let Some(ticket) = self.engine.refresh_ticket(&self.scope, entry) else {
            return;
        };
        let name = REFRESH_NAME;
        let out = &mut self.io.to_origin;
        let mut body = Vec::with_capacity(r.stmt.sql.len() + r.rest.len() + 64);
        for (i, part) in [name, r.stmt.sql.as_bytes(), &r.stmt.param_types]
            .iter()
            .enumerate()
        {
            body.extend_from_slice(part);
            if i < 2 {
                body.push(0);
            }
        }
        messages::put_message(out, b'P', &body);
        body.clear();
        body.extend_from_slice(name);
        body.push(0);
        body.extend_from_slice(name);
        body.push(0);
        body.extend_from_slice(r.rest);
        messages::put_message(out, b'B', &body);
        let mut target = vec![b'P'];
        target.extend_from_slice(name);
        target.push(0);
        if r.described {
            messages::put_message(out, b'D', &target);
        }
        let mut execute = target[1..].to_vec();
        execute.extend_from_slice(&0i32.to_be_bytes());
        messages::put_message(out, b'E', &execute);
        target[0] = b'S';
        messages::put_message(out, b'C', &target);
        messages::put_message(out, b'S', &[]);
        self.refresh = Some(Fill::new(ticket, self.key.as_slice(), None));
    }

    /// One message of a refresh's answer; true once the refresh is over.
    pub fn on_refresh_message(&mut self, frame: &Frame) -> bool {
        let max = self.engine.store.max_entry_size() as usize;
        let Some(fill) = self.refresh.as_mut() else {
            return true;
        };
        let tag = frame.tag();
        // ParseComplete, BindComplete and CloseComplete of a bound refresh are framing.
        if !matches!(tag, b'1' | b'2' | b'3') {
            fill.tee(tag, frame, max);
        }
        if tag != b'Z' {
            return false;
        }
        if let Some(fill) = self.refresh.take() {
            fill.finish(&self.engine, &self.scope);
        }
        true
    }
}
