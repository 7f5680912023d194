//! An RPC request in the session: decoded (`rpc`), told what it is (`rpc_call`), and
//! acted on. A statement run (`sp_executesql`, `sp_execute` of a known handle) is
//! looked up by its key and, on a miss, planned like a batch; a prepare is forwarded
//! and its answer's handle remembered; other procedures are judged as `EXEC name`;
//! the rest is forwarded as a write of unknown extent. A request that is not TDS is
//! answered with an error, and the session goes on.

use std::time::Instant;

use super::codec::{self, Message};
use super::rpc::{self, Decoded};
use super::rpc_call::{self, Call, Run};
use super::session::{Answer, Session};
use crate::cache::KeyKind;
use crate::engine::{BypassReason, Decision, Effects};
use crate::protocol::SessionError;
use crate::session;

/// The error number and severity of a request wirecache refuses (the session goes on).
const REFUSED: i32 = 50000;
const CLASS_REQUEST: u8 = 16;

impl Session {
    pub async fn on_rpc(&mut self, m: Message) -> Result<(), SessionError> {
        let started = Instant::now();
        let mut in_step = true;
        let call = match rpc::decode(&m.payload, self.all_headers) {
            Ok(Decoded::One(r)) => {
                // A request whose transaction descriptor is not the one the origin
                // reported is out of step with what the session followed: the
                // origin judges it, the cache does not answer it.
                in_step = !self.all_headers || r.txn == self.txn_descriptor;
                rpc_call::call(&r, &self.handles)
            }
            Ok(Decoded::Batch | Decoded::Unsupported(_)) => Call::Unknown,
            Err(e) => {
                tracing::debug!(error = %e, "RPC request refused");
                let narrow = !self.all_headers;
                let text = format!("wirecache: {e}");
                let answer = super::errors::error_message(REFUSED, CLASS_REQUEST, &text, narrow);
                self.core.local(answer, false);
                return Ok(());
            }
        };
        tracing::trace!(call = call.as_str(), "RPC request");
        match call {
            Call::Run(mut run) => {
                if !in_step {
                    run.uncacheable = Some(BypassReason::InTransaction);
                }
                self.on_run(m, run, started).await
            }
            Call::Prepare { prepared, run } => {
                let answer = self.rpc_answer(Some(prepared));
                match run {
                    Some(sql) => Box::pin(self.forward_judged(&m, &sql, answer)).await,
                    None => {
                        self.forward(&m);
                        self.core.expect(answer, Effects::default(), false);
                        Ok(())
                    }
                }
            }
            Call::Unprepare(handle) => {
                self.handles.remove(handle);
                self.forward(&m);
                let answer = self.rpc_answer(None);
                self.core.expect(answer, Effects::default(), false);
                Ok(())
            }
            Call::Procedure(sql) => {
                let answer = self.rpc_answer(None);
                Box::pin(self.forward_judged(&m, &sql, answer)).await
            }
            Call::Unknown => {
                self.forward_unknown(&m);
                Ok(())
            }
        }
    }

    /// A statement run: a hit is replayed; a miss is planned like a batch.
    async fn on_run(&mut self, m: Message, run: Run, started: Instant) -> Result<(), SessionError> {
        let blocked = self.core.blocked().or(run.uncacheable);
        let reset = m.status & codec::STATUS_RESETCONNECTION != 0;
        if blocked.is_none() {
            let parts: Vec<&[u8]> = run.key.iter().map(Vec::as_slice).collect();
            self.core.key(KeyKind::TdsRpc, &parts);
            if !reset && !self.attention && self.try_hit(started, Some(&m), true) {
                return Ok(());
            }
        }
        Box::pin(self.miss(m, run.sql, blocked, started, true)).await
    }

    /// Forwards a request that is never answered from the cache, with the effects
    /// the classifier gives `sql` (a write's tables, a procedure's catalog rules).
    async fn forward_judged(
        &mut self,
        m: &Message,
        sql: &str,
        answer: Answer,
    ) -> Result<(), SessionError> {
        let decision = session::decide(self, sql, Some(BypassReason::RuleSaysNo)).await?;
        let effects = match decision {
            Decision::Forward { effects, .. } => self.core.session_effects(effects, sql),
            Decision::Fill(_) | Decision::NeedCatalog(_) => {
                self.core.taint();
                Effects::unknown_write()
            }
        };
        self.forward(m);
        self.core.expect(answer, effects, false);
        Ok(())
    }
}
