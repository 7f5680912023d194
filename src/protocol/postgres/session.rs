//! One proxied PostgreSQL session after authentication: acts on client messages
//! (answers hits locally, forwards everything else) and relays the origin's answers in
//! order. The loop that reads, flushes and stops is `protocol::drive`; the answers
//! owed, the cache and the transaction's writes are the session core's
//! ([`crate::session::Core`]).
//!
//! Transaction status comes only from the origin's ReadyForQuery (`I`, `T`, `E`).

use crate::server::admission::Admitted;
use std::future::Future;
use std::time::Instant;

use bytes::Bytes;

use super::batch::Extended;
use super::codec::{self, Frame, MAX_CLIENT_MESSAGE, MAX_ORIGIN_MESSAGE};
use super::copy::CopyState;
use super::errors::{PgError, Side};
use super::messages::{self, Body, tag};
use crate::cache::KeyKind;
use crate::engine::catalog::Row;
use crate::engine::{Decision, Effects};
use crate::protocol::{Pipes, ProxySession};
use crate::session::{self, Catalog, Core, Lead, TxnState};

/// What a forwarded request's answer ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Simple query or function call: until ReadyForQuery.
    Query,
    Parse,
    Bind,
    Describe,
    Execute,
    Close,
    /// Until ReadyForQuery.
    Sync,
}

/// How one owed answer is recognised.
#[derive(Debug, Clone)]
pub struct Answer {
    pub expect: Expect,
    /// The client was already answered here (a deferred Parse): drop the success.
    pub swallow: bool,
    /// What the client is told instead of the origin's ErrorResponse, if it fails
    /// (transaction pooling, `pooled_refusals`).
    pub on_error: Option<super::pooled_refusals::OnError>,
}

impl Answer {
    pub fn of(expect: Expect) -> Answer {
        Answer {
            expect,
            swallow: false,
            on_error: None,
        }
    }
}

pub struct Session {
    pub core: Core<Answer>,
    /// Its places under the connection limits, held until it ends.
    pub admitted: Option<Admitted>,
    pub last_tag_rollback: bool,
    pub ext: Extended,
    /// Where the connection stands in a COPY sub-protocol.
    pub copy: CopyState,
    /// The origin sent a FATAL (or PANIC) error, already relayed: when it then closes,
    /// the client has its reason and gets no error of wirecache's own on top.
    pub origin_fatal: bool,
    /// An unsolicited FATAL of the origin's not yet relayed: the session went on
    /// without its origin (`offline`); the client gets it when the session ends.
    pub held_fatal: Option<Bytes>,
    /// Where to send a CancelRequest for this session's backend (`query_timeout`, a
    /// client gone mid-answer).
    pub cancel: Option<super::cancel::CancelTarget>,
    /// The origin connection is leased from a pool: the client's Terminate is not
    /// passed on (the connection outlives the session).
    pub pooled: bool,
    /// Transaction pooling: the origin connection is leased per transaction
    /// (`pooled_txn`).
    pub txn_pooled: bool,
}

/// ReadyForQuery's status byte for a transaction state.
pub fn status_byte(txn: TxnState) -> u8 {
    match txn {
        TxnState::Idle | TxnState::AutocommitOff => b'I',
        TxnState::Open => b'T',
        TxnState::Failed => b'E',
    }
}

/// The transaction state a ReadyForQuery status byte reports.
pub fn txn_state(status: u8) -> TxnState {
    match status {
        b'T' => TxnState::Open,
        b'E' => TxnState::Failed,
        _ => TxnState::Idle,
    }
}

impl Session {
    pub fn new(core: Core<Answer>) -> Session {
        Session {
            core,
            admitted: None,
            last_tag_rollback: false,
            ext: Extended::default(),
            copy: CopyState::default(),
            origin_fatal: false,
            held_fatal: None,
            cancel: None,
            pooled: false,
            txn_pooled: false,
        }
    }

    pub fn forward(&mut self, frame: &Frame) {
        self.core.to_origin(&frame.bytes);
    }

    pub fn expect(&mut self, expect: Expect, effects: Effects, tee: bool) {
        self.core.expect(Answer::of(expect), effects, tee);
    }

    async fn on_client(&mut self, frame: Frame) -> Result<(), PgError> {
        if self.pass_unanswered(&frame) {
            return Ok(());
        }
        match frame.tag() {
            tag::QUERY => self.on_query(frame).await,
            tag::PARSE
            | tag::BIND
            | tag::DESCRIBE
            | tag::EXECUTE
            | tag::CLOSE
            | tag::SYNC
            | tag::FLUSH => self.on_extended(frame).await,
            tag::FUNCTION_CALL => {
                // A function call may write anything.
                self.flush_held();
                self.forward(&frame);
                let effects = Effects {
                    whole_database: true,
                    taints_session: true,
                    ..Effects::default()
                };
                self.expect(Expect::Query, effects, false);
                Ok(())
            }
            tag::TERMINATE => {
                if !self.pooled {
                    self.forward(&frame);
                }
                self.core.terminate();
                Ok(())
            }
            // CopyData, CopyDone and CopyFail out of copy-in mode (after the origin
            // ended it with an error: ignored there) and anything else: the origin
            // judges it.
            _ => {
                self.forward(&frame);
                Ok(())
            }
        }
    }

