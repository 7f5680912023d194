//! Figures recorded on the query path: per-cache counters, latency histograms and the
//! reasons that label them. A leaf: it imports nothing else of the crate, so the engine
//! records into it and the Prometheus renderer (`metrics`) and the admin API
//! read it, without either importing the other.
//!
//! Recording is plain relaxed atomics with fixed label sets (one counter per variant of
//! a reason), so the hit path does one atomic add and no map lookup or allocation.

mod counters;
mod health;
mod histogram;
mod reason;

pub use counters::CacheMetrics;
pub use health::{HealthView, OriginFault, OriginHealth};
pub use histogram::{Histogram, LATENCY_BUCKETS_US};
pub use reason::{BypassReason, FillOutcome, InvalidationScope, Refusal};
