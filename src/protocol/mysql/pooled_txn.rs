//! A MySQL/MariaDB session under transaction pooling (`pool = "transaction"`), on
//! top of the ordinary session: it leases an origin connection when something must
//! reach the origin (never for a hit) and gives it back once the origin's status
//! flags say no transaction is open (SERVER_STATUS_IN_TRANS clear, nothing owed, so
//! no SERVER_MORE_RESULTS_EXISTS either), unless the session is pinned or long data
//! waits for its execute.
//!
//! `LAST_INSERT_ID()`: the value lives on the connection that ran the INSERT, and the
//! session may have given that one back. The session remembers the insert id of its
//! last OK that reported one (and the lease it came in: `LAST_INSERT_ID(expr)` is
//! reported too); unless a statement that reads `LAST_INSERT_ID()` runs in that same
//! lease, the value is set first on its connection (`SET last_insert_id = v`; 0 for
//! a session that inserted nothing), so it reads the session's own and never another
//! session's. No pin: a later read in another lease is carried the same way. The connection is not kept after an
//! INSERT: an idle client would hold it, and a full pool would wait for that client.
//!
//! Settings (`pooled_state`) are recorded when the origin accepts them and replayed by
//! the lender (`pooled_lender`); prepared statements follow (`pooled_stmts`).

use std::sync::Arc;

use bytes::BytesMut;

use super::MyContext;
use super::codec::Reader;
use super::command::COM_QUERY;
use super::errors::MyError;
use super::kill::ClientId;
use super::namespace::base_namespace;
use super::pooled::{PooledCache, PooledLogin};
use super::pooled_diag;
use super::pooled_lender::{ConnState, Start, TxnLender, reset_back};
use super::pooled_origin::OriginConn;
use super::pooled_state::{self, Note};
use super::pooled_stmts::{LAST_PREPARED, exec_verdict};
use super::response::SERVER_STATUS_IN_TRANS;
use super::session::{Session, txn_state};
use super::tls::AuthLegs;
use crate::engine::{CacheCtx, SessionNamespace};
use crate::pool::metrics::PinReason;
use crate::protocol::{End, Pipes};
use crate::server::stream::Stream;
use crate::session::Core;

/// The session of a transaction-pooled login (its OK sent): the connection the login
/// leased, if it needed one, goes back at once, as it is, and the session starts
/// holding none.
pub fn start(
    ctx: &Arc<MyContext>,
    (client, cbuf): (Stream, BytesMut),
    a: PooledLogin,
    (cache, pooled): (Arc<CacheCtx>, Arc<PooledCache>),
    id: &ClientId,
) -> Session {
    let PooledLogin {
        admitted,
        origin,
        held,
        identity,
        status,
        thread_id,
        state,
        opener,
    } = a;
    let conn = OriginConn {
        end: origin,
        thread_id,
        status,
        state,
    };
    // The connection a first login leased (to prove the stored secret) goes back.
    if let Some(lease) = held.lease {
        let mut conn = conn;
        if conn.end.alive() {
            lease.give_back(conn);
        }
    }
    let namespace = SessionNamespace::new(base_namespace(&cache.id, &identity));
    let auth = AuthLegs {
        client_tls: client.is_tls(),
        origin_tls: false,
        tls: ctx.tls.clone(),
    };
    let io = Pipes::with_origin(client, cbuf, End::detached_origin());
    let core = Core::new(
        ctx.engine.clone(),
        cache.clone(),
        "",
        namespace,
        io,
        txn_state(status),
    );
    let mut session = Session::new(core, identity, status, ctx.ids.clone(), auth);
    session.admitted = Some(admitted);
    session.txn_pooled = true;
    let Some(opener) = opener else {
        return session;
    };
    let lender = TxnLender::new(Start {
        cache,
        tls: ctx.tls.clone(),
        pooled,
        key: held.key,
        opener,
        ids: ctx.ids.clone(),
        client_id: id.get(),
        first: None,
        scramble: held.scramble,
        plugin: held.default,
    });
    session.core.io().lend_from(Box::new(lender));
    session
}

