//! What a session knows about the isolation of its transactions (issue 11), so that
//! reads inside a transaction may be served where the level allows it: the
//! session's default level (asked of the origin once, at a moment that cannot disturb
//! the client's transaction), the level set for the next transaction alone, the level
//! of the open one, and whether the open one has written. Anything not followed
//! exactly makes the level unknown, and an unknown level is never served. SQL
//! Server's SNAPSHOT is followed as PostgreSQL's REPEATABLE READ (one snapshot, taken
//! at the transaction's first statement at the origin).

use super::Core;
use crate::classify::{Dialect, Isolation, IsolationChange, isolation_change, may_begin};
use crate::engine::ReadContext;
use crate::stats::BypassReason;

/// The level the next transaction will get.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Next {
    /// The session's default.
    #[default]
    Default,
    /// Set for it alone (`BEGIN ISOLATION LEVEL`, MySQL's `SET TRANSACTION`).
    Level(Isolation),
    /// Not known.
    Unknown,
}

#[derive(Debug, Default)]
pub(super) struct Tracking {
    /// The session's default level; `None`: not known.
    default: Option<Isolation>,
    next: Next,
    /// The open transaction's level; `None`: not known.
    current: Option<Isolation>,
    /// The open transaction ran a statement that may write or lock.
    written: bool,
    /// The origin has run a statement in the open (or opening) transaction, so its
    /// snapshot, if it has one, is taken.
    snapshot_taken: bool,
    /// The statement opening the transaction takes its snapshot itself (MySQL's
    /// `WITH CONSISTENT SNAPSHOT`).
    snapshot_at_begin: bool,
    /// A read inside a transaction found the default unknown: ask when possible.
    wanted: bool,
    /// The origin could not say: do not ask again in this session.
    unanswerable: bool,
}

impl Tracking {
    /// The level a transaction opening now gets.
    fn opening(&self) -> Option<Isolation> {
        match self.next {
            Next::Default => self.default,
            Next::Level(level) => Some(level),
            Next::Unknown => None,
        }
    }

    /// Forgets everything: the session changed in a way not followed.
    fn unknown(&mut self) {
        self.default = None;
        self.next = Next::Unknown;
        self.current = None;
    }
}

impl<A> Core<A> {
    /// Where a read would run now, or why it may not use the cache at all (a failed
    /// transaction block, or one that has written).
    pub fn read_context(&self) -> Result<ReadContext, BypassReason> {
        use super::TxnState::*;
        let t = &self.isolation;
        match self.txn {
            Idle => Ok(ReadContext::Autocommit(t.default)),
            Failed => Err(BypassReason::InTransaction),
            AutocommitOff | Open if t.written => Err(BypassReason::InTransactionAfterWrite),
            // The read opens a transaction (autocommit off) at the next one's level.
            AutocommitOff => Ok(ReadContext::Transaction {
                level: t.opening(),
                fresh: !t.snapshot_taken,
            }),
            Open => Ok(ReadContext::Transaction {
                level: t.current,
                fresh: !t.snapshot_taken,
            }),
        }
    }

    /// A read inside a transaction could not be served for want of the default.
    pub(super) fn want_isolation(&mut self) {
        self.isolation.wanted = true;
    }

    /// Whether the session's default level should be asked of the origin before
    /// `sql`: it is not known, and a transaction needs it (`sql` begins one, the
    /// session runs with autocommit off, or a read inside one wanted it), or (MySQL,
    /// MariaDB, where READ UNCOMMITTED may read rows later rolled back) any fill does.
    pub(super) fn should_ask_isolation(&self, sql: &str) -> bool {
        let t = &self.isolation;
        if t.default.is_some() || t.unanswerable {
            return false;
        }
        let dialect = self.scope.cache.classifier.dialect();
        dialect != Dialect::Postgres
            || t.wanted
            || self.txn == super::TxnState::AutocommitOff
            || (may_begin(sql)
                && matches!(
                    isolation_change(sql, dialect),
                    Some(IsolationChange::Begin(_))
                ))
    }

