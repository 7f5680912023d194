//! Refreshing a hot entry ahead of its expiry over this session's own origin connection
//! (design §5), as the PostgreSQL session does: the COM_QUERY or COM_STMT_EXECUTE that
//! hit is sent again, only when nothing else is in flight; its answer arrives before
//! anything forwarded after it, is collected into a fill and never reaches the client.
//! At most one per entry (see `Entry::on_hit`) and one per session at a time.

use std::sync::atomic::Ordering;

use super::codec::Packet;
use super::response::{Shape, Tracker};
use super::session::{Fill, Session};
use crate::cache::Entry;

/// A refresh in flight: where its answer ends, and what it collected.
pub struct Refresh {
    pub tracker: Tracker,
    pub fill: Fill,
}

impl Session {
    /// Sends the COM_QUERY or COM_STMT_EXECUTE `p` again in the background to refresh
    /// `entry`.
    pub fn start_refresh(&mut self, p: &Packet, entry: &Entry) {
        let quiet = self.refresh.is_none() && self.idle() && self.blocked().is_none();
        if !quiet || p.is_full() {
            entry.refreshing.store(false, Ordering::Relaxed);
            return;
        }
        let Some(ticket) = self.engine.refresh_ticket(&self.scope, entry) else {
            return;
        };
        self.forward(p);
        let deprecate_eof = self.identity.caps & super::handshake::CLIENT_DEPRECATE_EOF != 0;
        self.refresh = Some(Refresh {
            tracker: Tracker::new(Shape::Results, deprecate_eof),
            fill: Fill::new(ticket, self.key.as_slice(), None),
        });
    }

    /// One packet of a refresh's answer.
    pub fn on_refresh_packet(&mut self, p: &Packet) {
        let max = self.engine.store.max_entry_size() as usize;
        let Some(r) = self.refresh.as_mut() else {
            return;
        };
        let event = r.tracker.step(p.payload());
        r.fill.tee(p, event, max);
        if r.tracker.is_done()
            && let Some(r) = self.refresh.take()
        {
            r.fill.finish(&self.engine, &self.scope);
        }
    }
}
