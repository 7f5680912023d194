//! The configured caches and how a client's user name selects one (design §1).

use std::sync::Arc;

use crate::cache::ttl::TtlBounds;
use crate::classify::{Classifier, Dialect};
use crate::config::{CacheMode, Config, Protocol, TxnPolicy};
use crate::stats::CacheMetrics;

/// One configured cache: an origin with an ID.
pub struct CacheCtx {
    pub id: String,
    /// The ID again, shareable (templates and rules refer to caches by it).
    pub key: Arc<str>,
    pub protocol: Protocol,
    pub origin: String,
    pub mode: CacheMode,
    /// Which reads inside transactions it may answer (rules may override).
    pub transactions: TxnPolicy,
    /// Learned TTLs stay within these; new templates start at `initial`.
    pub bounds: TtlBounds,
    pub metrics: CacheMetrics,
    pub classifier: Classifier,
    /// How long past its TTL an entry may answer a session whose origin is
    /// unreachable (zero: never).
    pub serve_stale: std::time::Duration,
    /// How long connecting to the origin may take.
    pub connect_timeout: std::time::Duration,
    /// How long an origin query may run before it is cancelled (zero: no limit).
    pub query_timeout: std::time::Duration,
}

/// All caches, with IDs sorted longest first for prefix matching.
pub struct Caches {
    list: Vec<Arc<CacheCtx>>,
    default: Option<Arc<CacheCtx>>,
}

fn dialect(p: Protocol) -> Dialect {
    match p {
        Protocol::Postgres => Dialect::Postgres,
        Protocol::MySql => Dialect::MySql,
        Protocol::MariaDb => Dialect::MariaDb,
        Protocol::MsSql => Dialect::MsSql,
    }
}

impl Caches {
    pub fn new(config: &Config) -> Self {
        let mut list: Vec<Arc<CacheCtx>> = config
            .caches
            .iter()
            .map(|c| {
                let initial = c.ttl.unwrap_or(config.cache.default_ttl);
                Arc::new(CacheCtx {
                    id: c.id.clone(),
                    key: c.id.as_str().into(),
                    protocol: c.protocol,
                    origin: c.origin.clone(),
                    mode: c.mode,
                    transactions: c.transactions,
                    bounds: TtlBounds::new(config.cache.min_ttl, initial, config.cache.max_ttl),
                    metrics: CacheMetrics::default(),
                    classifier: Classifier::new(dialect(c.protocol)),
                    serve_stale: c.serve_stale.unwrap_or(config.cache.serve_stale),
                    connect_timeout: config.cache.origin_connect_timeout,
                    query_timeout: config.cache.query_timeout,
                })
            })
            .collect();
        list.sort_by(|a, b| b.id.len().cmp(&a.id.len()).then(a.id.cmp(&b.id)));
        let default = config
            .caches
            .iter()
            .find(|c| c.default)
            .and_then(|d| list.iter().find(|c| c.id == d.id).cloned());
        Self { list, default }
    }

    pub fn all(&self) -> &[Arc<CacheCtx>] {
        &self.list
    }

    pub fn by_id(&self, id: &str) -> Option<&Arc<CacheCtx>> {
        self.list.iter().find(|c| c.id == id)
    }

    /// Splits `CACHEID-user` into the cache and the origin user name. IDs are matched
    /// longest first (they may contain `-`), only among caches of `protocol`. A name
    /// with no known prefix goes to the default cache, unchanged, if it speaks
    /// `protocol`.
    pub fn resolve<'u>(
        &self,
        protocol: Protocol,
        user: &'u str,
    ) -> Option<(Arc<CacheCtx>, &'u str)> {
        for c in self.list.iter().filter(|c| c.protocol == protocol) {
            let rest = user
                .strip_prefix(c.id.as_str())
                .and_then(|r| r.strip_prefix('-'))
                .filter(|r| !r.is_empty());
            if let Some(rest) = rest {
                return Some((c.clone(), rest));
            }
        }
        self.default
            .as_ref()
            .filter(|d| d.protocol == protocol)
            .map(|d| (d.clone(), user))
    }
}
