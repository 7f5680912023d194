//! One proxied MySQL session after authentication: acts on client commands (answers
//! hits locally, forwards everything else) and relays the origin's answers in order.
//! The loop that reads, flushes and stops is `protocol::drive`.
//!
//! Ordering: every command that expects an answer pushes one [`Pending`] item;
//! answers reach the client strictly in that order, so a hit behind a pipelined command
//! waits for it. A packet whose sequence id is not 0 (auth rounds of COM_CHANGE_USER,
//! LOCAL INFILE data) or that continues a payload over 16 MiB is not a new command: it
//! is forwarded untouched.
//!
//! Transaction state comes only from the status flags of the origin's OK and EOF
//! packets (SERVER_STATUS_IN_TRANS, SERVER_STATUS_AUTOCOMMIT).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::server::stream::Stream;

use super::ahead::Refresh;
use super::codec::{self, Packet};
use super::errors::MyError;
use super::kill::ConnectionIds;
use super::namespace::{after_for, base_namespace};
use super::prepared::Statements;
use super::response::{SERVER_STATUS_AUTOCOMMIT, SERVER_STATUS_IN_TRANS, Shape, Tracker};
use crate::cache::{KeyBuilder, KeyKind};
use crate::config::CacheMode;
use crate::engine::{
    BypassReason, CacheCtx, CatalogAccess, CatalogQuestion, Decision, Effects, Engine, FillOutcome,
    FillTicket, FlightGuard, QueryRequest, Scope, SessionNamespace,
};
use crate::protocol::{Pipes, ProxySession};

pub const COM_QUIT: u8 = 0x01;
pub const COM_INIT_DB: u8 = 0x02;
pub const COM_QUERY: u8 = 0x03;
pub const COM_FIELD_LIST: u8 = 0x04;
pub const COM_STATISTICS: u8 = 0x09;
pub const COM_PROCESS_KILL: u8 = 0x0C;
pub const COM_PING: u8 = 0x0E;
pub const COM_CHANGE_USER: u8 = 0x11;
pub const COM_BINLOG_DUMP: u8 = 0x12;
pub const COM_STMT_PREPARE: u8 = 0x16;
pub const COM_STMT_EXECUTE: u8 = 0x17;
pub const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
pub const COM_STMT_CLOSE: u8 = 0x19;
pub const COM_STMT_RESET: u8 = 0x1A;
pub const COM_SET_OPTION: u8 = 0x1B;
pub const COM_STMT_FETCH: u8 = 0x1C;
pub const COM_BINLOG_DUMP_GTID: u8 = 0x1E;
pub const COM_RESET_CONNECTION: u8 = 0x1F;

/// Who the session is at the origin: the parts of its namespace fixed at login (or at
/// COM_CHANGE_USER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: Vec<u8>,
    pub database: Option<Vec<u8>>,
    pub charset: u8,
    /// Negotiated capability flags.
    pub caps: u32,
}

/// What the session does when a command's answer ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    Nothing,
    /// A ROLLBACK: the transaction's writes are not applied again when it ends.
    Rollback,
    /// COMMIT, or START TRANSACTION / BEGIN (which commit an open transaction): the
    /// transaction's writes are applied again at its OK, even when the flags go on
    /// saying "in a transaction" (`AND CHAIN`, the new transaction).
    Commit,
    /// COM_STMT_PREPARE of this SQL (`None`: not UTF-8, never cached).
    Prepared(Option<Arc<str>>),
    /// COM_CHANGE_USER as the origin got it: on OK, the session's new identity.
    ChangeUser(Identity),
    /// COM_RESET_CONNECTION: on OK, back to the login state.
    Reset,
}

/// A forwarded command whose answer is owed to the client.
#[derive(Debug)]
pub struct Awaiting {
    pub tracker: Tracker,
    pub effects: Effects,
    /// The answer is stored by the session's current fill.
    pub tee: bool,
    pub after: After,
    /// No packet of the answer has arrived yet.
    pub first: bool,
}

/// An answer owed to the client, in order.
#[derive(Debug)]
pub enum Pending {
    Local(Bytes),
    Origin(Awaiting),
}

/// A result being collected for the cache while it streams to the client.
pub struct Fill {
    pub ticket: FillTicket,
    pub key: Bytes,
    pub buf: BytesMut,
    pub failed: Option<FillOutcome>,
    pub result_sets: u32,
    /// Held (until dropped with the fill) so identical misses elsewhere wait for it.
    pub _flight: Option<FlightGuard>,
}

