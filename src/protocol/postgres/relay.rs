//! The origin's side of a session: each answer is attributed to the oldest pending
//! request, teed into the current fill where it belongs, and passed on. Writes are
//! invalidated before their acknowledgement (CommandComplete or ReadyForQuery) is
//! queued for the client (design §2 step 7).

use super::codec::Frame;
use super::errors::PgError;
use super::messages::{self, Body};
use super::session::{Expect, Pending, Session};
use crate::engine::FillOutcome;

impl Session {
    pub fn on_origin(&mut self, frame: Frame) -> Result<(), PgError> {
        let tag = frame.tag();
        if tag == b'E' && messages::is_fatal(frame.body()) {
            self.origin_fatal = true;
        }
        if matches!(tag, b'N' | b'A' | b'S') {
            // Asynchronous: notices, notifications, parameter changes.
            self.io.to_client.extend_from_slice(&frame.bytes);
            return Ok(());
        }
        if self.refresh.is_some() {
            // A refresh ahead of expiry was sent before anything now pending.
            self.on_refresh_message(&frame);
            return Ok(());
        }
        self.release_local();
        let Some(Pending::Origin {
            expect,
            effects,
            tee,
            swallow,
        }) = self.pending.front()
        else {
            // Unsolicited (e.g. a FATAL on shutdown): pass it on.
            self.io.to_client.extend_from_slice(&frame.bytes);
            return Ok(());
        };
        let (expect, tee, swallow) = (*expect, *tee, *swallow);
        if effects.writes() && matches!(tag, b'C' | b'E' | b'Z') {
            // Applied at the acknowledgement and again when the (implicit or explicit)
            // transaction ends, because a commit can come after the CommandComplete.
            let effects = effects.clone();
            self.engine.apply(&self.scope, &effects);
            self.txn_effects.merge(&effects);
        }
        if tee {
            self.tee(tag, &frame);
        }
        if tag == b'C' {
            self.on_command_tag(Body::new(frame.body()).cstr());
        }
        self.track_copy(tag);
        let done = match expect {
            Expect::Query | Expect::Sync => tag == b'Z',
            Expect::Parse => matches!(tag, b'1' | b'E'),
            Expect::Bind => matches!(tag, b'2' | b'E'),
            Expect::Describe => matches!(tag, b'T' | b'n' | b'E'),
            Expect::Execute => matches!(tag, b'C' | b'I' | b's' | b'E'),
            Expect::Close => matches!(tag, b'3' | b'E'),
        };
        if tag == b'Z' {
            self.on_ready(&frame);
        }
        if done {
            self.pending.pop_front();
            if tee && matches!(expect, Expect::Query | Expect::Execute) {
                self.finish_fill();
            }
            if tag == b'E' && expect != Expect::Query && expect != Expect::Sync {
                self.skip_to_sync();
            }
        }
        if !(swallow && tag == b'1') {
            self.io.to_client.extend_from_slice(&frame.bytes);
        }
        Ok(())
    }

    /// Copies a message of the answer into the current fill.
    fn tee(&mut self, tag: u8, frame: &Frame) {
        let max = self.engine.store.max_entry_size() as usize;
        if let Some(fill) = self.fill.as_mut() {
            fill.tee(tag, frame, max);
        }
    }

    fn finish_fill(&mut self) {
        if let Some(fill) = self.fill.take() {
            fill.finish(&self.engine, &self.scope);
        }
    }

    /// A CommandComplete's tag. `COMMIT` ends a transaction that wrote: its writes are
    /// applied again right there, before the tag reaches the client, because the same
    /// string or batch may go on to open and roll back another transaction before the
    /// next ReadyForQuery. `ROLLBACK` (also the tag of `ROLLBACK TO SAVEPOINT` and of a
    /// COMMIT that found the transaction failed) applies nothing new by itself.
    fn on_command_tag(&mut self, tag: Option<&[u8]>) {
        self.last_tag_rollback = tag == Some(b"ROLLBACK");
        if tag == Some(b"COMMIT") {
            let effects = std::mem::take(&mut self.txn_effects);
            if effects.writes() {
                self.engine.apply(&self.scope, &effects);
            }
        }
    }

    /// ReadyForQuery: the transaction status, and the end of a transaction block.
    fn on_ready(&mut self, frame: &Frame) {
        let status = frame.body().first().copied().unwrap_or(b'I');
        if status == b'I' {
            let effects = std::mem::take(&mut self.txn_effects);
            if !self.last_tag_rollback && effects.writes() {
                self.engine.apply(&self.scope, &effects);
            }
            self.last_tag_rollback = false;
        }
        self.status = status;
    }

    /// After an error in an extended-protocol batch the origin ignores everything up to
    /// Sync: drop what was owed for those messages, local answers included. If the
    /// client has not sent that Sync yet, what it sends until then is ignored too
    /// (`Extended::failed`). A fill still open belonged to a request the error
    /// skipped: it is given up, and its single-flight released.
    fn skip_to_sync(&mut self) {
        let mut synced = false;
        while let Some(front) = self.pending.front() {
            if matches!(
                front,
                Pending::Origin {
                    expect: Expect::Sync,
                    ..
                } | Pending::Local { sync: true, .. }
            ) {
                synced = true;
                break;
            }
            self.pending.pop_front();
        }
        if !synced {
            self.ext.fail_batch();
        }
        if let Some(mut fill) = self.fill.take() {
            fill.failed.get_or_insert(FillOutcome::Error);
            fill.finish(&self.engine, &self.scope);
        }
    }
}
