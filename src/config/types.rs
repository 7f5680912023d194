//! The typed configuration the rest of wirecache reads, with its defaults.
//! `Listen`, `CacheSettings`, `AdminSettings` and `LogSettings` are also the
//! schema of their sections; the enums are read as one of their names.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use toml::Value;

use super::kinds::{Address, Count, Dur, Kind, Opt, Positive, Size, Token, or_list, text};
use super::limits::LimitSettings;
use super::rules::RuleDef;

/// One kibibyte.
pub const KIB: u64 = 1024;
/// One mebibyte.
pub const MIB: u64 = 1024 * KIB;
/// One gibibyte.
pub const GIB: u64 = 1024 * MIB;
/// `cache.max_memory` when absent.
pub const DEFAULT_MAX_MEMORY: u64 = 512 * MIB;
/// `cache.max_entry_size` when absent.
pub const DEFAULT_MAX_ENTRY_SIZE: u64 = 4 * MIB;
/// `cache.default_ttl` when absent.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
/// `cache.max_connections` when absent.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// `cache.shutdown_grace` when absent: inside the 30 s that ECS and Kubernetes wait
/// between SIGTERM and SIGKILL by default.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(25);
/// `cache.min_ttl` when absent.
pub const DEFAULT_MIN_TTL: Duration = Duration::from_secs(1);
/// `cache.max_ttl` when absent.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(600);

/// The whole, validated configuration; it serializes to the file's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Config {
    pub listen: Listen,
    pub cache: CacheSettings,
    pub admin: AdminSettings,
    pub caches: Vec<CacheDef>,
    /// `[[rules]]` in the order written (file entries, then environment ones).
    pub rules: Vec<RuleDef>,
    pub log: LogSettings,
    pub limits: LimitSettings,
    pub tls: TlsSettings,
    /// `[cluster]`: `None` when absent, the instance is alone.
    pub cluster: Option<super::cluster::ClusterSettings>,
}

impl Config {
    /// The cache with exactly this ID.
    pub fn cache(&self, id: &str) -> Option<&CacheDef> {
        self.caches.iter().find(|c| c.id == id)
    }

    /// The cache marked `default = true`, if any (validation allows at most one).
    pub fn default_cache(&self) -> Option<&CacheDef> {
        self.caches.iter().find(|c| c.default)
    }
}

/// Listener addresses (`[listen]`); `None` means that listener is not started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Listen {
    #[serde(with = "Address")]
    pub mysql: Option<SocketAddr>,
    #[serde(with = "Address")]
    pub mariadb: Option<SocketAddr>,
    #[serde(with = "Address")]
    pub postgres: Option<SocketAddr>,
    #[serde(with = "Address")]
    pub mssql: Option<SocketAddr>,
    #[serde(with = "Address")]
    pub admin: Option<SocketAddr>,
}

impl Listen {
    /// The standard ports on 0.0.0.0, used when the `[listen]` section is absent.
    pub fn standard() -> Self {
        let any = |port| Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
        let (mysql, mariadb, postgres, mssql, admin) =
            (any(9000), any(9001), any(9010), any(9020), any(10000));
        Listen {
            mysql,
            mariadb,
            postgres,
            mssql,
            admin,
        }
    }

    /// No listener at all.
    pub fn none() -> Self {
        Listen::default()
    }

    /// The listener that serves clients of `protocol`.
    pub fn for_protocol(&self, protocol: Protocol) -> Option<SocketAddr> {
        match protocol {
            Protocol::Postgres => self.postgres,
            Protocol::MySql => self.mysql,
            Protocol::MariaDb => self.mariadb,
            Protocol::MsSql => self.mssql,
        }
    }
}

