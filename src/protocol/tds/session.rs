//! One proxied TDS session after login: acts on client requests (SQLBatch reads
//! answered from the cache or filled; everything else forwarded) and relays the
//! origin's answers in order. The loop that reads, flushes and stops is
//! `protocol::drive`; the answers owed, the cache and the transaction's writes are the
//! session core's ([`crate::session::Core`]).
//!
//! TDS has no pipelining without MARS (refused at PRELOGIN): a client sends one
//! request and reads its whole answer, a message ending in a packet marked EOM.
//! Transaction state comes only from the origin's ENVCHANGE tokens (begin, commit,
//! rollback), never from the SQL text.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::cancel::OwnCancel;
use super::codec::{self, Assembler, Kind, Message, Packet};
use super::rpc_call::{Handles, Prepared};
use super::tokens::Scanner;
use crate::cache::KeyKind;
use crate::classify::Isolation;
use crate::config::CacheMode;
use crate::engine::catalog::Row;
use crate::engine::{Effects, NamespaceMaterial};
use crate::protocol::{Pipes, ProxySession, SessionError, Side};
use crate::server::admission::Admitted;
use crate::session::{Catalog, Core};

/// The largest request wirecache assembles (SQL text and RPC parameters).
pub const MAX_REQUEST: usize = 64 << 20;

/// What the drive loop hands the session: a whole client request, or one packet of
/// the origin's answer (answers stream; they are never assembled).
#[derive(Debug)]
pub enum Unit {
    Request(Message),
    Packet(Packet),
}

/// How one owed answer is followed.
#[derive(Debug, Default)]
pub struct Answer {
    pub scanner: Scanner,
    /// An answer to an RPC: its RETURNSTATUS belongs to a plain result.
    pub rpc: bool,
    /// A prepare: the handle the answer returns maps to this statement.
    pub prepare: Option<Arc<Prepared>>,
}

pub struct Session {
    pub core: Core<Answer>,
    client: Assembler,
    /// The packet size negotiated at login: replayed answers are split to it.
    pub packet_size: usize,
    /// Requests carry ALL_HEADERS (TDS 7.2 and later).
    pub all_headers: bool,
    /// The TDS version the client logged in with.
    pub tds_version: u32,
    /// The login's namespace material (cache, login, database, client options): a
    /// connection reset goes back to it.
    pub base: NamespaceMaterial,
    /// An Attention was relayed and the origin has not acknowledged it yet.
    pub attention: bool,
    /// Follows origin messages no request owns (an Attention's acknowledgement).
    pub stray: Scanner,
    /// The places this session holds under the connection limits.
    pub admitted: Option<Admitted>,
    /// The statements this session prepared, by the origin's handle.
    pub handles: Handles,
    /// The descriptor of the transaction the origin last reported begun (0: none
    /// open), which the client's requests must carry.
    pub txn_descriptor: u64,
    /// Where an Attention of wirecache's own (`query_timeout`) stands.
    pub own_cancel: OwnCancel,
    /// Part of the owed answer went to the client already.
    pub answer_started: bool,
}

impl Session {
    pub fn new(
        core: Core<Answer>,
        packet_size: usize,
        base: NamespaceMaterial,
        tds_version: u32,
    ) -> Self {
        Session {
            core,
            client: Assembler::new(Side::Client, MAX_REQUEST),
            packet_size,
            all_headers: tds_version >= super::login::TDS_72,
            tds_version,
            base,
            attention: false,
            stray: Scanner::for_version(tds_version),
            admitted: None,
            handles: Handles::default(),
            txn_descriptor: 0,
            own_cancel: OwnCancel::Idle,
            answer_started: false,
        }
    }

    /// A client request is half received.
    pub fn client_partial(&self) -> bool {
        self.client.is_partial()
    }

    /// How an answer to this session's client is followed.
    pub fn answer(&self) -> Answer {
        Answer {
            scanner: Scanner::for_version(self.tds_version),
            rpc: false,
            prepare: None,
        }
    }

    /// How an answer to an RPC is followed; `prepare`: the statement its handle is for.
    pub fn rpc_answer(&self, prepare: Option<Arc<Prepared>>) -> Answer {
        Answer {
            rpc: true,
            prepare,
            ..self.answer()
        }
    }

