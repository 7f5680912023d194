//! Invalidation by generation counters (design §4.2).
//!
//! Every database an origin serves has a [`DbGenerations`]: one counter for the whole
//! database and one per table. A fill snapshots the counters of the tables it reads
//! when it starts; the entry is stored with that snapshot, and a lookup that finds any
//! counter moved treats the entry as a miss. Invalidation is therefore O(1) per table:
//! bump a counter. With `[cluster]`, `crate::cluster` shares the same bumps with other
//! instances.

mod generations;

pub use generations::{DbGenerations, Generation, GenerationRegistry, Snapshot, table_key};
