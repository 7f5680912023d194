//! The origin's side of a session: each answer is attributed to the oldest pending
//! request, teed into the current fill where it belongs, and passed on. Writes are
//! invalidated before their acknowledgement (CommandComplete or ReadyForQuery) is
//! queued for the client (design §2 step 7).

use super::codec::Frame;
use super::errors::PgError;
use super::messages::{self, Body, tag};
use super::pooled_parse::Settled;
use super::session::{Expect, Session, txn_state};
use crate::engine::FillOutcome;
use crate::session::{Part, Pending};

/// What a message of an answer is for the cache.
fn part(t: u8) -> Part {
    match t {
        tag::ROW_DESCRIPTION | tag::NO_DATA | tag::DATA_ROW => Part::Keep,
        tag::COMMAND_COMPLETE | tag::EMPTY_QUERY => Part::Result,
        tag::ERROR => Part::Error,
        tag::READY_FOR_QUERY => Part::Skip,
        _ => Part::NotPlain,
    }
}

/// Whether message `t` ends the answer to a request forwarded as `expect`.
fn ends(expect: Expect, t: u8) -> bool {
    match expect {
        Expect::Query | Expect::Sync => t == tag::READY_FOR_QUERY,
        Expect::Parse => matches!(t, tag::PARSE_COMPLETE | tag::ERROR),
        Expect::Bind => matches!(t, tag::BIND_COMPLETE | tag::ERROR),
        Expect::Describe => matches!(t, tag::ROW_DESCRIPTION | tag::NO_DATA | tag::ERROR),
        Expect::Execute => matches!(
            t,
            tag::COMMAND_COMPLETE | tag::EMPTY_QUERY | tag::PORTAL_SUSPENDED | tag::ERROR
        ),
        Expect::Close => matches!(t, tag::CLOSE_COMPLETE | tag::ERROR),
    }
}

impl Session {
    pub fn on_origin(&mut self, frame: Frame) -> Result<(), PgError> {
        let t = frame.tag();
        if t == tag::ERROR && messages::is_fatal(frame.body()) {
            self.origin_fatal = true;
        }
        if t == tag::ERROR && self.txn_pooled {
            self.txn_error();
        }
        if matches!(t, tag::NOTICE | tag::NOTIFICATION | tag::PARAMETER_STATUS) {
            // Asynchronous: notices, notifications, parameter changes.
            self.core.to_client(&frame.bytes);
            return Ok(());
        }
        if self.core.refresh_answer().is_some() {
            // A refresh ahead of expiry was sent before anything now pending.
            self.on_refresh_message(&frame);
            return Ok(());
        }
        let Some(owed) = self.core.front_owed() else {
            // Unsolicited (e.g. a FATAL on shutdown): held if the session can go on
            // without its origin (`offline`), else passed on.
            if !(self.origin_fatal && self.hold_fatal(&frame.bytes)) {
                self.core.to_client(&frame.bytes);
            }
            return Ok(());
        };
        let (expect, swallow, tee) = (owed.answer.expect, owed.answer.swallow, owed.tee);
        // What the client is told instead of an error; a Parse's outcome (`pooled_parse`).
        let on_error = match t {
            tag::ERROR | tag::PARSE_COMPLETE => owed.answer.on_error.take(),
            _ => None,
        };
        if matches!(t, tag::COMMAND_COMPLETE | tag::ERROR | tag::READY_FOR_QUERY) {
            // Applied at the acknowledgement and again when the (implicit or explicit)
            // transaction ends, because a commit can come after the CommandComplete.
            self.core.acknowledged();
        }
        if tee {
            self.core.tee(&frame.bytes, part(t));
        }
        if t == tag::COMMAND_COMPLETE {
            self.on_command_tag(Body::new(frame.body()).cstr());
        }
        self.track_copy(t);
        if t == tag::READY_FOR_QUERY {
            self.on_ready(&frame);
        }
        if ends(expect, t) {
            self.core.answered();
            if tee && matches!(expect, Expect::Query | Expect::Execute) {
                self.core.finish_fill();
            }
            if t == tag::ERROR && expect != Expect::Query && expect != Expect::Sync {
                self.skip_to_sync();
            }
        }
        if let Some(answer) = &on_error {
            let failed = t == tag::ERROR;
            self.txn_parse_settled(answer, Settled::of(failed));
        }
        if let Some(instead) = on_error.filter(|_| t == tag::ERROR) {
            self.core.to_client(&instead.apply(&frame.bytes));
        } else if !(swallow && matches!(t, tag::PARSE_COMPLETE | tag::CLOSE_COMPLETE)) {
            self.core.to_client(&frame.bytes);
        }
        Ok(())
    }

    /// One message of a refresh's answer: collected, never relayed. ParseComplete,
    /// BindComplete and CloseComplete of a bound refresh are framing.
    fn on_refresh_message(&mut self, frame: &Frame) {
        let t = frame.tag();
        let p = match t {
            tag::PARSE_COMPLETE | tag::BIND_COMPLETE | tag::CLOSE_COMPLETE => Part::Skip,
            _ => part(t),
        };
        self.core
            .tee_refresh(&frame.bytes, p, t == tag::READY_FOR_QUERY);
    }

    /// A CommandComplete's tag. `COMMIT` ends a transaction that wrote: its writes are
    /// applied again right there, before the tag reaches the client, because the same
    /// string or batch may go on to open and roll back another transaction before the
    /// next ReadyForQuery. `ROLLBACK` (also the tag of `ROLLBACK TO SAVEPOINT` and of a
    /// COMMIT that found the transaction failed) applies nothing new by itself.
    fn on_command_tag(&mut self, command: Option<&[u8]>) {
        self.last_tag_rollback = command == Some(b"ROLLBACK");
        if command == Some(b"COMMIT") {
            self.core.transaction_ended(true);
        }
    }

    /// ReadyForQuery: the transaction status, and the end of a transaction block.
    fn on_ready(&mut self, frame: &Frame) {
        let txn = txn_state(frame.body().first().copied().unwrap_or(b'I'));
        if self.txn_pooled {
            self.txn_ready(txn.is_idle(), !self.last_tag_rollback);
        }
        if txn.is_idle() {
            let committed = !self.last_tag_rollback;
            self.core.transaction_ended(committed);
            self.last_tag_rollback = false;
        }
        self.core.set_txn(txn);
    }

    /// After an error in an extended-protocol batch the origin ignores everything up to
    /// Sync: drop what was owed for those messages, local answers included. If the
    /// client has not sent that Sync yet, what it sends until then is ignored too
    /// (`Extended::failed`). A fill still open belonged to a request the error
    /// skipped: it is given up, and its single-flight released.
    fn skip_to_sync(&mut self) {
        // Transaction pooling: the client's Parses skipped created nothing.
        let skipped = std::cell::RefCell::new(Vec::new());
        let synced = self.core.drop_until(|p| match p {
            Pending::Origin(owed) => {
                skipped.borrow_mut().extend(owed.answer.on_error.clone());
                owed.answer.expect == Expect::Sync
            }
            Pending::Local { sync, .. } => *sync,
        });
        for parse in skipped.into_inner() {
            self.txn_parse_settled(&parse, Settled::Skipped);
        }
        if !synced {
            self.ext.fail_batch();
        }
        self.core.abandon_fill(FillOutcome::Error);
    }
}