impl Fill {
    pub fn new(ticket: FillTicket, key: &[u8], flight: Option<FlightGuard>) -> Self {
        Fill {
            ticket,
            key: Bytes::copy_from_slice(key),
            buf: BytesMut::new(),
            failed: None,
            result_sets: 0,
            _flight: flight,
        }
    }
}

/// How a request that missed is forwarded.
pub struct Miss<'a> {
    pub shape: Shape,
    pub sql: &'a str,
    /// What its acknowledgement means for the session (ROLLBACK, …).
    pub after: After,
    /// It may wait for an identical miss of another session and be answered from
    /// the cache (not when the origin must see this request itself).
    pub may_follow: bool,
}

/// What to do after single-flight: fill (leading or not), or nothing (answered).
pub enum Lead {
    Fill(Option<FlightGuard>),
    Served,
}

pub struct Session {
    pub engine: Arc<Engine>,
    pub scope: Scope,
    pub identity: Identity,
    /// Login material plus session-changing statements (SET, USE, COM_INIT_DB).
    pub namespace: SessionNamespace,
    pub io: Pipes,
    /// Status flags of the origin's last OK or EOF.
    pub status: u16,
    pub pending: VecDeque<Pending>,
    pub key: KeyBuilder,
    pub fill: Option<Fill>,
    /// A refresh ahead of expiry in flight: its answer is stored, never relayed.
    pub refresh: Option<Refresh>,
    /// Writes of the open transaction, applied again when it ends.
    pub txn_effects: Effects,
    /// Catalog facts this session needed while it could not ask (in a transaction).
    pub deferred: CatalogQuestion,
    pub stmts: Statements,
    /// The listener's live connection ids, for translating KILL.
    pub ids: Arc<ConnectionIds>,
    /// The last client / origin packet was full: the next one continues its payload.
    pub client_cont: bool,
    pub origin_cont: bool,
    pub terminated: bool,
}

impl Session {
    pub fn new(
        engine: Arc<Engine>,
        cache: Arc<CacheCtx>,
        identity: Identity,
        status: u16,
        client: (Stream, BytesMut),
        origin: (Stream, BytesMut),
        ids: Arc<ConnectionIds>,
    ) -> Session {
        let namespace = SessionNamespace::new(base_namespace(&cache.id, &identity));
        // One set of generation counters per cache: MySQL statements may name tables
        // of any database, and counters are keyed by bare table name anyway.
        let scope = Scope {
            db: engine.generations.database(&cache.id, ""),
            namespace: namespace.id(&engine.namespaces),
            cache,
        };
        Session {
            engine,
            scope,
            identity,
            namespace,
            io: Pipes::new(client.0, client.1, origin.0, origin.1),
            status,
            pending: VecDeque::new(),
            key: KeyBuilder::default(),
            fill: None,
            refresh: None,
            txn_effects: Effects::default(),
            deferred: CatalogQuestion::default(),
            stmts: Statements::default(),
            ids,
            client_cont: false,
            origin_cont: false,
            terminated: false,
        }
    }

    pub async fn flush(&mut self) -> Result<(), MyError> {
        self.release_local();
        Ok(self.io.flush().await?)
    }

    /// Moves local answers at the head of the queue to the client.
    pub fn release_local(&mut self) {
        while let Some(Pending::Local(_)) = self.pending.front() {
            if let Some(Pending::Local(bytes)) = self.pending.pop_front() {
                self.io.to_client.extend_from_slice(&bytes);
            }
        }
    }

    /// True when nothing is in flight at the origin.
    pub fn idle(&self) -> bool {
        !self.pending.iter().any(|p| matches!(p, Pending::Origin(_)))
    }

    pub fn forward(&mut self, p: &Packet) {
        self.io.to_origin.extend_from_slice(&p.bytes);
    }

    pub fn expect(&mut self, shape: Shape, effects: Effects, tee: bool, after: After) {
        let deprecate_eof = self.identity.caps & super::handshake::CLIENT_DEPRECATE_EOF != 0;
        self.pending.push_back(Pending::Origin(Awaiting {
            tracker: Tracker::new(shape, deprecate_eof),
            effects,
            tee,
            after,
            first: true,
        }));
    }