    async fn on_query(&mut self, frame: Frame) -> Result<(), PgError> {
        let started = Instant::now();
        self.flush_held();
        self.ext.forget_unnamed();
        let Some(sql) = Body::new(frame.body()).utf8() else {
            // Not UTF-8 or malformed: the origin gives its own error; assume a write.
            self.forward(&frame);
            let effects = Effects {
                whole_database: true,
                ..Effects::default()
            };
            self.expect(Expect::Query, effects, false);
            return Ok(());
        };
        let blocked = self.core.blocked();
        if blocked.is_none() {
            self.core.key(KeyKind::PgSimple, &[sql.as_bytes()]);
            if self.serve_simple(started, &frame) {
                return Ok(());
            }
        }
        // Boxed: the miss path's future (catalog round, single-flight) is large, and
        // inline it would make every hit build and copy it (callgrind: 2.6 % more
        // instructions per hit). The text stays borrowed from the frame.
        Box::pin(self.miss_simple(&frame, sql, blocked, started)).await
    }

    /// A simple query that was not answered from the cache.
    async fn miss_simple(
        &mut self,
        frame: &Frame,
        sql: &str,
        blocked: Option<crate::engine::BypassReason>,
        started: Instant,
    ) -> Result<(), PgError> {
        if self.txn_pooled {
            if self.txn_deallocate(sql) {
                return Ok(());
            }
            self.txn_note(sql);
            self.ensure_origin().await?;
        }
        let decision = session::decide(self, sql, blocked).await?;
        if let Decision::Fill(mut ticket) = decision {
            let flight = match self.core.lead_or_follow(&mut ticket).await? {
                Lead::Followed if self.serve_simple(started, frame) => return Ok(()),
                Lead::Followed => None,
                Lead::Leader(guard) => guard,
            };
            self.forward(frame);
            self.core.key(KeyKind::PgSimple, &[sql.as_bytes()]);
            self.core.start_fill(ticket, flight);
            self.expect(Expect::Query, Effects::default(), true);
            return Ok(());
        }
        self.forward(frame);
        match decision {
            Decision::Fill(_) => {}
            Decision::Forward { effects, .. } => {
                if effects.drops_prepared {
                    self.ext.clear_statements();
                    self.txn_statements_dropped();
                }
                let effects = self.core.session_effects(effects, sql);
                self.expect(Expect::Query, effects, false);
            }
            Decision::NeedCatalog(_) => self.expect(Expect::Query, Effects::unknown_write(), false),
        }
        Ok(())
    }

    /// Answers the simple query whose key is current from the cache, if it can; a hot
    /// entry is refreshed ahead of its expiry by sending the query again.
    fn serve_simple(&mut self, started: Instant, frame: &Frame) -> bool {
        let Some(hit) = self.core.hit(started) else {
            return false;
        };
        self.core.reply(&[
            &hit.entry.payload,
            &messages::ready_for_query(status_byte(self.core.txn())),
        ]);
        if let Some(claim) = hit.refresh {
            let ok = self.ext.synced() && self.refresh_origin_ready();
            if self
                .core
                .begin_refresh(claim, Answer::of(Expect::Query), ok)
            {
                self.forward(frame);
            }
        }
        true
    }
}

impl Catalog for Session {
    type Answer = Answer;

    fn core(&mut self) -> &mut Core<Answer> {
        &mut self.core
    }

    fn may_ask(&self) -> bool {
        self.ext.synced()
    }

    fn results(
        &mut self,
        sql: &str,
    ) -> impl Future<Output = Result<Option<Vec<Vec<Row>>>, PgError>> + Send {
        self.result_sets(sql)
    }
}

impl ProxySession for Session {
    type Message = Frame;

    fn pipes(&mut self) -> &mut Pipes {
        self.core.io()
    }

    fn next_from_client(&mut self) -> Result<Option<Frame>, PgError> {
        codec::decode(
            &mut self.core.io().client.inbox,
            MAX_CLIENT_MESSAGE,
            Side::Client,
        )
    }

    fn next_from_origin(&mut self) -> Result<Option<Frame>, PgError> {
        codec::decode(
            &mut self.core.io().origin.inbox,
            MAX_ORIGIN_MESSAGE,
            Side::Origin,
        )
    }

    fn on_client(&mut self, frame: Frame) -> impl Future<Output = Result<(), PgError>> + Send {
        Session::on_client(self, frame)
    }

    fn on_origin(&mut self, frame: Frame) -> Result<(), PgError> {
        Session::on_origin(self, frame)
    }

    async fn flush(&mut self) -> Result<(), PgError> {
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
        self.core.at_rest() && self.ext.between_batches() && self.copy == CopyState::Idle
    }

    fn error_for_client(&self, e: &PgError) -> Option<Bytes> {
        self.final_error(e)
    }

    fn arrived(&mut self) -> impl Future<Output = ()> + Send {
        self.core.cluster_gate()
    }

    fn settle(&mut self) -> impl Future<Output = ()> + Send {
        self.core.settle()
    }

    fn regain_origin(&mut self) -> bool {
        Session::regain_origin(self)
    }

    fn idle_timeout(&self) -> Option<std::time::Duration> {
        self.admitted.as_ref().and_then(|a| a.idle_timeout)
    }

    fn goodbye(&self) -> Bytes {
        Bytes::from_static(super::messages::TERMINATE)
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

    fn on_overdue(&mut self) -> Result<(), PgError> {
        self.overdue()
    }

    fn cancel_origin_query(&mut self) {
        self.cancel_left_behind();
    }
}
