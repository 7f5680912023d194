//! Pooled mode of a `[[caches]]` entry: `pool` (`"off"`, the default, `"session"`
//! or `"transaction"`), where the logins wirecache checks itself come from (`auth_file`, a
//! PgBouncer-style userlist; `user` + `password`, which the environment can set as
//! `WIRECACHE_CACHES_<N>_PASSWORD`; `auth_user` + `auth_query` look up users the
//! others do not name), and the pool's limits (`pool_size`,
//! `pool_min_idle`, `pool_max_lifetime`, `pool_idle_timeout`, `pool_queue_timeout`), and
//! under transaction pooling `max_prepared_statements`.
//! The password is never printed: `Debug` and `check-config` show `<redacted>`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use toml::Value;

use super::kinds::{Amount, Count, FilePath, Kind, Opt, Positive, Secret, text};
use super::types::Protocol;

/// `auth_query` when absent (PgBouncer's): `$1` is the user name, as a literal.
pub const DEFAULT_AUTH_QUERY: &str =
    "SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = $1";
/// `pool_size` when absent.
pub const DEFAULT_POOL_SIZE: usize = 20;
/// `pool_max_lifetime` when absent.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(3600);
/// `pool_idle_timeout` when absent.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// `pool_queue_timeout` when absent.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(5);
/// `max_prepared_statements` when absent (PgBouncer's default).
pub const DEFAULT_MAX_PREPARED: usize = 200;

/// How a cache's clients reach its origin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PoolMode {
    /// Pass-through: each client authenticates through wirecache to its own origin
    /// connection.
    #[default]
    Off,
    /// wirecache checks the client's password itself and lends it a pooled origin
    /// connection for the whole session, reset (`DISCARD ALL`) when it is returned.
    Session,
    /// As `Session`, but the origin connection is leased per transaction: a session
    /// holds none while idle, its settings and named prepared statements follow it to
    /// whichever connection it gets, and state that cannot move pins it.
    Transaction,
}

impl PoolMode {
    pub const ALL: [PoolMode; 3] = [PoolMode::Off, PoolMode::Session, PoolMode::Transaction];

    pub fn as_str(self) -> &'static str {
        match self {
            PoolMode::Off => "off",
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
        }
    }
}

impl fmt::Display for PoolMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PoolMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let expected = "\"off\", \"session\" or \"transaction\"";
        let s = text(&value, expected).map_err(serde::de::Error::custom)?;
        let found = PoolMode::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s));
        found.ok_or_else(|| {
            serde::de::Error::custom(format!("invalid pool mode {s:?}: expected {expected}"))
        })
    }
}

impl Serialize for PoolMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One cache's pooled-mode settings, as they are read and printed.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PoolSettings {
    pub pool: PoolMode,
    /// PgBouncer-style userlist: `"user" "secret"` per line, the secret a
    /// `SCRAM-SHA-256$…` verifier or a password.
    #[serde(with = "Opt::<FilePath>")]
    pub auth_file: Option<PathBuf>,
    /// A user whose password is given with `password` (for secrets injected into the
    /// environment).
    pub user: Option<String>,
    #[serde(with = "Opt::<Secret>")]
    pub password: Option<String>,
    /// A user (with a login of its own) that looks up the verifier of a user the
    /// userlist does not name, with `auth_query`.
    pub auth_user: Option<String>,
    /// Returns (name, verifier) of the user `$1`; run as `auth_user`.
    pub auth_query: String,
    /// Origin connections per (user, database) at most.
    #[serde(with = "Count")]
    pub pool_size: usize,
    /// Idle connections kept open per pool once it has been used.
    #[serde(with = "Amount")]
    pub pool_min_idle: usize,
    /// A connection older than this is closed when it is returned.
    #[serde(with = "Positive")]
    pub pool_max_lifetime: Duration,
    /// An idle connection unused this long is closed.
    #[serde(with = "Positive")]
    pub pool_idle_timeout: Duration,
    /// How long a client waits for a connection of a full pool before it is refused.
    #[serde(with = "Positive")]
    pub pool_queue_timeout: Duration,
    /// Transaction pooling: the server-side prepared statements one origin connection
    /// carries at most; past it the least recently used is closed. 0: no limit.
    #[serde(with = "Amount")]
    pub max_prepared_statements: usize,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            pool: PoolMode::Off,
            auth_file: None,
            user: None,
            password: None,
            auth_user: None,
            auth_query: DEFAULT_AUTH_QUERY.to_owned(),
            pool_size: DEFAULT_POOL_SIZE,
            pool_min_idle: 0,
            pool_max_lifetime: DEFAULT_MAX_LIFETIME,
            pool_idle_timeout: DEFAULT_POOL_IDLE_TIMEOUT,
            pool_queue_timeout: DEFAULT_QUEUE_TIMEOUT,
            max_prepared_statements: DEFAULT_MAX_PREPARED,
        }
    }
}

