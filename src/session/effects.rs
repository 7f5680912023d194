//! What a session's statements do to the cache: a write's invalidations are applied
//! at its acknowledgement, before it reaches the client (design §2 step 7), and again
//! when its transaction ends, because the commit comes later and a reader may refill
//! the entry in between (design §4.4); a rollback applies nothing new. Also the
//! session's namespace: session-changing statements give later reads their own.

use super::Core;
use crate::classify::{IsolationChange, lower_contains};
use crate::engine::{Effects, NamespaceMaterial};

/// Where the session's origin connection stands, as its protocol reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    /// Autocommit, no transaction open: each statement commits on its own.
    Idle,
    /// No transaction open, but autocommit is off: the next statement opens one.
    AutocommitOff,
    /// In a transaction block.
    Open,
    /// In a failed transaction block (PostgreSQL): everything fails until it ends.
    Failed,
}

impl TxnState {
    pub fn is_idle(self) -> bool {
        self == TxnState::Idle
    }

    /// A transaction is open (failed or not): the session is not at rest.
    pub fn is_open(self) -> bool {
        matches!(self, TxnState::Open | TxnState::Failed)
    }
}

impl<A> Core<A> {
    pub fn txn(&self) -> TxnState {
        self.txn
    }

    /// The origin reported the session's transaction state.
    pub fn set_txn(&mut self, txn: TxnState) {
        let was = std::mem::replace(&mut self.txn, txn);
        self.isolation_moves(was, txn);
    }

    /// The oldest owed request was acknowledged (or failed): its writes are applied
    /// now and remembered for the end of the transaction, whatever the state said
    /// before (a write with autocommit off opens the transaction it belongs to). An
    /// autocommit write's memory is dropped at its own end, which reports no
    /// transaction.
    pub fn acknowledged(&mut self) {
        let Some(super::Pending::Origin(owed)) = self.pending.front() else {
            return;
        };
        let (ends_clean_reads, taints) =
            (owed.effects.ends_clean_reads(), owed.effects.taints_session);
        if owed.effects.writes() {
            let recording = self.engine.apply(&self.scope, &owed.effects);
            self.txn_effects.merge(&owed.effects);
            self.recordings.extend(recording);
        }
        self.isolation_acknowledged(ends_clean_reads);
        if taints {
            // A function or procedure may have changed isolation too.
            self.isolation_changes(crate::classify::IsolationChange::Unknown, false);
        }
    }

    /// A transaction ended: its writes are applied again if it `committed`, and
    /// forgotten either way.
    pub fn transaction_ended(&mut self, committed: bool) {
        let effects = std::mem::take(&mut self.txn_effects);
        if committed && effects.writes() {
            let recording = self.engine.apply(&self.scope, &effects);
            self.recordings.extend(recording);
        }
        self.isolation_txn_ended();
    }

    /// Remembers what a forwarded statement does to the session: a change wirecache
    /// can follow (its text joins the namespace material) or one it cannot (the
    /// namespace becomes private). Applied at once: the next request must not share
    /// the old namespace even if it is pipelined behind this one.
    /// A tainted namespace gets a new private ID each time it is renewed, so it is
    /// renewed only when something changed.
    pub fn session_effects(&mut self, mut effects: Effects, sql: &str) -> Effects {
        if let Some(change) = effects.isolation {
            if change == IsolationChange::Begin(None) && lower_contains(sql, "snapshot") {
                self.snapshot_at_begin();
            }
            let exact = self.idle();
            self.isolation_changes(change, exact);
            // A statement that only sets a level changes no result: the namespace
            // stays, so the session keeps sharing entries.
            if change != IsolationChange::Unknown {
                effects.session_change = false;
            }
        }
        if effects.session_change {
            effects.session_change = false;
            self.namespace.remember(sql.as_bytes());
            self.renew_namespace();
        }
        if effects.taints_session {
            self.taint();
        }
        effects
    }

    /// Session state changed by something other than a statement (MySQL's
    /// COM_INIT_DB): `text` stands for the change in the namespace material.
    pub fn remember_session_text(&mut self, text: &[u8]) {
        self.namespace.remember(text);
        self.renew_namespace();
    }

    /// Session state changed in a way wirecache cannot follow: private from now on.
    pub fn taint(&mut self) {
        self.namespace.taint();
        self.renew_namespace();
    }

    /// Back to a fresh login state (MySQL COM_CHANGE_USER, COM_RESET_CONNECTION):
    /// new namespace material, no transaction writes remembered.
    pub fn reset_session(&mut self, base: NamespaceMaterial) {
        self.namespace.reset(base);
        self.txn_effects = Effects::default();
        self.isolation_reset();
        self.renew_namespace();
    }

    fn renew_namespace(&mut self) {
        self.scope.namespace = self.engine.namespace_id(&self.namespace);
    }
}