/// The `[cache]` section: memory budget and default lifetime of entries.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// Bytes the cache may hold in total.
    #[serde(with = "Size")]
    pub max_memory: u64,
    /// Largest single result stored, in bytes; larger results are streamed, not stored.
    #[serde(with = "Size")]
    pub max_entry_size: u64,
    /// TTL of an entry whose cache sets none and whose template has not been learned.
    #[serde(with = "Dur")]
    pub default_ttl: Duration,
    /// Client connections accepted at once, across all listeners.
    #[serde(with = "Count")]
    pub max_connections: usize,
    /// Shortest TTL learning may give a template; never zero, at most `max_ttl`.
    #[serde(with = "Positive")]
    pub min_ttl: Duration,
    /// Longest TTL learning may give a template; never zero.
    #[serde(with = "Positive")]
    pub max_ttl: Duration,
    /// How long a shutdown waits for open sessions to reach a point where they can be
    /// closed (between requests, outside a transaction); zero closes them at once.
    #[serde(with = "Dur")]
    pub shutdown_grace: Duration,
    /// How long past its TTL an entry may answer a session without origin (0: never).
    #[serde(with = "Dur")]
    pub serve_stale: Duration,
    /// How long connecting to an origin (TCP, and its TLS) may take (default 10 s).
    #[serde(with = "Positive")]
    pub origin_connect_timeout: Duration,
    /// How long a client may take from connecting to being logged in (default 30 s).
    #[serde(with = "Positive")]
    pub login_timeout: Duration,
    /// How long an origin query may run before it is cancelled (0: no limit).
    #[serde(with = "Dur")]
    pub query_timeout: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            max_memory: DEFAULT_MAX_MEMORY,
            max_entry_size: DEFAULT_MAX_ENTRY_SIZE,
            default_ttl: DEFAULT_TTL,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            min_ttl: DEFAULT_MIN_TTL,
            max_ttl: DEFAULT_MAX_TTL,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            serve_stale: Duration::ZERO,
            origin_connect_timeout: Duration::from_secs(10),
            login_timeout: Duration::from_secs(30),
            query_timeout: Duration::ZERO,
        }
    }
}

/// The `[admin]` section. Neither `Debug` nor `Serialize` shows the token.
#[derive(Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSettings {
    /// Bearer token for mutating admin endpoints; `None`: they are refused.
    #[serde(with = "Opt::<Token>")]
    pub token: Option<String>,
}

impl fmt::Debug for AdminSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = self.token.as_ref().map(|_| "<redacted>");
        f.debug_struct("AdminSettings")
            .field("token", &token)
            .finish()
    }
}

/// The `[log]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    pub level: LogLevel,
    pub format: LogFormat,
}

/// The `[tls]` section: TLS towards clients (design §6).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TlsSettings {
    pub client: ClientTls,
    /// PEM certificate chain (leaf first) and its key; both or neither. Neither: a
    /// self-signed certificate made at start-up.
    #[serde(flatten, serialize_with = "super::print::cert_files")]
    pub cert_files: Option<(PathBuf, PathBuf)>,
    /// Accept a password wirecache must see in clear (MD5 re-hashing, cleartext
    /// requests) from a client whose connection is not encrypted. Unsafe.
    pub allow_cleartext_passwords: bool,
}

/// One `[[caches]]` entry: an origin database reachable under a cache ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheDef {
    /// ASCII letters, digits, `-` and `_`; clients put it in front of their user name.
    pub id: String,
    pub protocol: Protocol,
    /// `host:port` of the origin, kept as written (the host may be a DNS name).
    pub origin: String,
    /// Serves clients that send no cache ID.
    pub default: bool,
    /// Overrides `cache.default_ttl` for this cache.
    #[serde(with = "Opt::<Dur>")]
    pub ttl: Option<Duration>,
    /// What this cache stores.
    pub mode: CacheMode,
    /// Which reads inside transactions it may answer.
    pub transactions: TxnPolicy,
    /// Overrides `cache.serve_stale` for this cache.
    #[serde(with = "Opt::<Dur>")]
    pub serve_stale: Option<Duration>,
    /// TLS towards this cache's origin.
    #[serde(flatten)]
    pub tls: OriginTlsSettings,
    /// Pooled mode (`pool`, logins, limits).
    #[serde(flatten)]
    pub pool: super::pool::PoolSettings,
}

