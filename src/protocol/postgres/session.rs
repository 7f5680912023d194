//! One proxied PostgreSQL session after authentication: acts on client messages
//! (answers hits locally, forwards everything else) and relays the origin's answers in
//! order. The loop that reads, flushes and stops is `protocol::drive`.
//!
//! Ordering: every client request that expects an answer pushes one [`Pending`] item;
//! answers are handed to the client strictly in that order. A cache hit is a
//! `Pending::Local` item, so it is delivered only after the origin has answered every
//! earlier request of a pipeline.
//!
//! Transaction status comes only from the origin's ReadyForQuery (`I`, `T`, `E`).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::ahead::Lead;
use super::batch::Extended;
use super::codec::{self, Frame, MAX_CLIENT_MESSAGE, MAX_ORIGIN_MESSAGE};
use super::copy::CopyState;
use super::errors::{PgError, Side};
use super::fill::Fill;
use super::messages::Body;
use crate::cache::{KeyBuilder, KeyKind};
use crate::config::CacheMode;
use crate::engine::{
    BypassReason, CatalogAccess, CatalogQuestion, Decision, Effects, Engine, FillTicket,
    FlightGuard, QueryRequest, Scope, SessionNamespace,
};
use crate::protocol::{Pipes, ProxySession};

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

/// An answer owed to the client, in order.
#[derive(Debug)]
pub enum Pending {
    /// An answer made here; `sync` marks a ReadyForQuery answering a local Sync.
    Local { bytes: Bytes, sync: bool },
    Origin {
        expect: Expect,
        effects: Effects,
        /// Part of the answer is stored by the session's current fill.
        tee: bool,
        /// The client was already answered here (a deferred Parse): drop the success.
        swallow: bool,
    },
}

pub struct Session {
    pub engine: Arc<Engine>,
    pub scope: Scope,
    /// Login material plus session-changing statements; gives `scope.namespace`.
    pub namespace: SessionNamespace,
    pub io: Pipes,
    /// Last ReadyForQuery status from the origin.
    pub status: u8,
    pub pending: VecDeque<Pending>,
    pub key: KeyBuilder,
    pub fill: Option<Fill>,
    /// A refresh ahead of expiry in flight: its answer is stored, never relayed.
    pub refresh: Option<Fill>,
    /// Writes of the open transaction block, applied again when it ends.
    pub txn_effects: Effects,
    /// Catalog facts this session needed while it could not ask (in a transaction).
    pub deferred: CatalogQuestion,
    pub last_tag_rollback: bool,
    pub ext: Extended,
    /// Where the connection stands in a COPY sub-protocol.
    pub copy: CopyState,
    pub terminated: bool,
    /// The origin sent a FATAL (or PANIC) error, already relayed: when it then closes,
    /// the client has its reason and gets no error of wirecache's own on top.
    pub origin_fatal: bool,
}

impl Session {
    pub async fn flush(&mut self) -> Result<(), PgError> {
        self.release_local();
        Ok(self.io.flush().await?)
    }

    /// Moves local answers at the head of the queue to the client.
    pub fn release_local(&mut self) {
        while let Some(Pending::Local { .. }) = self.pending.front() {
            if let Some(Pending::Local { bytes, .. }) = self.pending.pop_front() {
                self.io.to_client.extend_from_slice(&bytes);
            }
        }
    }

    /// True when nothing at all is in flight at the origin, not even a refresh.
    pub fn origin_quiet(&self) -> bool {
        self.idle() && self.refresh.is_none()
    }

    /// True when no client request is in flight at the origin.
    pub fn idle(&self) -> bool {
        !self
            .pending
            .iter()
            .any(|p| matches!(p, Pending::Origin { .. }))
    }

    pub fn forward(&mut self, frame: &Frame) {
        self.io.to_origin.extend_from_slice(&frame.bytes);
    }

    pub fn expect(&mut self, expect: Expect, effects: Effects, tee: bool) {
        self.pending.push_back(Pending::Origin {
            expect,
            effects,
            tee,
            swallow: false,
        });
    }

    /// Answers the client here: straight into the output when nothing is owed before
    /// it (no allocation), else queued in order.
    pub fn reply(&mut self, parts: &[&[u8]]) {
        if self.pending.is_empty() {
            for p in parts {
                self.io.to_client.extend_from_slice(p);
            }
        } else {
            self.local(Bytes::from(parts.concat()));
        }
    }

    pub fn local(&mut self, bytes: Bytes) {
        self.pending
            .push_back(Pending::Local { bytes, sync: false });
    }

