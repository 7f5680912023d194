//! The result store: keys and a bounded in-memory store (moka) with a TTL per entry.
//! It stores whatever implements [`Cached`] (the engine's `Entry`: a protocol's
//! response bytes and what they were read at) and never imports a protocol, the
//! engine, or parses SQL.

mod key;
mod presence;
mod store;
pub mod ttl;

pub use key::{KeyBuilder, KeyKind};
pub use store::{Cached, Store};