    /// How an answer to a batch (`rpc` false) or to a statement's RPC is followed.
    pub fn answer_to(&self, rpc: bool) -> Answer {
        if rpc {
            self.rpc_answer(None)
        } else {
            self.answer()
        }
    }

    pub fn forward(&mut self, m: &Message) {
        self.core.to_origin(&m.raw);
    }

    pub fn expect(&mut self, effects: Effects, tee: bool) {
        self.core.expect(self.answer(), effects, tee);
    }

    async fn on_client(&mut self, m: Message) -> Result<(), SessionError> {
        if m.status & (codec::STATUS_RESETCONNECTION | codec::STATUS_RESETCONNECTIONSKIPTRAN) != 0 {
            self.reset_namespace();
        }
        match m.kind {
            Kind::SqlBatch => self.on_batch(m).await,
            Kind::Rpc => self.on_rpc(m).await,
            Kind::BulkLoad => {
                // Bulk loads may write anything in the database.
                self.forward(&m);
                let effects = Effects {
                    whole_database: true,
                    ..Effects::default()
                };
                self.expect(effects, false);
                Ok(())
            }
            Kind::TransactionManager => {
                // Begin/commit/rollback requests: their ENVCHANGEs say what happened.
                self.forward(&m);
                self.expect(Effects::default(), false);
                Ok(())
            }
            Kind::Attention if self.core.io().origin_lost() => {
                self.acknowledge_attention();
                Ok(())
            }
            Kind::Attention if self.swallowing() => {
                self.client_attention_while_cancelling();
                Ok(())
            }
            Kind::Attention => {
                self.forward(&m);
                self.attention = true;
                Ok(())
            }
            Kind::Login7
            | Kind::PreLogin
            | Kind::PreTds7Login
            | Kind::Sspi
            | Kind::FedAuthToken => Err(SessionError::Client("a login message after the login")),
            Kind::TabularResult | Kind::Other(_) => {
                Err(SessionError::Client("unknown request type"))
            }
        }
    }

    /// Back to the login's namespace: the origin resets the connection before this
    /// request.
    fn reset_namespace(&mut self) {
        self.core.reset_session(self.base.clone());
        self.core.default_isolation_known(Isolation::ReadCommitted);
        // Whether the origin keeps prepared handles across a reset is not relied on:
        // their executions are forwarded, judged unknown, until prepared again.
        self.handles.clear();
    }

    async fn on_batch(&mut self, m: Message) -> Result<(), SessionError> {
        let started = Instant::now();
        let Some(text) = batch_text(&m.payload, self.all_headers) else {
            return Err(SessionError::Client("malformed SQLBatch headers"));
        };
        let blocked = self.core.blocked();
        let reset = m.status & codec::STATUS_RESETCONNECTION != 0;
        if blocked.is_none() {
            // The key is set even when no hit may be tried: a fill is stored under it.
            self.core.key(KeyKind::TdsBatch, &[text]);
            // While an Attention awaits its acknowledgement, a local answer would
            // overtake it.
            if !reset && !self.attention && self.try_hit(started, Some(&m), false) {
                return Ok(());
            }
        }
        // A plain relay (mode off) never reads the text.
        let sql = if self.core.cache().mode == CacheMode::Off {
            String::new()
        } else {
            super::sql_text::decode(text)
        };
        // Boxed: the miss path's future is large, and inline it would make every hit
        // build and copy it.
        Box::pin(self.miss(m, sql, blocked, started, false)).await
    }

    /// Looks the current key up; on a hit queues the stored answer in this session's
    /// packets. With the request, a hot entry may be refreshed ahead of expiry; `rpc`:
    /// the request is an RPC.
    pub fn try_hit(&mut self, started: Instant, request: Option<&Message>, rpc: bool) -> bool {
        let Some(hit) = self.core.hit(started) else {
            return false;
        };
        let bytes = codec::message(Kind::TabularResult, &hit.entry.payload, self.packet_size);
        self.core.local(bytes, false);
        if let (Some(claim), Some(m)) = (hit.refresh, request)
            && self.core.begin_refresh(claim, self.answer_to(rpc), true)
        {
            self.forward(m);
        }
        true
    }

