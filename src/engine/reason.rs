//! Why a query was not served from or stored into the cache, and how a fill ended.
//! Metric labels and `explain` answers come from these enums.

use crate::classify::Uncacheable;

/// Why a query went to the origin without being cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// Inside an explicit transaction block (from the server's status, design §4.4).
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
}

impl BypassReason {
    pub const ALL: [BypassReason; 17] = [
        Self::NotARead,
        Self::MultiStatement,
        Self::LockingClause,
        Self::NonImmutableFunction,
        Self::SystemCatalog,
        Self::TemporaryTable,
        Self::SelectInto,
        Self::SessionVariable,
        Self::Unparsable,
        Self::InTransaction,
        Self::RowLimit,
        Self::Pipeline,
        Self::CatalogUnknown,
        Self::UnknownRelation,
        Self::VolatileView,
        Self::RuleSaysNo,
        Self::VolatileResults,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotARead => "not_a_read",
            Self::MultiStatement => "multi_statement",
            Self::LockingClause => "locking_clause",
            Self::NonImmutableFunction => "non_immutable_function",
            Self::SystemCatalog => "system_catalog",
            Self::TemporaryTable => "temporary_table",
            Self::SelectInto => "select_into",
            Self::SessionVariable => "session_variable",
            Self::Unparsable => "unparsable",
            Self::InTransaction => "in_transaction",
            Self::RowLimit => "row_limit",
            Self::Pipeline => "pipeline",
            Self::CatalogUnknown => "catalog_unknown",
            Self::UnknownRelation => "unknown_relation",
            Self::VolatileView => "volatile_view",
            Self::RuleSaysNo => "rule_says_no",
            Self::VolatileResults => "volatile_results",
        }
    }

    pub fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

impl From<Uncacheable> for BypassReason {
    fn from(u: Uncacheable) -> Self {
        match u {
            Uncacheable::NotARead => Self::NotARead,
            Uncacheable::MultiStatement => Self::MultiStatement,
            Uncacheable::LockingClause => Self::LockingClause,
            Uncacheable::NonImmutableFunction => Self::NonImmutableFunction,
            Uncacheable::SystemCatalog => Self::SystemCatalog,
            Uncacheable::TemporaryTable => Self::TemporaryTable,
            Uncacheable::SelectInto => Self::SelectInto,
            Uncacheable::SessionVariable => Self::SessionVariable,
            Uncacheable::Unparsable => Self::Unparsable,
        }
    }
}

/// How an attempt to store a result ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
}

impl FillOutcome {
    pub const ALL: [FillOutcome; 5] = [
        Self::Stored,
        Self::TooLarge,
        Self::Error,
        Self::Invalidated,
        Self::NotPlain,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::TooLarge => "too_large",
            Self::Error => "error",
            Self::Invalidated => "invalidated",
            Self::NotPlain => "not_plain",
        }
    }

    pub fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// What an invalidation covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvalidationScope {
    Table,
    Database,
}

impl InvalidationScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Database => "database",
        }
    }
}
