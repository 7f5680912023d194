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

    /// The origin is reachable again: a transaction-pooled session between requests
    /// (and not pinned to the connection it lost, whose state is gone) drops that
    /// connection and leases a fresh one when it next needs one; its settings are
    /// replayed there and its named statements prepared again, as after any lease.
    /// False for any other session: it ends (`session::outage`).
    pub fn regain_origin(&mut self) -> bool {
        let resting = self.core.nothing_owed()
            && self.ext.between_batches()
            && self.copy == super::copy::CopyState::Idle
            && !self.core.txn().is_open();
        if !resting || !self.core.io().origin_lost() {
            return false;
        }
        match self.lender() {
            Some(lender) if lender.pinned().is_none() => lender.drop_connection(),
            _ => return false,
        }
        self.core.io().regain_origin();
        self.held_fatal = None;
        self.origin_fatal = false;
        self.ext.unnamed.at_origin = false;
        self.ext.portals.clear();
        tracing::info!(cache = %self.core.cache().id, "origin reachable again; the session leases a fresh connection");
        true
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
