//! The hasher of wirecache's own in-memory maps on the request paths (classification
//! memos, template statistics, generation counters, single-flight, prepared
//! statements, the result store): foldhash, seeded at random per map so that no
//! client can choose keys that collide, and several times cheaper than std's SipHash
//! on the short keys those maps hold (template IDs, table names, SQL texts).

/// Builds the hashers of one map (its seed drawn once, at random).
pub type Hasher = foldhash::quality::RandomState;

/// A `HashMap` with [`Hasher`].
pub type Map<K, V> = std::collections::HashMap<K, V, Hasher>;
