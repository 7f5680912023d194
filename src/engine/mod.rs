//! The protocol-agnostic engine: a session hands it a request and gets a decision
//! (design §2 steps 3–7). Protocols speak bytes; the engine speaks SQL. They meet only
//! at the types of this module.
//!
//! - [`Engine::lookup`]: the hit path. Key bytes in, fresh entry out; no SQL parsing.
//! - [`Engine::plan`]: on a miss. Classifies (memoized), consults catalog facts, and
//!   answers [`Decision`].
//! - [`Engine::admit`]: before a fill starts, whether its result may be stored (the
//!   doorkeeper, for templates whose calls mostly miss; `fill.rs`).
//! - [`Engine::complete_fill`] / [`Engine::apply`]: at the end of the origin's answer.

mod cacheability;
mod caches;
pub mod catalog;
mod doorkeeper;
mod effects;
mod entry;
mod explain;
mod facts;
mod fill;
mod flight;
mod namespace;
mod plan;
mod reason;
mod rules;
mod shared;
mod templates;
mod txn;

use std::sync::Arc;
use std::time::Instant;

pub use cacheability::Storing;
pub use caches::{CacheCtx, Caches};
pub use effects::Effects;
pub use entry::Entry;
pub use explain::Explanation;
pub use facts::{CatalogQuestion, Fact, FactKey, Knowledge, RelationFacts, Volatility};
pub use flight::{Flight, FlightGuard, Flights, follow};
pub use namespace::{NamespaceMaterial, NamespaceRegistry, SessionNamespace};
pub use plan::{CatalogAccess, QueryRequest, Ttl, Verdict};
pub use reason::{BypassReason, FillOutcome, InvalidationScope};
pub use rules::{Rules, covers, glob};
pub use templates::{TemplateStats, Templates};
pub use txn::{Access, ReadContext};

use std::sync::atomic::Ordering;

use crate::cache::Store;
use crate::cluster::{Cluster, Recording};
use crate::config::Config;
use crate::invalidate::{DbGenerations, GenerationRegistry, Snapshot};
use fill::{Admission, OBSERVED_KEYS, Observed};

/// Where a session's requests belong: its cache, database and namespace.
#[derive(Clone)]
pub struct Scope {
    pub cache: Arc<CacheCtx>,
    pub db: Arc<DbGenerations>,
    /// The database's name (what the cluster bus calls it).
    pub db_name: Arc<str>,
    pub namespace: u64,
}

/// What to do with a request that missed the cache.
#[derive(Debug)]
pub enum Decision {
    /// Send it to the origin and store the answer if it completes cleanly.
    Fill(FillTicket),
    /// Send it to the origin uncached; apply `effects` when it is acknowledged.
    Forward {
        reason: BypassReason,
        effects: Effects,
    },
    /// Ask the origin's catalog first, then plan again.
    NeedCatalog(CatalogQuestion),
}

/// A fill in flight: the generations its tables had when it started.
#[derive(Debug)]
pub struct FillTicket {
    snapshot: Snapshot,
    ttl: Ttl,
    template: Arc<TemplateStats>,
    started: Instant,
    /// The tables it depends on, when they are all known (for the shared tier).
    shared_deps: Option<Vec<Box<str>>>,
    admission: Admission,
}

impl FillTicket {
    pub fn template(&self) -> &Arc<TemplateStats> {
        &self.template
    }

    /// The doorkeeper turned its result away ([`Engine::admit`]).
    pub fn turned_away(&self) -> bool {
        self.admission == Admission::TurnedAway
    }
}

/// The shared engine. One per process, behind an `Arc`. Sessions use it through the
/// methods below; the admin API reads (and purges) through the accessors.
pub struct Engine {
    store: Store<Entry>,
    generations: Arc<GenerationRegistry>,
    /// The cluster bus, with `[cluster]`.
    cluster: Option<Arc<Cluster>>,
    namespaces: NamespaceRegistry,
    knowledge: Knowledge,
    caches: Caches,
    templates: Templates,
    flights: Arc<Flights>,
    rules: Rules,
    observed: moka::sync::Cache<u64, Arc<Observed>, crate::hashing::Hasher>,
    doorkeeper: doorkeeper::Doorkeeper,
    /// How long a client may take to log in (`cache.login_timeout`).
    login_timeout: std::time::Duration,
}

