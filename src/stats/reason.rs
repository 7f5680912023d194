//! Why a query was not served from or stored into the cache, how a fill ended, and what
//! an invalidation covered. Metric labels and `explain` answers come from these enums:
//! each variant's label is its name in snake_case (derived; a public interface, so a
//! rename changes the metrics), and its counter sits at its declaration index.

use strum::{IntoStaticStr, VariantArray};

/// Why a query went to the origin without being cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum BypassReason {
    NotARead,
    MultiStatement,
    LockingClause,
    NonImmutableFunction,
    SystemCatalog,
    TemporaryTable,
    SelectInto,
    SessionVariable,
    Unparsable,
    /// Inside a transaction the cache's `transactions` policy keeps away from the
    /// cache (`never`), or a failed transaction block (design §4.4).
    InTransaction,
    /// Extended-protocol Execute with a row limit.
    RowLimit,
    /// Earlier messages of the same pipeline are still in flight or wrote.
    Pipeline,
    /// The catalog could not be asked about a relation or function it uses.
    CatalogUnknown,
    /// A relation it reads does not exist (the origin will say so).
    UnknownRelation,
    /// A view it reads calls a function that is not immutable.
    VolatileView,
    /// The cache's mode or a rule says no.
    RuleSaysNo,
    /// Its results change too often with no write seen: caching is paused.
    VolatileResults,
    /// Its transaction has written (or locked rows): it must see its own writes.
    InTransactionAfterWrite,
    /// A REPEATABLE READ transaction reads one snapshot; the cache may be newer.
    IsolationRepeatableRead,
    /// A SERIALIZABLE transaction reads one snapshot the origin checks.
    IsolationSerializable,
    /// READ UNCOMMITTED (MySQL, MariaDB) may read uncommitted rows: never stored.
    IsolationReadUncommitted,
    /// The session's isolation level is not known (yet): not served in a transaction.
    IsolationUnknown,
    /// Its template's results do not repeat (almost no hits after many calls): its
    /// misses are not filled, save probes (see `engine::cacheability`).
    NotRepeating,
}

/// How an attempt to store a result ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum FillOutcome {
    Stored,
    /// The result grew past `max_entry_size`; it was streamed through uncached.
    TooLarge,
    /// The origin answered with an error (errors are never cached, design §4.7).
    Error,
    /// A table it read was written while it ran (design §4.2).
    Invalidated,
    /// Not a single plain result (COPY, several results, suspended portal, …).
    NotPlain,
    /// Its template's calls mostly miss and this key had not missed before: not
    /// stored until it misses again (the doorkeeper, `engine/doorkeeper.rs`).
    NotAdmitted,
}

/// What an invalidation covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum InvalidationScope {
    Table,
    Database,
}

/// Why a client was refused a session (a "too many connections" error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Refusal {
    /// As many clients as `limits.queue` were already waiting.
    QueueFull,
    /// No place came free within `limits.queue_timeout`.
    QueueTimeout,
}

/// `ALL`, `as_str` and `index` of a label enum, from its derives.
macro_rules! label_enum {
    ($($t:ty),*) => {$(
        impl $t {
            /// Every variant, in declaration order (the order of its counters and series).
            pub const ALL: &'static [Self] = <Self as VariantArray>::VARIANTS;

            /// The metric label value.
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            /// The position in [`Self::ALL`]: where its counter is.
            pub const fn index(self) -> usize {
                self as usize
            }
        }
    )*};
}

label_enum!(BypassReason, FillOutcome, InvalidationScope, Refusal);

#[cfg(test)]
mod tests {
    use super::*;

    /// The labels are a public interface (README's metrics list, dashboards): these
    /// are the strings the hand-written lists had.
    #[test]
    fn labels_are_unchanged() {
        let bypass: Vec<_> = BypassReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            bypass,
            [
                "not_a_read",
                "multi_statement",
                "locking_clause",
                "non_immutable_function",
                "system_catalog",
                "temporary_table",
                "select_into",
                "session_variable",
                "unparsable",
                "in_transaction",
                "row_limit",
                "pipeline",
                "catalog_unknown",
                "unknown_relation",
                "volatile_view",
                "rule_says_no",
                "volatile_results",
                "in_transaction_after_write",
                "isolation_repeatable_read",
                "isolation_serializable",
                "isolation_read_uncommitted",
                "isolation_unknown",
                "not_repeating",
            ]
        );
        let fill: Vec<_> = FillOutcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            fill,
            [
                "stored",
                "too_large",
                "error",
                "invalidated",
                "not_plain",
                "not_admitted"
            ]
        );
        let scope: Vec<_> = InvalidationScope::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(scope, ["table", "database"]);
    }

    #[test]
    fn index_is_the_position_in_all() {
        for (i, r) in BypassReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        for (i, o) in FillOutcome::ALL.iter().enumerate() {
            assert_eq!(o.index(), i);
        }
        for (i, s) in InvalidationScope::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
        }
    }
}
