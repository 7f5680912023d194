//! The extended query protocol (Parse/Bind/Describe/Execute/Sync/Close/Flush).
//!
//! A Bind is held back until the message after it shows whether the portal is executed
//! whole (then Bind [+ Describe portal] + Execute is one cacheable request and a hit is
//! answered here with no origin round trip) or not (then the Bind is forwarded as is).
//! The unnamed statement's Parse is deferred the same way and sent to the origin only
//! when something there needs it (again, if a catalog question replaced it meanwhile);
//! its ParseComplete is answered here (under transaction pooling only where that
//! answer is final, `pooled_parse`).
//! A Sync for a batch of which nothing reached the origin is answered here too.
//! Messages the origin will not answer (after an error until Sync, during COPY) never
//! get here: `copy` forwards them as they are.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::ahead::BoundRefresh;
use super::batch::{Held, MAX_TRACKED, Prepared};
use super::codec::Frame;
use super::errors::PgError;
use super::messages::{self, BIND_COMPLETE, PARSE_COMPLETE};
use super::session::{Answer, Expect, Session, status_byte};
use crate::cache::KeyKind;
use crate::engine::{BypassReason, Decision, Effects};
use crate::session::{self, Lead};

impl Session {
    pub async fn on_extended(&mut self, frame: Frame) -> Result<(), PgError> {
        self.ext.in_batch = true;
        match frame.tag() {
            b'P' => self.on_parse(frame).await?,
            b'B' => self.on_bind(frame),
            b'D' => self.on_describe(frame),
            b'E' => self.on_execute(frame).await?,
            b'C' => self.on_close(frame),
            b'S' => self.on_sync(frame),
            _ => {
                // Flush: send what we hold so the origin answers now.
                self.flush_held();
                self.forward(&frame);
            }
        }
        Ok(())
    }

    fn send(&mut self, frame: &Frame, expect: Expect, effects: Effects, tee: bool) {
        self.forward(frame);
        self.expect(expect, effects, tee);
        self.ext.batch_forwarded = true;
    }

    async fn on_parse(&mut self, frame: Frame) -> Result<(), PgError> {
        self.flush_held();
        let Some((name, sql, types)) = messages::parse_parse(frame.body()) else {
            self.send(&frame, Expect::Parse, Effects::default(), false);
            return Ok(());
        };
        let prepared = Arc::new(Prepared {
            sql: sql.into(),
            param_types: Bytes::copy_from_slice(types),
        });
        if name.is_empty() {
            self.ext.unnamed.stmt = Some(prepared.clone());
            self.ext.unnamed.parse = Some(frame);
            self.ext.unnamed.at_origin = false;
            // Transaction pooling: deferred only where the answer is final
            // (`pooled_parse`).
            if !(self.txn_pooled && Box::pin(self.txn_parse_unnamed(&prepared)).await?) {
                self.core.reply(&[&PARSE_COMPLETE]);
            }
            return Ok(());
        }
        let known = self.ext.statements.get(name).cloned();
        if self.txn_pooled {
            // Transaction pooling: the origin refuses a name in use, or one past the
            // session's bounds (`pooled_refusals`), and a new one is prepared as
            // `pooled_parse` says (boxed: kept off the hits' future).
            let name = name.to_vec();
            if let Some(old) = known {
                return Box::pin(self.txn_reparse(&name, &old, &prepared)).await;
            }
            if let Some(error) = self.txn_refusal(&prepared) {
                return Box::pin(self.txn_refuse_parse(error)).await;
            }
            self.txn_keep(name.clone(), prepared.clone());
            if Box::pin(self.txn_parse(&name, &prepared)).await? {
                return Ok(());
            }
        } else if known.is_none() && self.ext.statements.len() < MAX_TRACKED {
            // A name in use is the origin's to refuse (42P05): the old one stays.
            self.ext.statements.insert(name.to_vec(), prepared);
        }
        self.send(&frame, Expect::Parse, Effects::default(), false);
        Ok(())
    }

    /// Sends the unnamed statement's Parse if `stmt` names it and the origin lacks it
    /// (deferred, or replaced by a catalog question since).
    fn materialize(&mut self, stmt: &[u8]) {
        let unnamed = &mut self.ext.unnamed;
        if stmt.is_empty()
            && !unnamed.at_origin
            && let Some(parse) = unnamed.parse.clone()
        {
            unnamed.at_origin = true;
            self.forward(&parse);
            let answer = Answer {
                expect: Expect::Parse,
                swallow: true,
                on_error: None,
            };
            self.core.expect(answer, Effects::default(), false);
            self.ext.batch_forwarded = true;
        }
    }