impl Session {
    /// The lender, in transaction pooling.
    pub fn lender(&mut self) -> Option<&mut TxnLender> {
        if !self.txn_pooled {
            return None;
        }
        let lender = self.core.io().lender()?;
        lender.as_any().downcast_mut::<TxnLender>()
    }

    /// Leases an origin connection now if the session has none attached.
    pub async fn ensure_origin(&mut self) -> Result<(), MyError> {
        if !self.txn_pooled || self.core.io().origin_attached() || self.core.io().origin_lost() {
            return Ok(());
        }
        let Err(failure) = self.core.io().ensure_origin().await else {
            return Ok(());
        };
        let cause = self.lender().and_then(|l| l.failure.take());
        let cause = cause.unwrap_or_else(|| failure.into());
        // The origin is unreachable: the session goes on answering from the cache
        // (`session::outage`), as one that lost its connection at rest does.
        if let MyError::OriginConnect { source, .. } = &cause
            && self.lose_origin(crate::stats::OriginFault::of_io(source))
        {
            return Ok(());
        }
        Err(cause)
    }

    /// Writes out what is owed (leasing a connection first if something must reach
    /// the origin), then gives the connection back if the session is done with it.
    pub async fn txn_flush(&mut self) -> Result<(), MyError> {
        if !self.core.io().origin.outbox.is_empty() {
            self.ensure_origin().await?;
        }
        self.core.flush().await?;
        self.release_if_done().await
    }

    /// Gives the origin connection back when no transaction is open there, nothing
    /// is owed or buffered, and nothing holds it (a pin, long data, or the previous
    /// statement's diagnostics: `pooled_diag`).
    pub async fn release_if_done(&mut self) -> Result<(), MyError> {
        let quiet = crate::protocol::ProxySession::at_rest(self)
            && !self.origin_cont
            && self.status & SERVER_STATUS_IN_TRANS == 0;
        if !quiet || !self.core.io().origin_attached() || self.core.io().origin_lost() {
            return Ok(());
        }
        let held = self
            .lender()
            .is_none_or(|l| l.pinned().is_some() || l.long_data);
        if held {
            return Ok(());
        }
        let keep = self.diag_keeps().await?;
        if let Some(l) = self.lender() {
            l.hold_for_diagnostics(keep);
        }
        if !keep {
            self.core.io().release_origin().await;
        }
        Ok(())
    }

    /// A query about to go to the origin: it pins, or its setting is recorded once
    /// the origin accepts it.
    pub async fn txn_note(&mut self, sql: &str) -> Result<(), MyError> {
        if !self.txn_pooled {
            return Ok(());
        }
        match pooled_state::note(sql) {
            Note::Nothing => {}
            Note::Pin(reason) => self.pin(reason),
            Note::InsertId => self.carry_insert_id().await?,
            note => self.note = Some(note),
        }
        Ok(())
    }

    /// Right before a query goes to the origin (after the insert id's `SET` and any
    /// catalog query, which change the diagnostics there): the connection is brought
    /// to the session's diagnostics if it reads them. `Ok(false)`: answered here.
    pub async fn txn_diagnostics(&mut self, sql: &str) -> Result<bool, MyError> {
        if !self.txn_pooled {
            return Ok(true);
        }
        self.diag_before(pooled_diag::reads(sql)).await
    }

    /// Before a COM_STMT_EXECUTE of client statement `id` (ready on the attached
    /// connection) goes to the origin: what its text needs, as a COM_QUERY of it
    /// does ([`Session::txn_note`]): a pin, or the session's last insert id. Returns
    /// what it reads of the diagnostics, for `diag_before` after any catalog round.
    pub async fn txn_exec_note(&mut self, id: u32) -> Result<pooled_diag::Reads, MyError> {
        let Some(l) = self.lender() else {
            return Ok(pooled_diag::Reads::default());
        };
        let verdict = if id == LAST_PREPARED {
            // Pipelined after its PREPARE: the one still being prepared, if any.
            match l.preparing.back() {
                Some(sql) => Some(exec_verdict(sql)),
                None => l
                    .client_stmts
                    .get(&l.next_stmt.wrapping_sub(1))
                    .map(|s| s.verdict),
            }
        } else {
            l.client_stmts.get(&id).map(|s| s.verdict)
        };
        let verdict = verdict.unwrap_or_default();
        if let Some(reason) = verdict.pin {
            self.pin(reason);
        }
        if verdict.insert_id {
            self.carry_insert_id().await?;
        }
        Ok(verdict.reads)
    }

