//! The `[limits]` section: how many client sessions each cache serves at once, how
//! many clients may wait for a place and for how long, and when an idle client is
//! closed. `cache.max_connections` stays the total over every listener.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::kinds::{Amount, Count, Dur, Kind, Opt};

/// `limits.queue` when absent.
pub const DEFAULT_QUEUE: usize = 128;
/// `limits.queue_timeout` when absent.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Client sessions one cache serves at once; absent: only `cache.max_connections`
    /// bounds them. Each session holds one origin connection (pass-through), so this
    /// is also the cache's bound on origin connections.
    #[serde(with = "Opt::<Count>")]
    pub cache_connections: Option<usize>,
    /// Clients that may wait for a place (per cache, and for the total); past it a
    /// client is refused at once. Zero: never wait.
    #[serde(with = "Amount")]
    pub queue: usize,
    /// How long a client waits for a place before it is refused.
    #[serde(with = "Dur")]
    pub queue_timeout: Duration,
    /// A client idle this long between requests, outside a transaction, is closed
    /// (PostgreSQL FATAL 57P05, MySQL error 4031). Zero: never.
    #[serde(with = "Dur")]
    pub idle_timeout: Duration,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            cache_connections: None,
            queue: DEFAULT_QUEUE,
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
            idle_timeout: Duration::ZERO,
        }
    }
}