    /// Forwards a request wirecache cannot judge, assuming it may write anything.
    pub fn forward_unknown(&mut self, m: &Message) {
        self.forward(m);
        self.core.taint();
        self.expect(Effects::unknown_write(), false);
    }
}

/// The SQL text of a SQLBatch payload (UTF-16LE), after its ALL_HEADERS when the
/// session's TDS version has them.
pub fn batch_text(payload: &[u8], all_headers: bool) -> Option<&[u8]> {
    if !all_headers {
        return Some(payload);
    }
    let total = payload.get(..4)?;
    let total = usize::try_from(u32::from_le_bytes(total.try_into().ok()?)).ok()?;
    // TDS 7.2+ always sends ALL_HEADERS; its length counts itself.
    if total < 4 {
        return None;
    }
    payload.get(total..)
}

impl Catalog for Session {
    type Answer = Answer;

    fn core(&mut self) -> &mut Core<Answer> {
        &mut self.core
    }

    /// Not while the client's request is half received, nor while an Attention
    /// awaits its acknowledgement.
    fn may_ask(&self) -> bool {
        !self.client.is_partial() && !self.attention && !self.swallowing()
    }

    async fn results(&mut self, sql: &str) -> Result<Option<Vec<Vec<Row>>>, SessionError> {
        self.own_query(sql).await
    }
}

impl ProxySession for Session {
    type Message = Unit;

    fn pipes(&mut self) -> &mut Pipes {
        self.core.io()
    }

    fn next_from_client(&mut self) -> Result<Option<Unit>, SessionError> {
        let inbox = &mut self.core.io().client.inbox;
        Ok(self.client.next(inbox)?.map(Unit::Request))
    }

    fn next_from_origin(&mut self) -> Result<Option<Unit>, SessionError> {
        Ok(codec::decode(&mut self.core.io().origin.inbox, Side::Origin)?.map(Unit::Packet))
    }

    async fn on_client(&mut self, u: Unit) -> Result<(), SessionError> {
        match u {
            Unit::Request(m) => Session::on_client(self, m).await,
            Unit::Packet(_) => Err(SessionError::Client("unassembled packet")),
        }
    }

    fn on_origin(&mut self, u: Unit) -> Result<(), SessionError> {
        match u {
            Unit::Packet(p) => Session::on_origin(self, &p),
            Unit::Request(_) => Err(SessionError::Origin("assembled message")),
        }
    }

    fn flush(&mut self) -> impl Future<Output = Result<(), SessionError>> + Send {
        self.core.flush()
    }

    fn terminated(&self) -> bool {
        self.core.terminated()
    }

    fn at_rest(&self) -> bool {
        self.core.at_rest() && !self.client.is_partial() && !self.attention && !self.swallowing()
    }

    /// Only while the client awaits an answer (a query timeout: always, it may come
    /// from wirecache's own catalog query made for the client's request).
    fn error_for_client(&self, e: &SessionError) -> Option<Bytes> {
        if !self.core.idle() || matches!(e, SessionError::QueryTimeout(_)) {
            super::errors::to_wire(e, false, self.tds_version)
        } else {
            None
        }
    }

    /// TDS has no goodbye message: the connection is simply closed.
    fn goodbye(&self) -> Bytes {
        Bytes::new()
    }

    fn arrived(&mut self) -> impl Future<Output = ()> + Send {
        self.core.cluster_gate()
    }

    fn settle(&mut self) -> impl Future<Output = ()> + Send {
        self.core.settle()
    }

    fn idle_timeout(&self) -> Option<std::time::Duration> {
        self.admitted.as_ref().and_then(|a| a.idle_timeout)
    }

    fn cache(&self) -> &std::sync::Arc<crate::engine::CacheCtx> {
        self.core.cache()
    }

    fn origin_lost(&mut self, fault: crate::stats::OriginFault) -> bool {
        self.lose_origin(fault)
    }

    fn unavailable_answer(&mut self) -> Option<Bytes> {
        self.unavailable()
    }

    fn query_deadline(&self) -> Option<tokio::time::Instant> {
        self.core.query_deadline()
    }

    fn on_overdue(&mut self) -> Result<(), SessionError> {
        self.overdue()
    }

    /// Nothing is cancelled: the origin connection closes with the session.
    fn cancel_origin_query(&mut self) {}
}
