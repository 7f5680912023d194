//! One proxied MySQL session after authentication: acts on client commands (answers
//! hits locally, forwards everything else) and relays the origin's answers in order.
//! The loop that reads, flushes and stops is `protocol::drive`; the answers owed, the
//! cache and the transaction's writes are the session core's
//! ([`crate::session::Core`]).
//!
//! A packet whose sequence id is not 0 (auth rounds of COM_CHANGE_USER,
//! LOCAL INFILE data) or that continues a payload over 16 MiB is not a new command: it
//! is forwarded untouched.
//!
//! Transaction state comes only from the status flags of the origin's OK and EOF
//! packets (SERVER_STATUS_IN_TRANS, SERVER_STATUS_AUTOCOMMIT).

use crate::server::admission::Admitted;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::codec::{self, Packet};
use super::command::*;
use super::errors::MyError;
use super::kill::ConnectionIds;
use super::prepared::Statements;
use super::response::{SERVER_STATUS_AUTOCOMMIT, SERVER_STATUS_IN_TRANS, Shape, Tracker};
use super::tls::AuthLegs;
use crate::cache::KeyKind;
use crate::engine::Effects;
use crate::protocol::{Pipes, ProxySession};
use crate::session::{Core, TxnState};

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
    /// Transaction pooling: a setting or database the session keeps once the origin
    /// accepts it.
    Track(super::pooled_state::Note),
}

/// How one owed answer is recognised, and what its end means for the session.
#[derive(Debug)]
pub struct Answer {
    pub tracker: Tracker,
    pub after: After,
    /// No packet of the answer has arrived yet.
    pub first: bool,
}

pub struct Session {
    pub core: Core<Answer>,
    /// Its places under the connection limits, held until it ends.
    pub admitted: Option<Admitted>,
    pub identity: Identity,
    /// Status flags of the origin's last OK or EOF.
    pub status: u16,
    pub stmts: Statements,
    /// The listener's live connection ids, for translating KILL.
    pub ids: Arc<ConnectionIds>,
    /// The last client / origin packet was full: the next one continues its payload.
    pub client_cont: bool,
    pub origin_cont: bool,
    /// The legs' TLS, which COM_CHANGE_USER's auth rounds are checked against.
    pub auth: AuthLegs,
    /// Sequence id of the ERR a client awaiting an answer gets if the session ends:
    /// 1, or that of a refused COM_CHANGE_USER auth round the ERR stands for.
    pub err_seq: u8,
    /// Pooled mode: the lease of the origin connection, given back when the session
    /// ends at rest. COM_QUIT is then not forwarded, and COM_CHANGE_USER is checked
    /// by wirecache (`pooled_change_user`).
    pub pooled: Option<super::pooled::Held>,
    /// Transaction pooling (`pooled_txn`): origin connections are leased per
    /// transaction from the lender in the session's pipes.
    pub txn_pooled: bool,
    /// Transaction pooling: what the statement being forwarded changes once accepted.
    pub note: Option<super::pooled_state::Note>,
    /// Pass-through: what the connection's diagnostics area may hold of the
    /// client's (`catalog`: a catalog query would clear it).
    pub conditions: super::pooled_diag::Conditions,
}

/// The transaction state MySQL status flags report.
pub fn txn_state(status: u16) -> TxnState {
    if status & SERVER_STATUS_IN_TRANS != 0 {
        TxnState::Open
    } else if status & SERVER_STATUS_AUTOCOMMIT == 0 {
        TxnState::AutocommitOff
    } else {
        TxnState::Idle
    }
}

impl Session {
    pub fn new(
        core: Core<Answer>,
        identity: Identity,
        status: u16,
        ids: Arc<ConnectionIds>,
        auth: AuthLegs,
    ) -> Self {
        Session {
            core,
            admitted: None,
            identity,
            status,
            stmts: Statements::default(),
            ids,
            client_cont: false,
            origin_cont: false,
            auth,
            err_seq: 1,
            pooled: None,
            txn_pooled: false,
            note: None,
            conditions: super::pooled_diag::Conditions::None,
        }
    }

    pub fn forward(&mut self, p: &Packet) {
        let names_stmt = matches!(
            p.first(),
            Some(COM_STMT_EXECUTE | COM_STMT_SEND_LONG_DATA | COM_STMT_RESET | COM_STMT_FETCH)
        );
        if self.txn_pooled && names_stmt && p.seq() == 0 {
            let bytes = self.txn_translated(p);
            self.core.to_origin(&bytes);
            return;
        }
        self.core.to_origin(&p.bytes);
    }

    pub fn expect(&mut self, shape: Shape, effects: Effects, tee: bool, after: After) {
        let after = match (self.note.take(), after) {
            (Some(note), After::Nothing) => After::Track(note),
            (_, after) => after,
        };
        let answer = Answer {
            tracker: self.tracker(shape),
            after,
            first: true,
        };
        self.core.expect(answer, effects, tee);
    }

    pub fn tracker(&self, shape: Shape) -> Tracker {
        let deprecate_eof = self.identity.caps & super::handshake::CLIENT_DEPRECATE_EOF != 0;
        Tracker::new(shape, deprecate_eof)
    }