    fn on_bind(&mut self, frame: Frame) {
        self.flush_held();
        let parsed = messages::parse_bind(frame.body()).map(|(portal, stmt, rest)| {
            let rest_at = frame.bytes.len() - rest.len();
            (
                portal.to_vec(),
                self.ext.statement(stmt),
                frame.bytes.slice_ref(stmt),
                rest_at,
            )
        });
        let Some((portal, stmt, stmt_name, rest_at)) = parsed else {
            self.send(&frame, Expect::Bind, Effects::default(), false);
            return;
        };
        let Some(stmt) = stmt else {
            self.ext.portals.remove(&portal);
            self.send(&frame, Expect::Bind, Effects::default(), false);
            return;
        };
        let unnamed_stmt = stmt_name.is_empty();
        let renamed = match self.txn_pooled && !unnamed_stmt {
            true => {
                let rest = frame.bytes.get(rest_at..).unwrap_or_default();
                self.txn_bind(&portal, &stmt, rest)
            }
            false => None,
        };
        let (frame, rest_at) = renamed.unwrap_or((frame, rest_at));
        self.ext.held = Some(Held {
            bind: frame,
            rest_at,
            portal,
            unnamed_stmt,
            stmt_name,
            stmt,
            describe: None,
        });
    }

    /// Forwards a held Bind (and its Describe), the fill teeing the Describe's answer.
    pub fn flush_held(&mut self) {
        if let Some(held) = self.ext.held.take() {
            self.send_held(held, false);
        }
    }

    fn send_held(&mut self, held: Held, tee: bool) {
        if held.unnamed_stmt {
            self.materialize(b"");
        } else {
            self.txn_bound(&held.bind, &held.stmt);
        }
        // The portal now exists at the origin: remember what it runs.
        if self.ext.portals.len() < MAX_TRACKED || held.portal.is_empty() {
            self.ext
                .portals
                .insert(held.portal.clone(), held.stmt.clone());
        }
        match self.txn_renaming(&held.bind, &held.stmt_name) {
            Some(on_error) => self.send_renaming(&held.bind, Expect::Bind, on_error),
            None => self.send(&held.bind, Expect::Bind, Effects::default(), false),
        }
        if let Some(d) = held.describe {
            self.send(&d, Expect::Describe, Effects::default(), tee);
        }
    }

    fn on_describe(&mut self, frame: Frame) {
        let target = messages::parse_target(frame.body());
        if let (Some(held), Some((b'P', name))) = (self.ext.held.as_mut(), target)
            && held.portal == name
            && held.describe.is_none()
        {
            held.describe = Some(frame);
            return;
        }
        self.flush_held();
        if let Some((b'S', name)) = target {
            let name = name.to_vec();
            if self.txn_pooled
                && !name.is_empty()
                && let Some(stmt) = self.ext.statement(&name)
                && self.txn_describe(&name, &stmt)
            {
                return;
            }
            self.materialize(&name);
        }
        self.send(&frame, Expect::Describe, Effects::default(), false);
    }

    fn on_close(&mut self, frame: Frame) {
        self.flush_held();
        match messages::parse_target(frame.body()) {
            Some((b'S', b"")) => self.ext.forget_unnamed(),
            Some((b'S', name)) => {
                if self.txn_close(name) {
                    return;
                }
                self.ext.statements.remove(name);
            }
            Some((_, name)) => {
                self.ext.portals.remove(name);
            }
            None => {}
        }
        self.send(&frame, Expect::Close, Effects::default(), false);
    }

    fn on_sync(&mut self, frame: Frame) {
        self.flush_held();
        if self.ext.batch_forwarded {
            self.send(&frame, Expect::Sync, Effects::default(), false);
        } else {
            let rfq = messages::ready_for_query(status_byte(self.core.txn()));
            if self.core.nothing_owed() {
                self.core.to_client(&rfq);
            } else {
                self.core.local(Bytes::copy_from_slice(&rfq), true);
            }
        }
        self.ext.end_batch();
    }

    async fn on_execute(&mut self, frame: Frame) -> Result<(), PgError> {
        let started = Instant::now();
        let Some((portal, max_rows)) = messages::parse_execute(frame.body()) else {
            self.flush_held();
            self.send(&frame, Expect::Execute, Effects::unknown_write(), false);
            return Ok(());
        };
        let held = match self.ext.held.take() {
            Some(h) if h.portal == portal => h,
            other => {
                self.ext.held = other;
                self.ensure_origin().await?;
                self.flush_held();
                let stmt = self.ext.portals.get(portal).cloned();
                return self
                    .execute_uncached(frame, stmt, BypassReason::Pipeline)
                    .await;
            }
        };
        if max_rows != 0 {
            self.ensure_origin().await?;
            let stmt = held.stmt.clone();
            self.send_held(held, false);
            return self
                .execute_uncached(frame, Some(stmt), BypassReason::RowLimit)
                .await;
        }
        self.execute_whole(frame, held, started).await
    }

