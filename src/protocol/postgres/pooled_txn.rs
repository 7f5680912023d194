//! A session under transaction pooling (`pool = "transaction"`), on top of the
//! ordinary session: it leases an origin connection when it must send something (a
//! miss, a write, `BEGIN`, a catalog question, a Parse of a text the origin has not
//! yet prepared (`pooled_parse`); never for a hit, whose refresh ahead of
//! expiry only takes a connection idle in the pool at once), and gives it back
//! when the origin reports ReadyForQuery `I` with nothing owed, nothing held and no
//! batch open. Between leases the client's unnamed statement and portals are gone
//! (they live within a transaction); its named statements go out under server-side
//! names (`pooled_stmts`) and are prepared again wherever they are missing; its
//! settings are tracked (`pooled_state`) and replayed by the lender
//! (`pooled_lender`); what cannot move pins the session to its connection.
//!
//! A statement is "known" on the attached connection when the lender's `prepared`
//! holds it; any other is sent as Close + Parse (closing a statement the connection
//! lacks is no error), so a connection's set may be unsure without a wrong answer.

use std::sync::Arc;

use bytes::Bytes;

use super::batch::Prepared;
use super::codec::Frame;
use super::errors::PgError;
use super::pooled_lender::TxnLender;
use super::pooled_notes;
use super::pooled_refusals::OnError;
use super::pooled_state::{self, Note};
use super::pooled_stmts;
use super::session::{Answer, Expect, Session};
use crate::engine::Effects;
use crate::stats::OriginFault;

/// CloseComplete.
const CLOSE_COMPLETE: [u8; 5] = [b'3', 0, 0, 0, 4];

impl Session {
    /// The lender, in transaction pooling.
    pub fn lender(&mut self) -> Option<&mut TxnLender> {
        if !self.txn_pooled {
            return None;
        }
        let lender = self.core.io().lender()?;
        lender.as_any().downcast_mut::<TxnLender>()
    }

    /// Leases an origin connection now if the session has none attached; if the
    /// origin cannot be reached, the session goes on without it. Every request that
    /// may need the origin (and so any catalog question it asks, whose own lease in
    /// `session::catalog` then finds one attached) leases here, so each lease is
    /// trimmed to `max_prepared_statements` (`trim_leased`).
    pub async fn ensure_origin(&mut self) -> Result<(), PgError> {
        if !self.txn_pooled || self.core.io().origin_attached() {
            return Ok(());
        }
        // What the client is owed already goes out first: the lease may wait (for
        // a connection another session holds), the answers must not.
        self.core.flush_client().await?;
        let Err(failure) = self.core.io().ensure_origin().await else {
            if self.core.io().origin_attached() {
                self.trim_leased();
            }
            return Ok(());
        };
        let cause = self.lender().and_then(|l| l.failure.take());
        let cause = cause.unwrap_or_else(|| failure.into());
        // The origin is unreachable: the session goes on answering from the cache
        // (`session::outage`), as one that lost its connection at rest does.
        let fault = match &cause {
            PgError::OriginConnect { source, .. } => Some(OriginFault::of_io(source)),
            PgError::OriginUnavailable => Some(OriginFault::Refused),
            _ => None,
        };
        if fault.is_some_and(|f| self.lose_origin(f)) {
            return Ok(());
        }
        Err(cause)
    }

    /// Whether a refresh ahead of expiry may go to the origin now (the protocol's
    /// condition of [`crate::session::Core::begin_refresh`]). Outside transaction
    /// pooling, or with a connection attached, it may. Without one, only if a
    /// connection idle in the pool, already carrying the session's settings, can be
    /// attached at once: the refresh belongs to a hit, whose answer needs no
    /// connection, so it never waits for a lease (that would hold up the answer
    /// behind a full pool's queue, and fail the session at its timeout), never opens
    /// a connection and never replays settings. Without one the claim goes back and
    /// a later hit refreshes.
    pub fn refresh_origin_ready(&mut self) -> bool {
        if !self.txn_pooled || self.core.io().origin_attached() {
            return true;
        }
        if self.core.io().origin_lost() || !self.core.origin_quiet() {
            return false;
        }
        let Some(end) = self.lender().and_then(TxnLender::attach_idle) else {
            return false;
        };
        self.core.io().origin.attach(end);
        true
    }

    /// A statement about to go to the origin: its settings are tracked, or it pins.
    pub fn txn_note(&mut self, sql: &str) {
        if pooled_notes::quiet(sql) {
            return;
        }
        let Some(lender) = self.lender() else {
            return;
        };
        for (note, piece) in pooled_state::notes(sql) {
            match note {
                Note::Pin(reason) => lender.pin(reason),
                note => lender.tracked.sent(piece, note),
            }
        }
    }

