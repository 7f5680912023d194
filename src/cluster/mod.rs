//! Several instances, one truth (design §10): table and database generations shared
//! through Redis/Valkey (ElastiCache), so a write through one instance invalidates
//! everywhere.
//!
//! - [`wire`]: key and channel names, the bump message;
//! - `publish`: a write's bump recorded in Redis (one Lua script: generation hash,
//!   sequence, publish) before its acknowledgement reaches the writer; bumps that
//!   could not be recorded are owed and retried;
//! - `subscribe`: the subscription that applies other instances' bumps to the local
//!   counters, re-reading the shared generations whenever messages may have been
//!   missed (resubscribe, sequence gap, new epoch, lag);
//! - `state`: the bus's state and figures;
//! - [`l2`] (with `l2_codec`, `l2_view`, `l2_figures`, `l2_write`): the optional shared result
//!   tier, results kept in Redis with the shared generations they were read at.
//!
//! Modes: `bounded` serves local hits while the bus is up (and for `stale_window`
//! after it went down); `strict` asks Redis for the current sequence before a client
//! request's hits and waits until this instance has applied every bump up to it.

pub mod l2;
mod l2_codec;
mod l2_figures;
mod l2_view;
mod l2_write;
mod publish;
mod state;
mod subscribe;
pub mod wire;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::{oneshot, watch};

pub use l2::{Found, L2, L2Limits, Pending, Want};
pub use l2_figures::{L2Drop, L2Error, L2Figures, L2Miss};
pub use state::{BusState, Figures, Resync};

use crate::config::{ClusterMode, ClusterSettings};
use crate::engine::Effects;
use crate::invalidate::{GenerationRegistry, table_key};

/// How long a strict hit waits for Redis's answer and for this instance to catch up.
pub const GATE_TIMEOUT: Duration = Duration::from_millis(250);

/// Why the bus could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{0}")]
    Client(#[from] redis::RedisError),
    #[error("cannot read cluster.tls_ca_file {}: {source}", path.display())]
    CaFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// What this instance has applied: Redis's epoch and the last sequence number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub epoch: Option<Arc<str>>,
    pub seq: u64,
}

/// The cluster bus of one process. Shared behind an `Arc`; tasks hold clones.
pub struct Cluster {
    settings: ClusterSettings,
    instance: Arc<str>,
    names: wire::Names,
    client: redis::Client,
    /// Set once Redis was first reached; reconnects by itself afterwards.
    conn: RwLock<Option<ConnectionManager>>,
    registry: Arc<GenerationRegistry>,
    applied: watch::Sender<Applied>,
    owed: publish::Owed,
    /// The shared generations as applied here (what the result tier checks against).
    view: l2_view::View,
    /// The shared result tier, with `cluster.l2`.
    l2: Option<L2>,
    pub figures: Figures,
}

/// A bump being recorded: resolves `true` once it is in Redis.
pub type Recording = oneshot::Receiver<bool>;

