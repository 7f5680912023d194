//! Reads inside transactions (issue 11): whether a cached answer may be served to a
//! read, and whether the read's own answer may be stored, given where the read runs
//! and the cache's (or a rule's) `transactions` policy.
//!
//! A READ COMMITTED statement reads the latest committed data, which is what a fresh
//! entry holds (its tables unchanged since it was filled, by the generation check):
//! serving it is as correct as serving an autocommit read, and storing its answer too.
//! A REPEATABLE READ or SERIALIZABLE transaction reads one snapshot, which may be
//! older than the entry: served only under `always`, and its answers, possibly read
//! from an old snapshot, are stored only when the read is the transaction's first
//! statement at the origin (its snapshot is taken by that very read, as a READ
//! COMMITTED statement's is). READ UNCOMMITTED (MySQL, MariaDB) may read rows another
//! transaction later rolls back: its answers are never stored.

use super::plan::{Ttl, Verdict};
use super::{Engine, Scope, TemplateStats};
use crate::classify::{Dialect, Isolation};
use crate::config::TxnPolicy;
use crate::stats::BypassReason;

/// Where a read runs, as the session core tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadContext {
    /// No transaction: the statement is one of its own. The session's default level
    /// (`None`: not known) matters only where READ UNCOMMITTED exists.
    Autocommit(Option<Isolation>),
    /// Inside a transaction (or one the read will open) that has not written, at
    /// this level (`None`: not known); `fresh`: the origin has run nothing in it yet,
    /// so the read takes the transaction's snapshot itself.
    Transaction {
        level: Option<Isolation>,
        fresh: bool,
    },
}

/// What the cache may do for a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Serve a fresh entry; on a miss, store the answer.
    Full,
    /// Serve a fresh entry; on a miss, forward uncached for this reason.
    ServeOnly(BypassReason),
    /// Forward uncached for this reason.
    Bypass(BypassReason),
}

impl Access {
    pub fn may_serve(self) -> bool {
        !matches!(self, Access::Bypass(_))
    }
}

impl ReadContext {
    pub fn in_transaction(self) -> bool {
        matches!(self, ReadContext::Transaction { .. })
    }

    /// What `policy` allows a read here, on an origin speaking `dialect`.
    pub fn access(self, policy: TxnPolicy, dialect: Dialect) -> Access {
        use Isolation::*;
        match self {
            ReadContext::Autocommit(level) => match (level, dialect) {
                (_, Dialect::Postgres) => Access::Full,
                (Some(ReadUncommitted), _) => {
                    Access::ServeOnly(BypassReason::IsolationReadUncommitted)
                }
                (None, _) => Access::ServeOnly(BypassReason::IsolationUnknown),
                (Some(_), _) => Access::Full,
            },
            ReadContext::Transaction { level, fresh } => match (policy, level) {
                (TxnPolicy::Never, _) => Access::Bypass(BypassReason::InTransaction),
                (_, None) => Access::Bypass(BypassReason::IsolationUnknown),
                (_, Some(ReadCommitted)) => Access::Full,
                (_, Some(ReadUncommitted)) => {
                    Access::ServeOnly(BypassReason::IsolationReadUncommitted)
                }
                (TxnPolicy::Always, Some(RepeatableRead | Serializable)) if fresh => Access::Full,
                (TxnPolicy::Always, Some(RepeatableRead)) => {
                    Access::ServeOnly(BypassReason::IsolationRepeatableRead)
                }
                (TxnPolicy::Always, Some(Serializable)) => {
                    Access::ServeOnly(BypassReason::IsolationSerializable)
                }
                (TxnPolicy::ReadCommitted, Some(RepeatableRead)) => {
                    Access::Bypass(BypassReason::IsolationRepeatableRead)
                }
                (TxnPolicy::ReadCommitted, Some(Serializable)) => {
                    Access::Bypass(BypassReason::IsolationSerializable)
                }
            },
        }
    }
}

impl Engine {
    /// [`Engine::policy`], then what the `transactions` policy allows a read where
    /// it runs (`ctx`).
    pub(super) fn policy_where(
        &self,
        scope: &Scope,
        v: &Verdict,
        stats: &TemplateStats,
        ctx: ReadContext,
    ) -> Result<Ttl, BypassReason> {
        let (ttl, rule_txn) = self.policy(scope, v, &stats.ttl_state());
        // Remembered on the template, for its hits.
        stats.set_txn_policy(rule_txn);
        let ttl = ttl?;
        let txn_policy = stats.txn_policy(scope.cache.transactions);
        match ctx.access(txn_policy, scope.cache.classifier.dialect()) {
            Access::Full => Ok(ttl),
            Access::ServeOnly(r) | Access::Bypass(r) => Err(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Isolation::*;

    #[test]
    fn what_each_policy_allows() {
        let pg = Dialect::Postgres;
        let my = Dialect::MariaDb;
        let t = |level| ReadContext::Transaction {
            level,
            fresh: false,
        };
        let a = ReadContext::Autocommit;
        let cases = [
            (a(None), TxnPolicy::Never, pg, Access::Full),
            (
                a(None),
                TxnPolicy::Never,
                my,
                Access::ServeOnly(BypassReason::IsolationUnknown),
            ),
            (a(Some(RepeatableRead)), TxnPolicy::Never, my, Access::Full),
            (
                a(Some(ReadUncommitted)),
                TxnPolicy::Always,
                my,
                Access::ServeOnly(BypassReason::IsolationReadUncommitted),
            ),
            (
                t(Some(ReadCommitted)),
                TxnPolicy::Never,
                pg,
                Access::Bypass(BypassReason::InTransaction),
            ),
            (
                t(Some(ReadCommitted)),
                TxnPolicy::ReadCommitted,
                pg,
                Access::Full,
            ),
            (
                t(None),
                TxnPolicy::Always,
                pg,
                Access::Bypass(BypassReason::IsolationUnknown),
            ),
            (
                t(Some(RepeatableRead)),
                TxnPolicy::ReadCommitted,
                my,
                Access::Bypass(BypassReason::IsolationRepeatableRead),
            ),
            (
                t(Some(RepeatableRead)),
                TxnPolicy::Always,
                my,
                Access::ServeOnly(BypassReason::IsolationRepeatableRead),
            ),
            (
                t(Some(Serializable)),
                TxnPolicy::ReadCommitted,
                pg,
                Access::Bypass(BypassReason::IsolationSerializable),
            ),
            (
                t(Some(Serializable)),
                TxnPolicy::Always,
                pg,
                Access::ServeOnly(BypassReason::IsolationSerializable),
            ),
        ];
        for (ctx, policy, dialect, want) in cases {
            assert_eq!(
                ctx.access(policy, dialect),
                want,
                "{ctx:?} {policy:?} {dialect:?}"
            );
        }
        // The first statement of a snapshot transaction takes its snapshot: stored
        // under `always` (and only then).
        let first = |level| ReadContext::Transaction {
            level: Some(level),
            fresh: true,
        };
        assert_eq!(
            first(RepeatableRead).access(TxnPolicy::Always, my),
            Access::Full
        );
        assert_eq!(
            first(Serializable).access(TxnPolicy::Always, pg),
            Access::Full
        );
        assert_eq!(
            first(RepeatableRead).access(TxnPolicy::ReadCommitted, pg),
            Access::Bypass(BypassReason::IsolationRepeatableRead)
        );
    }
}
