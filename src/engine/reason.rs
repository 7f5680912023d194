//! The reasons that label metrics live in [`crate::stats`] (a leaf both the engine and
//! the renderer use); here is how the classifier's verdict maps onto them.

use crate::classify::Uncacheable;

pub use crate::stats::{BypassReason, FillOutcome, InvalidationScope};

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