/// Whether the session asking can reach its origin: one that cannot may be answered
/// with an entry past its TTL, within the cache's `serve_stale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginLink {
    Up,
    Lost,
}

/// A fresh entry found by [`Engine::lookup`].
pub struct Hit {
    pub entry: Arc<Entry>,
    /// Set when this hit should refresh the entry ahead of its expiry (at most one
    /// per entry): hand it to [`Engine::refresh_ticket`], or drop it to let a later
    /// hit try.
    pub refresh: Option<RefreshClaim>,
}

/// The right to refresh one entry ahead of its expiry. Dropped unused, it is given
/// back, so a later hit may refresh instead.
pub struct RefreshClaim {
    entry: Arc<Entry>,
    used: bool,
}

impl Drop for RefreshClaim {
    fn drop(&mut self) {
        if !self.used {
            self.entry.refreshing.store(false, Ordering::Relaxed);
        }
    }
}

impl Engine {
    pub fn new(config: &Config) -> Self {
        Self {
            store: Store::new(config.cache.max_memory, config.cache.max_entry_size),
            generations: Arc::default(),
            cluster: None,
            namespaces: NamespaceRegistry::default(),
            knowledge: Knowledge::default(),
            caches: Caches::new(config),
            templates: Templates::default(),
            flights: Arc::default(),
            rules: Rules::new(config.rules.clone()),
            observed: moka::sync::Cache::builder()
                .max_capacity(OBSERVED_KEYS)
                .build_with_hasher(crate::hashing::Hasher::default()),
            doorkeeper: doorkeeper::Doorkeeper::default(),
            login_timeout: config.cache.login_timeout,
        }
    }

    /// How long a client may take from connecting to being logged in.
    pub fn login_timeout(&self) -> std::time::Duration {
        self.login_timeout
    }

    pub fn store(&self) -> &Store<Entry> {
        &self.store
    }

    pub fn generations(&self) -> &GenerationRegistry {
        &self.generations
    }

    /// The generations, to share with the cluster bus.
    pub fn generations_handle(&self) -> Arc<GenerationRegistry> {
        self.generations.clone()
    }

    /// Joins the cluster: writes' invalidations are shared from now on.
    pub fn set_cluster(&mut self, cluster: Arc<Cluster>) {
        self.cluster = Some(cluster);
    }

    /// The cluster bus, if `[cluster]` is configured.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    pub fn caches(&self) -> &Caches {
        &self.caches
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The largest result stored, in bytes.
    pub fn max_entry_size(&self) -> usize {
        usize::try_from(self.store.max_entry_size()).unwrap_or(usize::MAX)
    }

    /// Where a new session's requests belong: `cache`, the origin database `database`
    /// (its own generation counters) and the session's namespace now.
    pub fn open_scope(
        &self,
        cache: Arc<CacheCtx>,
        database: &str,
        namespace: &SessionNamespace,
    ) -> Scope {
        Scope {
            db: self.generations.database(&cache.id, database),
            db_name: database.into(),
            namespace: self.namespace_id(namespace),
            cache,
        }
    }

    /// The namespace id of a session's namespace material now.
    pub fn namespace_id(&self, namespace: &SessionNamespace) -> u64 {
        namespace.id(&self.namespaces)
    }