impl Cluster {
    /// Connects in the background (an unreachable Redis does not stop the start) and
    /// starts the subscription. Fails only on a URL the client refuses or a CA file
    /// that cannot be read.
    pub fn start(
        settings: &ClusterSettings,
        registry: Arc<GenerationRegistry>,
    ) -> Result<Arc<Cluster>, ClusterError> {
        let info = connection_info(settings)?;
        let client = match &settings.tls_ca_file {
            None => redis::Client::open(info)?,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|source| ClusterError::CaFile {
                    path: path.clone(),
                    source,
                })?;
                let certs = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                };
                redis::Client::build_with_tls(info, certs)?
            }
        };
        let instance: Arc<str> = match &settings.instance {
            Some(name) => name.as_str().into(),
            None => default_instance().into(),
        };
        let (l2, queue) = match settings.l2 {
            true => {
                let (l2, rx) = L2::new(&settings.prefix, l2_limits(settings));
                (Some(l2), Some(rx))
            }
            false => (None, None),
        };
        let cluster = Arc::new(Cluster {
            names: wire::Names::new(&settings.prefix),
            settings: settings.clone(),
            instance,
            client,
            conn: RwLock::new(None),
            registry,
            applied: watch::Sender::new(Applied::default()),
            owed: publish::Owed::default(),
            view: l2_view::View::default(),
            l2,
            figures: Figures::default(),
        });
        tokio::spawn(subscribe::run(Arc::downgrade(&cluster)));
        tokio::spawn(publish::repay(Arc::downgrade(&cluster)));
        if let Some(rx) = queue {
            tokio::spawn(l2_write::run(Arc::downgrade(&cluster), rx));
        }
        tracing::info!(
            url = %crate::config::redact_url(&settings.url),
            instance = %cluster.instance,
            mode = settings.mode.as_str(),
            "cluster bus starting"
        );
        Ok(cluster)
    }

    pub fn mode(&self) -> ClusterMode {
        self.settings.mode
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub fn ack_timeout(&self) -> Duration {
        self.settings.ack_timeout
    }

    pub fn state(&self) -> BusState {
        self.figures.state()
    }

    fn connection(&self) -> Option<ConnectionManager> {
        self.conn.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records a write's invalidation of `cache`/`db` in Redis; `None` if it moves
    /// nothing. Call it before the local counters move: from then until the bump is
    /// back in this instance's view, the shared result tier is not read here.
    pub fn share(self: &Arc<Self>, cache: &str, db: &str, effects: &Effects) -> Option<Recording> {
        let fields = fields(effects);
        if fields.is_empty() {
            return None;
        }
        self.view.own_started();
        Some(publish::spawn(self.clone(), cache, db, fields))
    }

    /// Bounded mode: may local entries be served now? While the bus is up, and for
    /// `stale_window` after it went down.
    pub fn bounded_allows_hits(&self) -> bool {
        match self.figures.state() {
            BusState::Up => true,
            BusState::Down => self.figures.down_for() < self.settings.stale_window,
            BusState::Connecting => false,
        }
    }

    /// Strict mode: once this returns true, every bump recorded in Redis before it was
    /// called has been applied here, so a local hit checked afterwards is current.
    pub async fn strict_gate(&self) -> bool {
        let ok = self.state() == BusState::Up && self.caught_up().await;
        if !ok {
            self.figures
                .strict_refusals
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        ok
    }

    async fn caught_up(&self) -> bool {
        let Some(mut conn) = self.connection() else {
            return false;
        };
        let mut cmd = redis::cmd("MGET");
        cmd.arg(&self.names.epoch).arg(&self.names.seq);
        let asked = cmd.query_async::<(Option<String>, Option<u64>)>(&mut conn);
        let Ok(Ok((Some(epoch), seq))) = tokio::time::timeout(GATE_TIMEOUT, asked).await else {
            return false;
        };
        let seq = seq.unwrap_or(0);
        let mut rx = self.applied.subscribe();
        let reached = rx.wait_for(|a| a.epoch.as_deref() == Some(&*epoch) && a.seq >= seq);
        matches!(tokio::time::timeout(GATE_TIMEOUT, reached).await, Ok(Ok(_)))
    }

    /// What `/readyz` adds: the bus's state.
    pub fn readiness(&self) -> String {
        let state = self.state();
        match state {
            BusState::Up => format!("cluster bus up ({})", self.settings.mode.as_str()),
            _ => format!(
                "cluster bus {} ({}): {}",
                state.as_str(),
                self.settings.mode.as_str(),
                match self.settings.mode {
                    ClusterMode::Strict => "hits go to the origin until it is back",
                    ClusterMode::Bounded => "hits stop once stale_window has passed",
                }
            ),
        }
    }

    /// Applies moved generation `fields` of `cache`/`db` to the local counters.
    fn apply_local(&self, cache: &str, db: &str, fields: &[String]) {
        let Some(gens) = self.registry.existing(cache, db) else {
            return;
        };
        for f in fields {
            match f.as_str() {
                wire::SCHEMA => gens.bump_schema(),
                wire::WHOLE => gens.bump_all(),
                other => match other.strip_prefix(wire::TABLE) {
                    Some(table) => gens.bump_tables([table]),
                    None => gens.bump_all(),
                },
            }
        }
    }

    /// Every local database's entries and catalog facts are void.
    fn void_all(&self) {
        for gens in self.registry.all() {
            gens.bump_schema();
        }
    }
}

/// The generation fields a write moves.
pub fn fields(effects: &Effects) -> Vec<String> {
    let mut f = Vec::new();
    if effects.schema_change {
        f.push(wire::SCHEMA.to_owned());
    } else if effects.whole_database {
        f.push(wire::WHOLE.to_owned());
    }
    for t in &effects.tables {
        f.push(format!("{}{}", wire::TABLE, table_key(t)));
    }
    f
}

/// The result tier's bounds.
fn l2_limits(s: &ClusterSettings) -> L2Limits {
    L2Limits {
        max_entry_size: s.l2_max_entry_size,
        max_ttl: s.l2_max_ttl,
        timeout: s.l2_timeout,
    }
}

/// The URL with `username` and `password` applied over its own.
fn connection_info(s: &ClusterSettings) -> Result<redis::ConnectionInfo, redis::RedisError> {
    let mut info = redis::IntoConnectionInfo::into_connection_info(s.url.as_str())?;
    let mut redis_info = info.redis_settings().clone();
    if let Some(user) = &s.username {
        redis_info = redis_info.set_username(user);
    }
    if let Some(password) = &s.password {
        redis_info = redis_info.set_password(password);
    }
    info = info.set_redis_settings(redis_info);
    Ok(info)
}

/// Host name and process ID.
fn default_instance() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "wirecache".to_owned());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writes_effects_become_generation_fields() {
        let e = Effects {
            tables: vec!["Orders".into(), "items".into()],
            ..Effects::default()
        };
        assert_eq!(fields(&e), ["t:orders", "t:items"]);
        let ddl = Effects {
            schema_change: true,
            whole_database: true,
            ..Effects::default()
        };
        assert_eq!(fields(&ddl), [wire::SCHEMA]);
        assert!(fields(&Effects::default()).is_empty());
    }

    #[test]
    fn urls_are_shown_without_their_password() {
        for (url, shown) in [
            ("redis://:pw@h:1/0", "redis://:<redacted>@h:1/0"),
            ("rediss://u:pw@h:1", "rediss://u:<redacted>@h:1"),
            ("redis://u@h:1", "redis://u@h:1"),
            ("redis://h:1", "redis://h:1"),
            ("redis://u:p/s@s@h:1/2", "redis://u:<redacted>@h:1/2"),
        ] {
            assert_eq!(crate::config::redact_url(url), shown);
        }
    }
}