    /// Bind [+ Describe] + Execute of a whole portal: one request that may be
    /// answered from the cache, or filled.
    async fn execute_whole(
        &mut self,
        frame: Frame,
        held: Held,
        started: Instant,
    ) -> Result<(), PgError> {
        let blocked = if self.ext.batch_unsafe {
            Some(BypassReason::Pipeline)
        } else {
            self.core.blocked()
        };
        let kind = if held.describe.is_some() {
            KeyKind::PgExtendedDescribed
        } else {
            KeyKind::PgExtended
        };
        let rest = held.bind.bytes.get(held.rest_at..).unwrap_or_default();
        if blocked.is_none() {
            let parts = [held.stmt.sql.as_bytes(), &held.stmt.param_types, rest];
            self.core.key(kind, &parts);
            if self.serve_bound(started, Some(&held)) {
                return Ok(());
            }
        }
        // Boxed: the miss path's future (catalog round, single-flight) is large, and
        // inline it would make every hit build and copy it (callgrind: 2.6 % more
        // instructions per hit).
        Box::pin(self.execute_miss(frame, held, kind, blocked, started)).await
    }

    /// A whole-portal execute that was not answered from the cache.
    async fn execute_miss(
        &mut self,
        frame: Frame,
        held: Held,
        kind: KeyKind,
        blocked: Option<BypassReason>,
        started: Instant,
    ) -> Result<(), PgError> {
        if self.txn_pooled {
            self.txn_note(&held.stmt.sql);
            self.ensure_origin().await?;
        }
        let rest = held.bind.bytes.get(held.rest_at..).unwrap_or_default();
        let stmt = held.stmt.clone();
        match session::decide(self, &stmt.sql, blocked).await? {
            Decision::Fill(mut ticket) => {
                let rest = Bytes::copy_from_slice(rest);
                let flight = match self.core.lead_or_follow(&mut ticket).await? {
                    Lead::Followed if self.serve_bound(started, None) => return Ok(()),
                    Lead::Followed => None,
                    Lead::Leader(guard) => guard,
                };
                let parts = [stmt.sql.as_bytes(), &stmt.param_types, &rest];
                self.core.key(kind, &parts);
                self.core.start_fill(ticket, flight);
                self.send_held(held, true);
                self.send(&frame, Expect::Execute, Effects::default(), true);
            }
            Decision::Forward { effects, reason } => {
                self.send_held(held, false);
                self.forward_execute(frame, &stmt.sql, effects, reason);
            }
            Decision::NeedCatalog(_) => {
                self.send_held(held, false);
                self.send(&frame, Expect::Execute, Effects::unknown_write(), false);
            }
        }
        Ok(())
    }

    /// Answers a Bind [+ Describe] + Execute whose key is current from the cache;
    /// with `held`, a hot entry may also be refreshed ahead of its expiry.
    fn serve_bound(&mut self, started: Instant, held: Option<&Held>) -> bool {
        let Some(hit) = self.core.hit(started) else {
            return false;
        };
        self.core.reply(&[&BIND_COMPLETE, &hit.entry.payload]);
        if let (Some(h), Some(claim)) = (held, hit.refresh) {
            let rest = h.bind.bytes.get(h.rest_at..).unwrap_or_default();
            let refresh = BoundRefresh {
                stmt: &h.stmt,
                rest,
                described: h.describe.is_some(),
            };
            self.start_bound_refresh(claim, refresh);
        }
        true
    }

    /// An Execute that is not cacheable: forwarded, with the statement's writes.
    async fn execute_uncached(
        &mut self,
        frame: Frame,
        stmt: Option<Arc<Prepared>>,
        reason: BypassReason,
    ) -> Result<(), PgError> {
        let Some(stmt) = stmt else {
            self.send(&frame, Expect::Execute, Effects::unknown_write(), false);
            self.ext.batch_unsafe = true;
            return Ok(());
        };
        if self.txn_pooled {
            self.txn_note(&stmt.sql);
        }
        match session::decide(self, &stmt.sql, Some(reason)).await? {
            Decision::Forward { effects, reason } => {
                self.forward_execute(frame, &stmt.sql, effects, reason)
            }
            _ => self.send(&frame, Expect::Execute, Effects::unknown_write(), false),
        }
        Ok(())
    }

    fn forward_execute(&mut self, frame: Frame, sql: &str, effects: Effects, reason: BypassReason) {
        if effects.writes() || reason == BypassReason::NotARead {
            self.ext.batch_unsafe = true;
        }
        let effects = self.core.session_effects(effects, sql);
        self.send(&frame, Expect::Execute, effects, false);
    }
}
