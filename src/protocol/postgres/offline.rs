//! A PostgreSQL session without its origin connection (`session::outage`): what
//! stands for the origin's answers meanwhile, and the origin's FATAL that announced the
//! loss, held back while the session goes on.
//!
//! A forwarded simple query (or function call) gets ErrorResponse 57P03 and
//! ReadyForQuery; an extended-protocol message gets the ErrorResponse, after which the
//! relay skips to the batch's Sync as after any origin error, and the Sync gets its
//! ReadyForQuery. No transaction can be open: the status is the session's (`I`).

use bytes::Bytes;

use super::errors::{PgError, to_wire};
use super::messages::ready_for_query;
use super::session::{Expect, Session, status_byte};
use crate::engine::Effects;
use crate::stats::OriginFault;

impl Session {
    /// An unsolicited FATAL from the origin (a shutdown, or an administrator ending
    /// this backend): held back if the session may go on without its origin, so the
    /// client keeps its connection; relayed if the session ends first.
    pub fn hold_fatal(&mut self, bytes: &Bytes) -> bool {
        if self.core.txn().is_open() || !self.core.nothing_owed() {
            return false;
        }
        self.held_fatal = Some(bytes.clone());
        true
    }

    /// The origin connection failed: the session goes on without it if it was at rest.
    pub fn lose_origin(&mut self, fault: OriginFault) -> bool {
        let at_rest = self.ext.between_batches() && self.copy == super::copy::CopyState::Idle;
        at_rest && self.core.lose_origin(fault)
    }

    /// What stands for the origin's answer to the oldest owed request.
    pub fn unavailable(&mut self) -> Option<Bytes> {
        let owed = self.core.front_owed()?;
        // It never reached the origin: it wrote nothing, changed nothing.
        owed.effects = Effects::default();
        let expect = owed.answer.expect;
        let ready = ready_for_query(status_byte(self.core.txn()));
        if expect == Expect::Sync {
            return Some(Bytes::copy_from_slice(&ready));
        }
        self.core.count_unavailable();
        let error = to_wire(&PgError::OriginUnavailable).unwrap_or_default();
        Some(match expect {
            Expect::Query => [&error[..], &ready[..]].concat().into(),
            _ => error,
        })
    }

    /// What the client is told when the session ends with `e`: the origin's held
    /// FATAL if there is one (the origin's own reason), else wirecache's error.
    pub fn final_error(&self, e: &PgError) -> Option<Bytes> {
        if let Some(fatal) = &self.held_fatal {
            return Some(fatal.clone());
        }
        let origin_gone = matches!(
            e,
            PgError::Closed(super::errors::Side::Origin)
                | PgError::Io {
                    side: super::errors::Side::Origin,
                    ..
                }
        );
        if origin_gone && self.origin_fatal {
            return None;
        }
        to_wire(e)
    }
}