impl fmt::Debug for PoolSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolSettings")
            .field("pool", &self.pool)
            .field("auth_file", &self.auth_file)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("auth_user", &self.auth_user)
            .field("auth_query", &self.auth_query)
            .field("pool_size", &self.pool_size)
            .field("pool_min_idle", &self.pool_min_idle)
            .field("pool_max_lifetime", &self.pool_max_lifetime)
            .field("pool_idle_timeout", &self.pool_idle_timeout)
            .field("pool_queue_timeout", &self.pool_queue_timeout)
            .field("max_prepared_statements", &self.max_prepared_statements)
            .finish()
    }
}

/// An entry's pool settings, defaults filled in.
pub(super) fn settings(e: &super::schema::CacheEntry) -> PoolSettings {
    let d = PoolSettings::default();
    PoolSettings {
        pool: e.pool,
        auth_file: e.auth_file.clone(),
        user: e.user.clone(),
        password: e.password.clone(),
        auth_user: e.auth_user.clone(),
        auth_query: e.auth_query.clone().unwrap_or(d.auth_query),
        pool_size: e.pool_size.unwrap_or(d.pool_size),
        pool_min_idle: e.pool_min_idle.unwrap_or(d.pool_min_idle),
        pool_max_lifetime: e.pool_max_lifetime.unwrap_or(d.pool_max_lifetime),
        pool_idle_timeout: e.pool_idle_timeout.unwrap_or(d.pool_idle_timeout),
        pool_queue_timeout: e.pool_queue_timeout.unwrap_or(d.pool_queue_timeout),
        max_prepared_statements: e
            .max_prepared_statements
            .unwrap_or(d.max_prepared_statements),
    }
}