    async fn on_client(&mut self, frame: Frame) -> Result<(), PgError> {
        if self.pass_unanswered(&frame) {
            return Ok(());
        }
        match frame.tag() {
            b'Q' => self.on_query(frame).await,
            b'P' | b'B' | b'D' | b'E' | b'C' | b'S' | b'H' => self.on_extended(frame).await,
            b'F' => {
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
            b'X' => {
                self.forward(&frame);
                self.terminated = true;
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

    /// Why a request may not use the cache right now, whatever it is.
    pub fn blocked(&self) -> Option<BypassReason> {
        if self.scope.cache.mode == CacheMode::Off {
            // A plain relay: nothing is looked up (the engine judges nothing either).
            Some(BypassReason::RuleSaysNo)
        } else if self.status != b'I' {
            Some(BypassReason::InTransaction)
        } else if !self.idle() {
            Some(BypassReason::Pipeline)
        } else {
            None
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
        let blocked = self.blocked();
        if blocked.is_none() {
            self.key
                .start(self.scope.namespace, KeyKind::PgSimple)
                .part(sql.as_bytes());
            if self.serve_simple(started, &frame) {
                return Ok(());
            }
        }
        if self.ext.note_simple_query(sql) {
            self.ext.clear_statements();
        }
        let sql = sql.to_string();
        let decision = self.decide(&sql, blocked).await?;
        if let Decision::Fill(ticket) = decision {
            let flight = match self.lead_or_follow().await? {
                Lead::Followed if self.serve_simple(started, &frame) => return Ok(()),
                Lead::Followed => None,
                Lead::Leader(guard) => Some(guard),
            };
            self.forward(&frame);
            self.start_fill(ticket, flight, KeyKind::PgSimple, &sql, &[]);
            self.expect(Expect::Query, Effects::default(), true);
            return Ok(());
        }
        self.forward(&frame);
        match decision {
            Decision::Fill(_) => {}
            Decision::Forward { effects, .. } => {
                let effects = self.session_effects(effects, &sql);
                self.expect(Expect::Query, effects, false);
            }
            Decision::NeedCatalog(_) => self.expect(Expect::Query, Effects::unknown_write(), false),
        }
        Ok(())
    }

    /// Plans a request, asking the catalog first when the engine needs facts (this
    /// request's, or ones deferred from inside a transaction) and the session can ask
    /// (nothing in flight, no transaction block).
    pub async fn decide(
        &mut self,
        sql: &str,
        blocked: Option<BypassReason>,
    ) -> Result<Decision, PgError> {
        let can_ask = self.status == b'I' && self.origin_quiet() && self.ext.synced();
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

    /// Starts collecting a result for the cache under the current key material.
    pub fn start_fill(
        &mut self,
        ticket: FillTicket,
        flight: Option<FlightGuard>,
        kind: KeyKind,
        sql: &str,
        extra: &[&[u8]],
    ) {
        self.key
            .start(self.scope.namespace, kind)
            .part(sql.as_bytes());
        for part in extra {
            self.key.part(part);
        }
        self.fill = Some(Fill::new(ticket, self.key.as_slice(), flight));
    }

    /// Remembers SQL that changes session state, so later reads get their own namespace.
    /// Applied at once: the next request must not share the old namespace even if it
    /// is pipelined behind this one.
    pub fn session_effects(&mut self, mut effects: Effects, sql: &str) -> Effects {
        if effects.session_change {
            effects.session_change = false;
            self.namespace.remember(sql.as_bytes());
        }
        if effects.taints_session {
            self.namespace.taint();
        }
        self.scope.namespace = self.namespace.id(&self.engine.namespaces);
        effects
    }
}

impl ProxySession for Session {
    type Message = Frame;

    fn pipes(&mut self) -> &mut Pipes {
        &mut self.io
    }

    fn next_from_client(&mut self) -> Result<Option<Frame>, PgError> {
        codec::decode(&mut self.io.cin, MAX_CLIENT_MESSAGE)
    }

    fn next_from_origin(&mut self) -> Result<Option<Frame>, PgError> {
        codec::decode(&mut self.io.oin, MAX_ORIGIN_MESSAGE)
    }

    fn on_client(&mut self, frame: Frame) -> impl Future<Output = Result<(), PgError>> + Send {
        Session::on_client(self, frame)
    }

    fn on_origin(&mut self, frame: Frame) -> Result<(), PgError> {
        Session::on_origin(self, frame)
    }

    fn flush(&mut self) -> impl Future<Output = Result<(), PgError>> + Send {
        Session::flush(self)
    }

    fn terminated(&self) -> bool {
        self.terminated
    }

    fn at_rest(&self) -> bool {
        self.pending.is_empty()
            && self.status == b'I'
            && self.fill.is_none()
            && self.refresh.is_none()
            && self.ext.between_batches()
            && self.copy == CopyState::Idle
            && self.io.cin.is_empty()
    }

    fn error_for_client(&self, e: &PgError) -> Option<Bytes> {
        let origin_gone = matches!(
            e,
            PgError::Closed(Side::Origin)
                | PgError::Io {
                    side: Side::Origin,
                    ..
                }
        );
        if origin_gone && self.origin_fatal {
            return None;
        }
        super::errors::to_wire(e)
    }

    fn goodbye(&self) -> Bytes {
        Bytes::from_static(super::messages::TERMINATE)
    }
}