    /// The origin reported an error.
    pub fn txn_error(&mut self) {
        if let Some(lender) = self.lender() {
            lender.tracked.error();
            // A Parse or Close of this batch may not have run: those statements
            // are unsure.
            let parsed = std::mem::take(&mut lender.batch_parsed);
            let closed = std::mem::take(&mut lender.batch_closed);
            for id in parsed.into_iter().chain(closed) {
                lender.prepared.doubt(id);
            }
        }
    }

    /// ReadyForQuery with transaction state `idle`; `committed` unless it ended in a
    /// rollback.
    pub fn txn_ready(&mut self, idle: bool, committed: bool) {
        // The batch's Parses and Closes ran. If a later batch was sent already (a
        // client that pipelines, or went on after an error before this
        // ReadyForQuery), the lists are kept until the last one ends: an error there
        // makes all of them unsure (costing at most a Parse again). The request this
        // answers is still counted.
        let later = self.core.owed_at_origin() > 1;
        if let Some(lender) = self.lender() {
            if !later {
                lender.batch_parsed.clear();
                lender.batch_closed.clear();
            }
            if lender.tracked.ready(idle, committed) {
                lender.mark_dirty();
            }
        }
    }

    /// The client's prepared statements may be gone (`DEALLOCATE`, `DISCARD`).
    pub fn txn_statements_dropped(&mut self) {
        if let Some(lender) = self.lender() {
            lender.prepared.clear();
            // The client's statements went with them (`Extended::clear_statements`).
            lender.text_bytes = 0;
        }
    }

    /// Writes out what is owed (leasing a connection first if something must reach
    /// the origin), then gives the connection back if the session is done with it.
    pub async fn txn_flush(&mut self) -> Result<(), PgError> {
        if !self.core.io().origin.outbox.is_empty() {
            self.ensure_origin().await?;
        }
        self.core.flush().await?;
        self.release_if_done().await;
        Ok(())
    }

    /// Gives the origin connection back when the session is idle there, unpinned.
    pub async fn release_if_done(&mut self) {
        let done = crate::protocol::ProxySession::at_rest(self)
            && self.core.txn().is_idle()
            && !self.origin_fatal
            && self.held_fatal.is_none();
        if !done || !self.core.io().origin_attached() || self.core.io().origin_lost() {
            return;
        }
        if self.lender().is_none_or(|l| l.pinned().is_some()) {
            return;
        }
        if self.core.io().release_origin().await {
            self.ext.unnamed.at_origin = false;
            self.ext.portals.clear();
        }
    }

    /// The number of named statement `stmt`, in transaction pooling.
    pub(super) fn server_id(&mut self, stmt: &Prepared) -> Option<u64> {
        let lender = self.lender()?;
        Some(lender.names.id(&stmt.sql, &stmt.param_types))
    }

    /// Whether statement `id` is known to be on the attached connection; if not, it
    /// is recorded as being sent now.
    pub(super) fn known_or_sent(&mut self, id: u64) -> bool {
        let attached = self.core.io().origin_attached();
        let Some(lender) = self.lender() else {
            return true;
        };
        if attached && lender.prepared.has(id) {
            return true;
        }
        self.sending(id);
        false
    }

    /// Statement `id` is being prepared (Close + Parse) on the attached connection,
    /// room made for it under the cap, or on the next one leased.
    pub(super) fn sending(&mut self, id: u64) {
        let attached = self.core.io().origin_attached();
        let Some(lender) = self.lender() else {
            return;
        };
        lender.batch_parsed.push(id);
        if !attached {
            lender.queued.push(id);
            return;
        }
        lender.prepared.remove(id);
        self.make_room(1);
        if let Some(lender) = self.lender() {
            lender.prepared.insert(id);
        }
    }

    /// Queues Close + Parse of statement `id`, the Close's answer swallowed and the
    /// Parse's too if `swallow` (the client did not send it); a failed Parse's error
    /// goes to the client as `on_error` says.
    pub(super) fn prepare_server(
        &mut self,
        id: u64,
        stmt: &Prepared,
        swallow: bool,
        on_error: Option<OnError>,
    ) {
        self.core.to_origin(&pooled_stmts::close(id));
        let close = Answer {
            expect: Expect::Close,
            swallow: true,
            on_error: None,
        };
        self.core.expect(close, Effects::default(), false);
        self.core
            .to_origin(&pooled_stmts::parse(id, &stmt.sql, &stmt.param_types));
        let parse = Answer {
            expect: Expect::Parse,
            swallow,
            on_error,
        };
        self.core.expect(parse, Effects::default(), false);
        self.ext.batch_forwarded = true;
    }

