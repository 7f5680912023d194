//! The `[cluster]` section: several instances sharing invalidations through
//! Redis/Valkey (design §10). Absent (or `url` empty): the instance is alone.
//! The URL's password and `password` are never printed or logged.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};
use toml::Value;

use super::kinds::{Bool, Dur, FilePath, Kind, Opt, Positive, Size, text};
use super::read::Ctx;
use super::types::ClusterMode;

/// `cluster.prefix` when absent.
pub const DEFAULT_PREFIX: &str = "wirecache";
/// `cluster.ack_timeout` when absent.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// `cluster.stale_window` when absent.
pub const DEFAULT_STALE_WINDOW: Duration = Duration::from_secs(1);
/// `cluster.l2_max_entry_size` when absent.
pub const DEFAULT_L2_MAX_ENTRY_SIZE: u64 = 1 << 20;
/// `cluster.l2_max_ttl` when absent.
pub const DEFAULT_L2_MAX_TTL: Duration = Duration::from_secs(300);
/// `cluster.l2_timeout` when absent.
pub const DEFAULT_L2_TIMEOUT: Duration = Duration::from_millis(20);

/// The section as written; every key optional (`url` decides whether it is on).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct ClusterSection {
    #[serde(with = "Opt::<RedisUrl>")]
    pub url: Option<String>,
    #[serde(with = "Opt::<Name>")]
    pub username: Option<String>,
    #[serde(with = "Opt::<Secret>")]
    pub password: Option<String>,
    #[serde(with = "Opt::<Name>")]
    pub instance: Option<String>,
    pub mode: ClusterMode,
    #[serde(with = "Opt::<Name>")]
    pub prefix: Option<String>,
    #[serde(with = "Opt::<Positive>")]
    pub ack_timeout: Option<Duration>,
    #[serde(with = "Opt::<Dur>")]
    pub stale_window: Option<Duration>,
    #[serde(with = "Opt::<FilePath>")]
    pub tls_ca_file: Option<PathBuf>,
    #[serde(with = "Opt::<Bool>")]
    pub l2: Option<bool>,
    #[serde(with = "Opt::<Size>")]
    pub l2_max_entry_size: Option<u64>,
    #[serde(with = "Opt::<Positive>")]
    pub l2_max_ttl: Option<Duration>,
    #[serde(with = "Opt::<Positive>")]
    pub l2_timeout: Option<Duration>,
}

/// The cluster bus settings, once checked. Neither `Debug` nor `Serialize` shows a
/// password.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ClusterSettings {
    /// `redis://` or `rediss://` (TLS), as ElastiCache gives it.
    #[serde(serialize_with = "redacted_url")]
    pub url: String,
    /// ACL user; overrides the URL's.
    pub username: Option<String>,
    /// AUTH password; overrides the URL's.
    #[serde(serialize_with = "redacted")]
    pub password: Option<String>,
    /// This instance's name on the bus; `None`: host name and process ID.
    pub instance: Option<String>,
    pub mode: ClusterMode,
    /// Prefix of every key and channel, so clusters can share one Redis.
    pub prefix: String,
    /// How long a write's acknowledgement waits for its invalidation to be recorded.
    #[serde(with = "Positive")]
    pub ack_timeout: Duration,
    /// `bounded`: how long hits go on while the bus is down.
    #[serde(with = "Dur")]
    pub stale_window: Duration,
    /// `rediss://`: PEM CA certificates to verify the server with; `None`: the
    /// system's store (which verifies ElastiCache).
    pub tls_ca_file: Option<PathBuf>,
    /// The shared result tier: results also kept in Redis.
    pub l2: bool,
    /// Largest entry (encoded: key, generations and result) written to the tier.
    #[serde(with = "Size")]
    pub l2_max_entry_size: u64,
    /// Longest an entry lives in the tier (its own TTL if shorter).
    #[serde(with = "Positive")]
    pub l2_max_ttl: Duration,
    /// How long a miss waits for the tier before it goes to the origin.
    #[serde(with = "Positive")]
    pub l2_timeout: Duration,
}

impl fmt::Debug for ClusterSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterSettings")
            .field("url", &redact_url(&self.url))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("instance", &self.instance)
            .field("mode", &self.mode)
            .field("prefix", &self.prefix)
            .field("ack_timeout", &self.ack_timeout)
            .field("stale_window", &self.stale_window)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("l2", &self.l2)
            .field("l2_max_entry_size", &self.l2_max_entry_size)
            .field("l2_max_ttl", &self.l2_max_ttl)
            .field("l2_timeout", &self.l2_timeout)
            .finish()
    }
}

