//! The result store: keys, entries and a bounded in-memory store (moka) with a TTL per
//! entry. It stores opaque payloads (a protocol's response bytes) and never imports a
//! protocol or parses SQL.

mod entry;
mod key;
mod store;
pub mod ttl;

pub use entry::Entry;
pub use key::{KeyBuilder, KeyKind};
pub use store::Store;