    /// The hit path: a fresh entry under `key` that may be served to a read running in
    /// `ctx`, counted as a hit with its latency, and whether this hit should refresh it
    /// ahead of its expiry. With the origin `Lost`, an entry past its TTL (kept for
    /// `serve_stale`) is served too, and counted; one a write invalidated never is.
    pub fn lookup(
        &self,
        scope: &Scope,
        key: &[u8],
        started: Instant,
        ctx: ReadContext,
        link: OriginLink,
    ) -> Option<Hit> {
        let entry = self.store.get(key)?;
        let stale = entry.is_expired(started);
        if stale && link == OriginLink::Up {
            return None;
        }
        let policy = entry.template.txn_policy(scope.cache.transactions);
        if !ctx
            .access(policy, scope.cache.classifier.dialect())
            .may_serve()
        {
            return None;
        }
        let m = &scope.cache.metrics;
        m.hits.fetch_add(1, Ordering::Relaxed);
        if stale {
            m.stale_served.fetch_add(1, Ordering::Relaxed);
        }
        if ctx.in_transaction() {
            m.hits_in_transaction.fetch_add(1, Ordering::Relaxed);
        }
        m.hit_latency.record(started.elapsed());
        entry.template.on_hit();
        let refresh = entry.on_hit(started).then(|| RefreshClaim {
            entry: entry.clone(),
            used: false,
        });
        Some(Hit { entry, refresh })
    }

    /// Before filling `key`: leads its fill (the guard is held while filling), or, if
    /// another session is filling it already, waits (bounded) until that one is done
    /// and returns `None`: the caller then looks the key up again.
    pub async fn lead_or_follow(&self, key: &[u8]) -> Option<FlightGuard> {
        self.flights.lead_or_wait(key).await
    }

    /// A ticket to refresh an entry ahead of its expiry, unless its template is paused.
    pub fn refresh_ticket(&self, scope: &Scope, mut claim: RefreshClaim) -> Option<FillTicket> {
        claim.used = true;
        let entry = &*claim.entry;
        let now = Instant::now();
        let state = entry.template.ttl_state();
        if !state.cacheable(now) || scope.cache.mode == crate::config::CacheMode::Off {
            return None;
        }
        entry.template.refreshes.fetch_add(1, Ordering::Relaxed);
        scope
            .cache
            .metrics
            .refreshes
            .fetch_add(1, Ordering::Relaxed);
        Some(FillTicket {
            snapshot: entry.snapshot.renewed(),
            // A rule's TTL stays; a learned one is what the template has learned now.
            ttl: if entry.pinned {
                Ttl::Pinned(entry.ttl)
            } else {
                Ttl::Learned(state.ttl)
            },
            template: entry.template.clone(),
            started: now,
            shared_deps: None,
            admission: Admission::Always,
        })
    }

    /// Records a fill that ended without a storable result.
    pub fn abandon_fill(&self, scope: &Scope, outcome: FillOutcome) {
        scope.cache.metrics.fill(outcome);
    }

    /// Applies a write's invalidations. Called before its acknowledgement is passed on;
    /// with a cluster, the acknowledgement waits for the returned recording too.
    #[must_use = "the acknowledgement must wait for the cluster's recording"]
    pub fn apply(&self, scope: &Scope, effects: &Effects) -> Option<Recording> {
        // Shared first: the result tier stops reading here before the counters move.
        let recording = self
            .cluster
            .as_ref()
            .and_then(|c| c.share(&scope.cache.id, &scope.db_name, effects));
        let m = &scope.cache.metrics;
        if effects.schema_change {
            scope.db.bump_schema();
            m.invalidation(InvalidationScope::Database);
        } else if effects.whole_database {
            scope.db.bump_all();
            m.invalidation(InvalidationScope::Database);
        }
        if !effects.tables.is_empty() {
            scope.db.bump_tables(effects.tables.iter().map(|t| &**t));
            m.invalidation(InvalidationScope::Table);
        }
        recording
    }

    /// Remembers catalog answers for a namespace, under `asked_at`, the schema epoch
    /// read before the question was sent: answers given before a schema change
    /// (DDL through wirecache while the question was out) are never taken for
    /// answers after it.
    pub fn learn(&self, scope: &Scope, asked_at: u64, facts: Vec<(FactKey, Fact)>) {
        self.knowledge.learn(scope.namespace, asked_at, facts);
    }
}