    /// Makes sure statement `stmt` (server-side `id`) is on the connection the next
    /// message goes to.
    pub fn txn_materialize(&mut self, id: u64, stmt: &Prepared) {
        if !self.known_or_sent(id) {
            self.prepare_server(id, stmt, true, None);
        }
    }

    /// The client's Bind of named statement `stmt`, rewritten to its server-side
    /// name, and where its formats and values start.
    pub fn txn_bind(
        &mut self,
        portal: &[u8],
        stmt: &Prepared,
        rest: &[u8],
    ) -> Option<(Frame, usize)> {
        let id = self.server_id(stmt)?;
        let bytes = pooled_stmts::bind(portal, id, rest);
        let rest_at = bytes.len() - rest.len();
        Some((Frame { bytes }, rest_at))
    }

    /// The client's Describe of named statement `stmt`: sent under its server-side
    /// name, prepared first where missing. False outside transaction pooling.
    pub fn txn_describe(&mut self, name: &[u8], stmt: &Arc<Prepared>) -> bool {
        let Some(id) = self.server_id(stmt) else {
            return false;
        };
        self.txn_materialize(id, stmt);
        let frame = Frame {
            bytes: pooled_stmts::describe(id),
        };
        let client = Bytes::copy_from_slice(name);
        self.send_renaming(&frame, Expect::Describe, OnError::Rename { id, client });
        true
    }

    /// What the client is told of an error to a Bind rewritten to `bind` from one
    /// of its statement `client`: the origin's, naming `client` where it names the
    /// server-side statement (`pooled_refusals`). None if nothing was rewritten.
    pub fn txn_renaming(&mut self, bind: &Frame, client: &Bytes) -> Option<OnError> {
        if !self.txn_pooled || client.is_empty() {
            return None;
        }
        let (_, server, _) = super::messages::parse_bind(bind.body())?;
        let id = pooled_stmts::id_of(server)?;
        let client = client.clone();
        Some(OnError::Rename { id, client })
    }

    /// Sends the client's (rewritten) `frame`, its error told as `on_error` says.
    pub fn send_renaming(&mut self, frame: &Frame, expect: Expect, on_error: OnError) {
        self.forward(frame);
        let answer = Answer {
            expect,
            swallow: false,
            on_error: Some(on_error),
        };
        self.core.expect(answer, Effects::default(), false);
        self.ext.batch_forwarded = true;
    }

    /// The client's Close of a named statement: the server-side statement stays for
    /// whoever needs it next; the client is answered here. False outside
    /// transaction pooling.
    pub fn txn_close(&mut self, name: &[u8]) -> bool {
        if !self.txn_pooled {
            return false;
        }
        self.txn_forget(name);
        self.core.reply(&[&CLOSE_COMPLETE]);
        true
    }

    /// `DEALLOCATE [PREPARE] name` of one of the client's named statements: answered
    /// here (the server-side statement stays for whoever needs it next). False for
    /// anything else, such as a statement of SQL `PREPARE` (pinned, at the origin).
    pub fn txn_deallocate(&mut self, sql: &str) -> bool {
        let Some(name) = pooled_state::deallocated(sql) else {
            return false;
        };
        if self.txn_forget(name.as_bytes()).is_none() {
            return false;
        }
        let mut out = bytes::BytesMut::new();
        super::messages::put_message(&mut out, b'C', b"DEALLOCATE\0");
        let ready = super::messages::ready_for_query(super::session::status_byte(self.core.txn()));
        self.core.reply(&[&out, &ready]);
        true
    }

    /// The server-side statement a (rewritten) Bind names, to prepare it first.
    pub fn txn_bound(&mut self, bind: &Frame, stmt: &Prepared) {
        if !self.txn_pooled {
            return;
        }
        let named =
            super::messages::parse_bind(bind.body()).and_then(|(_, s, _)| pooled_stmts::id_of(s));
        if let Some(id) = named {
            self.txn_materialize(id, stmt);
        }
    }

    /// The backend key of the connection serving the session now (transaction
    /// pooling), or of its only one.
    pub fn backend_key(&mut self) -> Option<Bytes> {
        match self.lender() {
            Some(lender) => lender.backend_key(),
            None => self.cancel.as_ref().map(|c| c.key.clone()),
        }
    }
}