    async fn on_client(&mut self, p: Packet) -> Result<(), MyError> {
        let continuation = std::mem::replace(&mut self.client_cont, p.is_full());
        if continuation || p.seq() != 0 {
            self.forward(&p);
            return Ok(());
        }
        match p.first() {
            Some(COM_QUERY) => self.on_query(p).await,
            Some(COM_STMT_PREPARE) => {
                self.on_prepare(p);
                Ok(())
            }
            Some(COM_STMT_EXECUTE) => self.on_execute(p).await,
            Some(COM_STMT_SEND_LONG_DATA | COM_STMT_CLOSE | COM_STMT_RESET | COM_STMT_FETCH) => {
                self.on_statement(p);
                Ok(())
            }
            Some(COM_CHANGE_USER) => {
                self.on_change_user(p);
                Ok(())
            }
            Some(COM_PROCESS_KILL) => {
                self.on_process_kill(&p);
                Ok(())
            }
            Some(cmd) => {
                self.on_simple(cmd, p);
                Ok(())
            }
            None => Err(MyError::Client("empty command packet")),
        }
    }

    /// Commands whose answer is one packet or a plain result, and COM_QUIT.
    fn on_simple(&mut self, cmd: u8, p: Packet) {
        self.forward(&p);
        let (shape, effects, after) = match cmd {
            COM_QUIT => {
                self.terminated = true;
                return;
            }
            COM_INIT_DB => {
                let mut text = b"\0init_db ".to_vec();
                text.extend_from_slice(p.payload().get(1..).unwrap_or_default());
                self.remember_session_text(&text);
                (Shape::Single, Effects::default(), After::Nothing)
            }
            COM_PING | COM_SET_OPTION | COM_STATISTICS => {
                (Shape::Single, Effects::default(), After::Nothing)
            }
            COM_RESET_CONNECTION => (Shape::Single, Effects::default(), After::Reset),
            COM_FIELD_LIST => (Shape::FieldList, Effects::default(), After::Nothing),
            COM_BINLOG_DUMP | COM_BINLOG_DUMP_GTID => {
                (Shape::Stream, Effects::default(), After::Nothing)
            }
            // Anything else: the origin judges it; assume it may write anything.
            _ => (Shape::Results, Effects::unknown_write(), After::Nothing),
        };
        if effects.taints_session {
            self.taint();
        }
        self.expect(shape, effects, false, after);
    }

    /// Why a request may not use the cache right now, whatever it is.
    pub fn blocked(&self) -> Option<BypassReason> {
        if self.scope.cache.mode == CacheMode::Off {
            // A plain relay: nothing is looked up (the engine judges nothing either).
            Some(BypassReason::RuleSaysNo)
        } else if self.status & SERVER_STATUS_IN_TRANS != 0
            || self.status & SERVER_STATUS_AUTOCOMMIT == 0
        {
            Some(BypassReason::InTransaction)
        } else if !self.idle() {
            Some(BypassReason::Pipeline)
        } else {
            None
        }
    }

    /// Looks the current key up; on a hit queues the replayed answer. With the
    /// request's packet (text protocol), a hot entry may be refreshed ahead of expiry.
    pub fn try_hit(&mut self, started: Instant, request: Option<&Packet>) -> bool {
        let Some((entry, refresh)) =
            self.engine
                .lookup_hit(&self.scope, self.key.as_slice(), started)
        else {
            return false;
        };
        let bytes = super::relay::replay(&entry.payload, self.status, self.identity.caps);
        self.pending.push_back(Pending::Local(bytes));
        if let (true, Some(p)) = (refresh, request) {
            self.start_refresh(p, &entry);
        }
        true
    }

    async fn on_query(&mut self, p: Packet) -> Result<(), MyError> {
        let started = Instant::now();
        let text = p.payload().get(1..).unwrap_or_default();
        let blocked = self.blocked();
        if blocked.is_none() && !p.is_full() {
            self.key
                .start(self.scope.namespace, KeyKind::MySqlText)
                .part(text);
            if self.try_hit(started, Some(&p)) {
                return Ok(());
            }
        }
        if !p.is_full() && super::kill::parse(text).is_some() {
            self.on_kill(&p);
            return Ok(());
        }
        let sql = match std::str::from_utf8(text) {
            Ok(sql) if !p.is_full() => sql.to_string(),
            // Over 16 MiB or not UTF-8: the origin judges it.
            _ => {
                self.forward_unknown(&p, Shape::Results);
                return Ok(());
            }
        };
        let decision = self.decide(&sql, blocked).await?;
        let miss = Miss {
            shape: Shape::Results,
            sql: &sql,
            after: after_for(&sql),
            may_follow: true,
        };
        self.carry_out(&p, decision, started, miss).await
    }

    /// Forwards a request wirecache cannot judge, assuming it may write anything.
    pub fn forward_unknown(&mut self, p: &Packet, shape: Shape) {
        self.forward(p);
        self.taint();
        self.expect(shape, Effects::unknown_write(), false, After::Nothing);
    }