    pub fn pin(&mut self, reason: PinReason) {
        if let Some(l) = self.lender() {
            l.pin(reason);
        }
    }

    /// Before a statement reading the last insert id: the leased connection gets the
    /// session's value if it is not the one that reported it.
    async fn carry_insert_id(&mut self) -> Result<(), MyError> {
        self.ensure_origin().await?;
        let Some(l) = self.lender() else {
            return Ok(());
        };
        let ((value, made), now) = (l.insert_id, l.lease_no);
        if made == now || l.thread().is_none() {
            return Ok(());
        }
        l.insert_id.1 = now;
        self.wait_quiet().await?;
        let sql = format!("SET last_insert_id = {value}");
        let mut payload = vec![COM_QUERY];
        payload.extend_from_slice(sql.as_bytes());
        let io = self.core.io();
        io.send_to_origin(&super::codec::packet(0, &payload))
            .await?;
        let answer = loop {
            if let Some(p) = super::codec::decode(&mut io.origin.inbox)? {
                break p;
            }
            io.read_origin().await?;
        };
        if answer.first() != Some(0x00) {
            return Err(MyError::Origin("setting the last insert id was refused"));
        }
        if let Some(c) = self.lender().and_then(|l| l.conn()) {
            c.diag.row_count = Some(0);
        }
        Ok(())
    }

    /// The origin accepted a tracked statement: it is the session's state, and the
    /// attached connection's.
    pub fn txn_applied(&mut self, note: &Note) {
        let Some(l) = self.lender() else {
            return;
        };
        let apply = |t: &mut pooled_state::Tracked| match note {
            Note::Set(s) => t.set(s.clone()),
            Note::Use(db) => t.db = Some(db.clone()),
            _ => {}
        };
        apply(&mut l.tracked);
        if let Some(conn) = l.conn() {
            apply(&mut conn.tracked);
        }
    }

    /// An OK packet from the origin: an insert id it reports is the session's.
    pub fn txn_ok(&mut self, payload: &[u8]) {
        let mut r = Reader::new(payload);
        let id = r.u8().and_then(|_| r.lenenc()).and_then(|_| r.lenenc());
        let Some(id) = id.filter(|id| *id != 0) else {
            return;
        };
        if let Some(l) = self.lender() {
            l.insert_id = (id, l.lease_no);
        }
    }

    /// COM_RESET_CONNECTION ran on the attached connection: its settings, statements
    /// and pinned state are gone (its database stays).
    pub fn txn_reset(&mut self) {
        let Some(l) = self.lender() else {
            return;
        };
        l.tracked.sets.clear();
        l.client_stmts.clear();
        l.stmt_bytes = 0;
        l.insert_id = (0, l.lease_no);
        l.long_data = false;
        l.unpin();
        l.hold_for_diagnostics(false);
        if let Some(conn) = l.conn() {
            let db = conn.tracked.db.take();
            *conn = ConnState::at(db.as_deref());
        }
    }
}

/// After a transaction-pooled session: a connection it still holds at rest goes back
/// (reset first if the session was pinned); any other is closed.
pub async fn finish(mut session: Session) {
    let at_rest = session.core.origin_quiet()
        && !session.core.txn().is_open()
        && !session.origin_cont
        && !session.client_cont;
    if !at_rest || session.core.io().origin_lost() {
        return;
    }
    let within = session.core.cache().connect_timeout;
    let status = session.status;
    let Some(end) = session.core.io().origin.detach() else {
        return;
    };
    let Some(lender) = session.lender() else {
        return;
    };
    let pinned = lender.pinned().is_some() || lender.long_data;
    let db = lender.key.database.clone();
    let Some((lease, mut conn)) = lender.finish(end, status) else {
        return;
    };
    // A database the pool's sessions could not leave: closed.
    if db.is_none() && conn.state.tracked.db.is_some() {
        return;
    }
    if pinned {
        reset_back(lease, conn, db.as_deref(), within).await;
    } else if conn.end.alive() {
        lease.give_back(conn);
    }
}