/// The cross-key checks of one entry's pool settings: `(key, message)` per problem.
/// `protocol`: the cache's; PostgreSQL, MySQL and MariaDB have a pooled mode (per
/// session or per transaction), SQL Server none.
pub(super) fn problems(
    p: &PoolSettings,
    protocol: Option<Protocol>,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if p.user.is_some() != p.password.is_some() {
        let key = if p.user.is_some() { "user" } else { "password" };
        out.push((key, "set user and password together".to_owned()));
    }
    if p.pool == PoolMode::Off {
        return out;
    }
    if protocol == Some(Protocol::MsSql) {
        let message =
            "pooled mode is only available for PostgreSQL, MySQL and MariaDB caches so far"
                .to_owned();
        out.push(("pool", message));
    }
    if p.auth_file.is_none() && p.user.is_none() {
        let message = "pooled mode checks logins itself: set auth_file, or user and password";
        out.push(("pool", message.to_owned()));
    }
    if p.auth_user.is_some() && !p.auth_query.contains("$1") {
        out.push(("auth_query", "must name the user as $1".to_owned()));
    }
    if p.pool_min_idle > p.pool_size {
        out.push(("pool_min_idle", "must not exceed pool_size".to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let p = PoolSettings {
            password: Some("hunter2".to_owned()),
            ..PoolSettings::default()
        };
        let shown = format!("{p:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn pooled_mode_needs_a_source_of_logins() {
        let mut p = PoolSettings {
            pool: PoolMode::Session,
            ..PoolSettings::default()
        };
        assert_eq!(problems(&p, Some(Protocol::Postgres)).len(), 1);
        p.user = Some("app".to_owned());
        assert_eq!(
            problems(&p, Some(Protocol::Postgres))
                .first()
                .map(|(k, _)| *k),
            Some("user")
        );
        p.password = Some("x".to_owned());
        assert!(problems(&p, Some(Protocol::Postgres)).is_empty());
        assert_eq!(
            problems(&p, Some(Protocol::MsSql)).first().map(|(k, _)| *k),
            Some("pool")
        );
        p.pool = PoolMode::Transaction;
        assert!(problems(&p, Some(Protocol::Postgres)).is_empty());
        assert!(problems(&p, Some(Protocol::MySql)).is_empty());
        assert!(problems(&p, Some(Protocol::MariaDb)).is_empty());
        assert_eq!(problems(&p, Some(Protocol::MsSql)).len(), 1);
        p.pool = PoolMode::Session;
        assert!(problems(&p, Some(Protocol::MariaDb)).is_empty());
        p.pool_min_idle = 50;
        assert!(
            problems(&p, Some(Protocol::Postgres))
                .iter()
                .any(|(k, _)| *k == "pool_min_idle")
        );
    }

    const POOLED: &str = r#"
[[caches]]
id = "app"
protocol = "postgres"
origin = "127.0.0.1:5432"
pool = "session"
user = "app"
pool_size = 3
pool_queue_timeout = "2s"
"#;

    #[test]
    fn the_password_comes_from_the_environment_and_is_never_printed() {
        let env = [("WIRECACHE_CACHES_0_PASSWORD", "s3cr3t-from-secrets-manager")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let config = match crate::config::from_str(POOLED, env) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let cache = &config.caches[0];
        assert_eq!(cache.pool.pool, PoolMode::Session);
        assert_eq!(
            cache.pool.password.as_deref(),
            Some("s3cr3t-from-secrets-manager")
        );
        assert_eq!(cache.pool.pool_size, 3);
        assert_eq!(cache.pool.pool_queue_timeout, Duration::from_secs(2));
        assert_eq!(cache.pool.pool_idle_timeout, DEFAULT_POOL_IDLE_TIMEOUT);
        assert_eq!(cache.pool.max_prepared_statements, DEFAULT_MAX_PREPARED);
        let printed = config.to_toml_string();
        assert!(!printed.contains("s3cr3t"), "{printed}");
        assert!(printed.contains("password = \"<redacted>\""), "{printed}");
        assert!(printed.contains("pool = \"session\""), "{printed}");
        assert!(!format!("{config:?}").contains("s3cr3t"));
    }

    #[test]
    fn transaction_pooling_is_read_and_printed() {
        let config = POOLED.replace("\"session\"", "\"Transaction\"");
        let config = config.replace("user = \"app\"", "user = \"app\"\npassword = \"x\"");
        match crate::config::from_str(&config, Vec::new()) {
            Ok(c) => {
                let cache = &c.caches[0];
                assert_eq!(cache.pool.pool, PoolMode::Transaction);
                assert!(c.to_toml_string().contains("pool = \"transaction\""));
            }
            Err(e) => panic!("refused: {e}"),
        }
    }

    #[test]
    fn pooled_mode_without_a_password_is_refused() {
        let errors = match crate::config::from_str(POOLED, Vec::new()) {
            Ok(_) => panic!("accepted a user without a password"),
            Err(e) => e.to_string(),
        };
        assert!(errors.contains("caches[0].user"), "{errors}");
        let bad = POOLED.replace("\"session\"", "\"sometimes\"");
        let errors = crate::config::from_str(&bad, Vec::new())
            .err()
            .map(|e| e.to_string());
        assert!(errors.is_some_and(|e| e.contains("invalid pool mode")));
    }
}