    async fn on_client(&mut self, p: Packet) -> Result<(), MyError> {
        let continuation = std::mem::replace(&mut self.client_cont, p.is_full());
        if continuation || p.seq() != 0 {
            self.core.to_origin(&p.bytes);
            return Ok(());
        }
        // Transaction pooling: what the last statement would have tracked is gone.
        self.note = None;
        match p.first() {
            Some(COM_QUERY) => self.on_query(p).await,
            Some(COM_STMT_PREPARE) => {
                self.on_prepare(p);
                Ok(())
            }
            Some(COM_STMT_EXECUTE) => self.on_execute(p).await,
            Some(COM_STMT_SEND_LONG_DATA | COM_STMT_CLOSE | COM_STMT_RESET | COM_STMT_FETCH)
                if self.txn_pooled =>
            {
                self.txn_on_statement(p).await
            }
            Some(COM_STMT_SEND_LONG_DATA | COM_STMT_CLOSE | COM_STMT_RESET | COM_STMT_FETCH) => {
                self.on_statement(p);
                Ok(())
            }
            Some(COM_CHANGE_USER) if self.pooled.is_some() => self.on_pooled_change_user(p).await,
            Some(COM_CHANGE_USER) if self.txn_pooled => self.on_txn_change_user(p).await,
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
        if cmd == COM_QUIT {
            // A pooled connection outlives its session: the origin is not told.
            if self.pooled.is_none() && !self.txn_pooled {
                self.forward(&p);
            }
            self.core.terminate();
            return;
        }
        self.forward(&p);
        let (shape, effects, after) = match cmd {
            COM_INIT_DB => {
                let mut text = b"\0init_db ".to_vec();
                let db = p.payload().get(1..).unwrap_or_default();
                text.extend_from_slice(db);
                self.core.remember_session_text(&text);
                if self.txn_pooled {
                    self.note = Some(super::pooled_state::Note::Use(db.to_vec()));
                }
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
            self.core.taint();
        }
        self.expect(shape, effects, false, after);
    }

    /// Looks the current key up; on a hit queues the replayed answer. With the
    /// request's packet (text protocol), a hot entry may be refreshed ahead of expiry.
    pub fn try_hit(&mut self, started: Instant, request: Option<&Packet>) -> bool {
        let Some(hit) = self.core.hit(started) else {
            return false;
        };
        let bytes = super::relay::replay(&hit.entry.payload, self.status, self.identity.caps);
        self.core.local(bytes, false);
        if let (Some(claim), Some(p)) = (hit.refresh, request) {
            // Sent again as it is: never a packet continued past 16 MiB.
            let answer = Answer {
                tracker: self.tracker(Shape::Results),
                after: After::Nothing,
                first: true,
            };
            // Transaction pooling: only on a connection the session holds anyway.
            // Never while the diagnostics area may hold the client's conditions: the
            // SELECT would clear them (`catalog`).
            let may = (!self.txn_pooled || self.core.io().origin_attached())
                && self.client_conditions() == super::pooled_diag::Conditions::None;
            if self.core.begin_refresh(claim, answer, may && !p.is_full()) {
                self.forward(p);
            }
        }
        true
    }

    async fn on_query(&mut self, p: Packet) -> Result<(), MyError> {
        let started = Instant::now();
        let text = p.payload().get(1..).unwrap_or_default();
        let blocked = self.core.blocked();
        if blocked.is_none() && !p.is_full() {
            self.core.key(KeyKind::MySqlText, &[text]);
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
        // Boxed: the miss path's future (catalog round, single-flight) is large, and
        // inline it would make every hit build and copy it.
        Box::pin(self.query_miss(p, sql, blocked, started)).await
    }

    /// Forwards a request wirecache cannot judge, assuming it may write anything.
    pub fn forward_unknown(&mut self, p: &Packet, shape: Shape) {
        self.forward(p);
        self.core.taint();
        self.expect(shape, Effects::unknown_write(), false, After::Nothing);
    }
}

impl ProxySession for Session {
    type Message = Packet;

    fn pipes(&mut self) -> &mut Pipes {
        self.core.io()
    }

    fn next_from_client(&mut self) -> Result<Option<Packet>, MyError> {
        codec::decode(&mut self.core.io().client.inbox)
    }

    fn next_from_origin(&mut self) -> Result<Option<Packet>, MyError> {
        codec::decode(&mut self.core.io().origin.inbox)
    }

    fn on_client(&mut self, p: Packet) -> impl Future<Output = Result<(), MyError>> + Send {
        Session::on_client(self, p)
    }

    fn on_origin(&mut self, p: Packet) -> Result<(), MyError> {
        Session::on_origin(self, p)
    }

    async fn flush(&mut self) -> Result<(), MyError> {
        if self.txn_pooled {
            // Boxed: keeps the common path's future as small as before.
            return Box::pin(self.txn_flush()).await;
        }
        self.core.flush().await
    }

    fn terminated(&self) -> bool {
        self.core.terminated()
    }

    fn at_rest(&self) -> bool {
        self.core.at_rest() && !self.client_cont
    }

    /// Only while the client awaits an answer: an idle MySQL client expects nothing
    /// (one closed at shutdown is simply disconnected).
    fn error_for_client(&self, e: &MyError) -> Option<Bytes> {
        if matches!(e, MyError::IdleTimeout) {
            // As MySQL 8 does: an unsolicited ERR 4031, then the connection closes.
            super::errors::to_wire(e, 0)
        } else if !self.core.idle() {
            super::errors::to_wire(e, self.err_seq)
        } else {
            None
        }
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

    fn goodbye(&self) -> Bytes {
        codec::packet(0, &[COM_QUIT])
    }

    fn cache(&self) -> &Arc<crate::engine::CacheCtx> {
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

    fn on_overdue(&mut self) -> Result<(), MyError> {
        self.overdue()
    }

    fn cancel_origin_query(&mut self) {}
}