/// The checked settings, or `None` when the section is absent or `url` is empty;
/// keys given without a URL are reported.
pub(super) fn settings(s: ClusterSection, ctx: &mut Ctx) -> Option<ClusterSettings> {
    let Some(url) = s.url.filter(|u| !u.is_empty()) else {
        let keys = [
            "username",
            "password",
            "instance",
            "mode",
            "prefix",
            "tls_ca_file",
            "l2",
            "l2_max_entry_size",
            "l2_max_ttl",
            "l2_timeout",
        ];
        if !ctx.is_invalid("cluster.url")
            && let Some(k) = keys.iter().find(|k| ctx.given(&format!("cluster.{k}")))
        {
            let message = "set cluster.url as well (without it there is no cluster)";
            ctx.invalid(&format!("cluster.{k}"), message.to_owned());
        }
        return None;
    };
    Some(ClusterSettings {
        url,
        username: s.username,
        password: s.password,
        instance: s.instance,
        mode: s.mode,
        prefix: s.prefix.unwrap_or_else(|| DEFAULT_PREFIX.to_owned()),
        ack_timeout: s.ack_timeout.unwrap_or(DEFAULT_ACK_TIMEOUT),
        stale_window: s.stale_window.unwrap_or(DEFAULT_STALE_WINDOW),
        tls_ca_file: s.tls_ca_file,
        l2: s.l2.unwrap_or(false),
        l2_max_entry_size: s.l2_max_entry_size.unwrap_or(DEFAULT_L2_MAX_ENTRY_SIZE),
        l2_max_ttl: s.l2_max_ttl.unwrap_or(DEFAULT_L2_MAX_TTL),
        l2_timeout: s.l2_timeout.unwrap_or(DEFAULT_L2_TIMEOUT),
    })
}

/// `url` with its password, if any, replaced by `<redacted>`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The last '@' ends the user information, even if a password holds '/' or '@'.
    match rest.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:<redacted>@{host}")
        }
        _ => url.to_owned(),
    }
}

fn redacted_url<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(url))
}

fn redacted<S: Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    v.as_ref().map(|_| "<redacted>").serialize(s)
}

/// A Redis/Valkey URL: `redis://` or `rediss://` (TLS), with a host; "" turns the
/// cluster off.
pub(super) struct RedisUrl;

impl Kind for RedisUrl {
    type T = String;
    fn expected() -> String {
        "a URL string such as \"rediss://host:6379\"".to_owned()
    }
    fn read(v: &Value) -> Result<String, String> {
        let s = text(v, &Self::expected())?.trim();
        if s.is_empty() {
            return Ok(String::new());
        }
        let shown = redact_url(s);
        let scheme = s.split_once("://").map(|(scheme, _)| scheme);
        if !matches!(scheme, Some("redis" | "rediss" | "valkey" | "valkeys")) {
            return Err(format!(
                "invalid URL {shown:?}: expected redis:// or rediss:// (TLS)"
            ));
        }
        match redis::IntoConnectionInfo::into_connection_info(s) {
            Ok(_) => Ok(s.to_owned()),
            Err(_) => Err(format!(
                "invalid URL {shown:?}: expected redis://[user[:password]@]host[:port][/db]"
            )),
        }
    }
    fn write(v: &String) -> impl Serialize {
        redact_url(v)
    }
}

/// A name on the bus (instance, prefix, ACL user): 1 to 128 printable ASCII
/// characters without spaces.
pub(super) struct Name;

impl Kind for Name {
    type T = String;
    fn expected() -> String {
        "a name string".to_owned()
    }
    fn read(v: &Value) -> Result<String, String> {
        let s = text(v, &Self::expected())?;
        let ok = |c: char| c.is_ascii_graphic();
        match s {
            "" => Err("invalid name \"\": empty".to_owned()),
            _ if s.len() > 128 => Err(format!("invalid name {s:?}: longer than 128 characters")),
            _ if !s.chars().all(ok) => Err(format!(
                "invalid name {s:?}: only printable ASCII without spaces"
            )),
            _ => Ok(s.to_owned()),
        }
    }
    fn write(v: &String) -> impl Serialize {
        v.clone()
    }
}

/// A password: never empty, always written redacted.
pub(super) struct Secret;

impl Kind for Secret {
    type T = String;
    fn expected() -> String {
        "a string".to_owned()
    }
    fn read(v: &Value) -> Result<String, String> {
        match text(v, &Self::expected())? {
            "" => Err("empty password (omit the key for none)".to_owned()),
            s => Ok(s.to_owned()),
        }
    }
    fn write(_v: &String) -> impl Serialize {
        "<redacted>"
    }
}