/// One cache's origin TLS settings (`tls`, `tls_ca_file`, `tls_server_name`,
/// `tls_client_cert` and `tls_client_key` of a `[[caches]]` entry).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OriginTlsSettings {
    #[serde(rename = "tls")]
    pub mode: OriginTlsMode,
    /// PEM CA certificates (for example the AWS RDS bundle); `None`: the system's store.
    #[serde(rename = "tls_ca_file")]
    pub ca_file: Option<PathBuf>,
    /// Name to verify and send as SNI; `None`: the origin's host.
    #[serde(rename = "tls_server_name")]
    pub server_name: Option<String>,
    /// Client certificate chain and key (PEM), for origins that ask for one.
    #[serde(flatten, serialize_with = "super::print::client_cert")]
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// An enum written as one of its names (any ASCII case), with `ALL`, `as_str`,
/// `parse`, `Display` and serde; `$unknown` formats an unknown name with the
/// accepted ones.
macro_rules! keywords {
    ($(#[$attr:meta])* pub enum $ty:ident, $unknown:literal {
        $($(#[$vattr:meta])* $variant:ident = $name:literal,)+
    }) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $ty {
            $($(#[$vattr])* $variant,)+
        }

        impl $ty {
            pub const ALL: [$ty; [$($name),+].len()] = [$($ty::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            /// Parses a name, ignoring ASCII case.
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.into_iter().find(|v| v.as_str().eq_ignore_ascii_case(s))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let (value, names) = (Value::deserialize(d)?, [$($name),+]);
                let s = text(&value, &or_list(&names.map(|n| format!("\"{n}\""))));
                let s = s.map_err(serde::de::Error::custom)?;
                let unknown = || format!($unknown, s, or_list(&names));
                Self::parse(s).ok_or_else(|| serde::de::Error::custom(unknown()))
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

keywords! {
    /// Whether clients may, or must, use TLS (`tls.client`).
    #[derive(Default)]
    pub enum ClientTls, "invalid TLS mode {:?}: expected {}" {
        /// TLS is never offered.
        Off = "off",
        /// Offered; plaintext clients are served too.
        #[default]
        Allow = "allow",
        /// Plaintext clients are refused with the protocol's own error.
        Require = "require",
    }
}

keywords! {
    /// How a cache's origin connection uses TLS (`tls` of a `[[caches]]` entry),
    /// as libpq names the modes.
    #[derive(Default, Hash)]
    pub enum OriginTlsMode, "invalid TLS mode {:?}: expected {}" {
        Disable = "disable",
        /// TLS if the origin offers it, plaintext otherwise, nothing verified
        /// (libpq's default).
        #[default]
        Prefer = "prefer",
        Require = "require",
        VerifyCa = "verify-ca",
        VerifyFull = "verify-full",
    }
}

impl OriginTlsMode {
    /// Whether a plaintext origin connection is acceptable.
    pub fn allows_plaintext(self) -> bool {
        matches!(self, Self::Disable | Self::Prefer)
    }
}

keywords! {
    /// Most verbose level logged.
    #[derive(Default)]
    pub enum LogLevel, "invalid log level {:?}: expected {}" {
        Error = "error",
        Warn = "warn",
        #[default]
        Info = "info",
        Debug = "debug",
        Trace = "trace",
    }
}

keywords! {
    /// How log lines are written.
    #[derive(Default)]
    pub enum LogFormat, "invalid log format {:?}: expected {}" {
        #[default]
        Text = "text",
        Json = "json",
    }
}

keywords! {
    /// What a cache stores (`mode` of a `[[caches]]` entry).
    #[derive(Default, Hash)]
    pub enum CacheMode, "invalid cache mode {:?}: expected {}" {
        /// Every read the classifier accepts, with learned TTLs; rules pin or forbid.
        #[default]
        Auto = "auto",
        /// Only reads that a rule with action `cache` or `always` matches.
        Manual = "manual",
        /// Nothing: every query goes to the origin.
        Off = "off",
    }
}

keywords! {
    /// Which reads inside a transaction a cache may answer (`transactions` of a
    /// `[[caches]]` entry or of a rule): until the transaction's first write, and
    /// only at the isolation levels named.
    #[derive(Default, Hash)]
    pub enum TxnPolicy, "invalid transactions policy {:?}: expected {}" {
        /// None: every read in a transaction goes to the origin.
        Never = "never",
        /// READ COMMITTED (and READ UNCOMMITTED) transactions, whose every statement
        /// reads the latest committed data anyway.
        #[default]
        ReadCommitted = "read_committed",
        /// Also REPEATABLE READ and SERIALIZABLE ones, whose reads then see the
        /// latest committed data instead of the transaction's snapshot.
        Always = "always",
    }
}

keywords! {
    /// What a cluster promises about writes made through another instance (`cluster.mode`).
    #[derive(Default)]
    pub enum ClusterMode, "invalid cluster mode {:?}: expected {}" {
        /// Another instance may serve the pre-write result for the propagation delay.
        #[default]
        Bounded = "bounded",
        /// No instance serves the pre-write result once the write is acknowledged.
        Strict = "strict",
    }
}

keywords! {
    /// The wire protocol an origin speaks.
    #[derive(Hash)]
    pub enum Protocol, "unknown protocol {:?} (expected {})" {
        Postgres = "postgres",
        MySql = "mysql",
        MariaDb = "mariadb",
        MsSql = "mssql",
    }
}