    /// The session's default level is known without asking the origin (SQL Server:
    /// every login, and every connection reset, starts in READ COMMITTED).
    pub fn default_isolation_known(&mut self, level: Isolation) {
        self.learned_isolation(Some(level));
    }

    /// What the origin said the session's default level is (`None`: it could not).
    pub(super) fn learned_isolation(&mut self, level: Option<Isolation>) {
        let t = &mut self.isolation;
        t.default = level;
        t.unanswerable = level.is_none();
        t.wanted = false;
    }

    /// The session's transaction state moves from `was` to `now`.
    pub(super) fn isolation_moves(&mut self, was: super::TxnState, now: super::TxnState) {
        let t = &mut self.isolation;
        if !was.is_open() && now.is_open() {
            t.current = t.opening();
            t.next = Next::Default;
            t.snapshot_taken |= std::mem::take(&mut t.snapshot_at_begin);
        }
        if !now.is_open() {
            t.current = None;
            t.written = false;
            t.snapshot_taken = false;
            t.snapshot_at_begin = false;
        }
    }

    /// A request goes to the origin: inside a transaction (or with autocommit off,
    /// opening one) the snapshot is taken from now on.
    pub(super) fn isolation_forwarded(&mut self) {
        if self.txn.is_open() || self.txn == super::TxnState::AutocommitOff {
            self.isolation.snapshot_taken = true;
        }
    }

    /// The statement opening a transaction takes its snapshot itself.
    pub(super) fn snapshot_at_begin(&mut self) {
        self.isolation.snapshot_at_begin = true;
    }

    /// The open transaction ended (committed or not); a chained one goes on at the
    /// same level and has written nothing yet. (Its snapshot stays counted as taken:
    /// the statement that chained it ran inside the transaction.)
    pub(super) fn isolation_txn_ended(&mut self) {
        self.isolation.written = false;
    }

    /// A request was acknowledged; `ends_clean_reads`: it may have written or locked.
    pub(super) fn isolation_acknowledged(&mut self, ends_clean_reads: bool) {
        self.isolation.written |= ends_clean_reads;
    }

    /// A forwarded statement changes isolation. `exact`: nothing else is in flight,
    /// so the transaction state it runs in is the one known now.
    pub(super) fn isolation_changes(&mut self, change: IsolationChange, exact: bool) {
        use IsolationChange::*;
        let open = self.txn.is_open();
        let dialect = self.scope.cache.classifier.dialect();
        let t = &mut self.isolation;
        match change {
            Unknown => t.unknown(),
            // Ignored inside a transaction (PostgreSQL); MySQL commits the open one
            // and starts another: its level is not followed.
            Begin(_) if !exact || open => {
                t.next = Next::Unknown;
                t.current = None;
            }
            Begin(Some(level)) => t.next = Next::Level(level),
            Begin(None) => {}
            ThisTransaction(_) | NextTransaction(_) if !exact => {
                t.next = Next::Unknown;
                t.current = None;
            }
            ThisTransaction(level) if open => t.current = Some(level),
            NextTransaction(level) if !open => t.next = Next::Level(level),
            ThisTransaction(_) | NextTransaction(_) => {}
            Session(_) if !exact => t.default = None,
            // SQL Server's SET TRANSACTION ISOLATION LEVEL is the session's from now
            // on, the open transaction's included (no rollback undoes it): that one
            // is not followed (a switch to SNAPSHOT inside it even fails).
            Session(level) if open && dialect == Dialect::MsSql => {
                t.default = Some(level);
                if t.current != Some(level) {
                    t.current = None;
                }
            }
            // A PostgreSQL SET inside a transaction is undone by its rollback.
            Session(_) if open => t.default = None,
            Session(level) => t.default = Some(level),
        }
    }

    /// Back to a fresh login (MySQL COM_CHANGE_USER, COM_RESET_CONNECTION): the
    /// default is the new login's, not known until asked.
    pub(super) fn isolation_reset(&mut self) {
        self.isolation = Tracking::default();
    }
}