    /// Carries out the decision for a request that missed: fill (first leading, or
    /// waiting for, an identical miss elsewhere when `may_follow`), or forward with the
    /// statement's effects.
    pub async fn carry_out(
        &mut self,
        p: &Packet,
        decision: Decision,
        started: Instant,
        miss: Miss<'_>,
    ) -> Result<(), MyError> {
        match decision {
            Decision::Fill(ticket) => {
                let flight = if miss.may_follow {
                    let Lead::Fill(flight) = self.lead_or_serve(started).await? else {
                        return Ok(());
                    };
                    flight
                } else {
                    None
                };
                self.forward(p);
                self.start_fill(ticket, flight);
                self.expect(miss.shape, Effects::default(), true, After::Nothing);
            }
            Decision::Forward { effects, .. } => {
                self.forward(p);
                let effects = self.session_effects(effects, miss.sql);
                self.expect(miss.shape, effects, false, miss.after);
            }
            Decision::NeedCatalog(_) => self.forward_unknown(p, miss.shape),
        }
        Ok(())
    }

    /// Plans a request, asking the catalog first when the engine needs facts and the
    /// session can ask (nothing in flight, no transaction).
    pub async fn decide(
        &mut self,
        sql: &str,
        blocked: Option<BypassReason>,
    ) -> Result<Decision, MyError> {
        // The catalog is read on the origin connection: nothing may be in flight.
        let can_ask = self.blocked().is_none() && self.refresh.is_none();
        let req = QueryRequest {
            sql,
            blocked,
            catalog: CatalogAccess::now_or_later(can_ask),
        };
        match self.engine.plan(&self.scope, req, &mut self.deferred) {
            Decision::NeedCatalog(question) => {
                self.flush().await?;
                let facts = self.ask_catalog(&question).await?;
                self.engine.learn(&self.scope, facts);
                let req = QueryRequest {
                    catalog: CatalogAccess::Asked,
                    ..req
                };
                Ok(self.engine.plan(&self.scope, req, &mut self.deferred))
            }
            d => Ok(d),
        }
    }

    /// Starts collecting a result for the cache under the current key.
    pub fn start_fill(&mut self, ticket: FillTicket, flight: Option<FlightGuard>) {
        self.fill = Some(Fill::new(ticket, self.key.as_slice(), flight));
    }

    /// Before filling the key in `self.key`: lead its fill, or wait for the session
    /// already filling it and answer from the cache (single-flight).
    pub async fn lead_or_serve(&mut self, started: Instant) -> Result<Lead, MyError> {
        self.flush().await?;
        let flights = self.engine.flights.clone();
        Ok(match flights.lead_or_wait(self.key.as_slice()).await {
            Some(guard) => Lead::Fill(Some(guard)),
            None if self.try_hit(started, None) => Lead::Served,
            None => Lead::Fill(None),
        })
    }
}

impl ProxySession for Session {
    type Message = Packet;

    fn pipes(&mut self) -> &mut Pipes {
        &mut self.io
    }

    fn next_from_client(&mut self) -> Result<Option<Packet>, MyError> {
        codec::decode(&mut self.io.cin)
    }

    fn next_from_origin(&mut self) -> Result<Option<Packet>, MyError> {
        codec::decode(&mut self.io.oin)
    }

    fn on_client(&mut self, p: Packet) -> impl Future<Output = Result<(), MyError>> + Send {
        Session::on_client(self, p)
    }

    fn on_origin(&mut self, p: Packet) -> Result<(), MyError> {
        Session::on_origin(self, p);
        Ok(())
    }

    fn flush(&mut self) -> impl Future<Output = Result<(), MyError>> + Send {
        Session::flush(self)
    }

    fn terminated(&self) -> bool {
        self.terminated
    }

    fn at_rest(&self) -> bool {
        self.pending.is_empty()
            && self.status & SERVER_STATUS_IN_TRANS == 0
            && self.fill.is_none()
            && self.refresh.is_none()
            && !self.client_cont
            && self.io.cin.is_empty()
    }

    /// Only while the client awaits an answer: an idle MySQL client expects nothing
    /// (one closed at shutdown is simply disconnected).
    fn error_for_client(&self, e: &MyError) -> Option<Bytes> {
        if self.pending.iter().any(|p| matches!(p, Pending::Origin(_))) {
            super::errors::to_wire(e, 1)
        } else {
            None
        }
    }

    fn goodbye(&self) -> Bytes {
        codec::packet(0, &[COM_QUIT])
    }
}
