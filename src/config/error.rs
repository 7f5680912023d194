//! Configuration errors: one [`ConfigError`] per problem, each naming the key
//! path (or environment variable) at fault, gathered into [`ConfigErrors`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::size::format_duration;
use super::types::Protocol;

/// One problem with the configuration. `path` is a key path such as
/// `caches[1].protocol`, followed by `(from WIRECACHE_…)` when the value came
/// from the environment.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read config file: {source}", path = path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: unknown key (expected one of: {})", known.join(", "))]
    UnknownKey {
        path: String,
        known: &'static [&'static str],
    },
    #[error("{path}: missing key")]
    MissingKey { path: String },
    #[error("{path}: expected {expected}, found {found}")]
    WrongType {
        path: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{path}: invalid {kind} {value:?}: {reason}")]
    InvalidValue {
        path: String,
        kind: &'static str,
        value: String,
        reason: String,
    },
    #[error("{path}: unknown protocol {value:?} (expected postgres, mysql, mariadb or mssql)")]
    UnknownProtocol { path: String, value: String },
    #[error("{path}: invalid cache ID {id:?}: {reason}")]
    InvalidCacheId {
        path: String,
        id: String,
        reason: &'static str,
    },
    #[error("{path}: origin {origin:?} is not host:port: {reason}")]
    InvalidOrigin {
        path: String,
        origin: String,
        reason: &'static str,
    },
    #[error(
        "caches: no caches defined (add a [[caches]] section or WIRECACHE_CACHES_0_* variables)"
    )]
    NoCaches,
    #[error("{path}: duplicate cache ID {id:?} (already used by {first})")]
    DuplicateCacheId {
        path: String,
        id: String,
        first: String,
    },
    #[error("{path}: more than one default cache ({first} is already the default)")]
    MultipleDefaults { path: String, first: String },
    #[error(
        "cache.max_entry_size: {max_entry_size} bytes is larger than cache.max_memory ({max_memory} bytes)"
    )]
    EntryLargerThanMemory {
        max_entry_size: u64,
        max_memory: u64,
    },
    #[error(
        "{path}: {} is larger than cache.max_ttl ({})",
        format_duration(*min_ttl),
        format_duration(*max_ttl)
    )]
    MinTtlAboveMax {
        path: String,
        min_ttl: Duration,
        max_ttl: Duration,
    },
    #[error("{path}: protocol {protocol} has no listener (set listen.{protocol})")]
    NoListener { path: String, protocol: Protocol },
    #[error("{var}: unknown environment variable (no such configuration key)")]
    UnknownEnvVar { var: String },
    #[error("{var}: cache index {index} leaves a gap (the next new cache is index {next})")]
    EnvCacheGap {
        var: String,
        index: usize,
        next: usize,
    },
    #[error("{var}: rule index {index} leaves a gap (the next new rule is index {next})")]
    EnvRuleGap {
        var: String,
        index: usize,
        next: usize,
    },
    /// One of two keys that go together (a certificate and its key) without the other.
    #[error("{path}: set {missing} as well (a certificate needs its private key)")]
    HalfPair { path: String, missing: String },
    #[error("{path}: {}", super::rules::NO_MATCHER)]
    NoRuleMatcher { path: String },
    #[error("{path}: no cache has ID {id:?}")]
    UnknownRuleCache { path: String, id: String },
    /// `action` and `ttl` of a rule that do not fit together (or an unknown action).
    #[error("{path}: {reason}")]
    InvalidRuleAction { path: String, reason: String },
}

/// Every problem found in one load; never empty when returned as an error.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }
}

/// One problem per line.
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
