//! Typed configuration: the TOML file and `WIRECACHE_*` environment overrides,
//! read into [`Config`] with every problem reported at once.
//!
//! - `types.rs`: the structs the rest of wirecache reads, with their defaults;
//!   those whose keys match the file are also the schema of their section;
//! - `schema.rs`: the whole file (`File`), and the entries of `[tls]`,
//!   `[[caches]]` and `[[rules]]` as written;
//! - `kinds.rs`: how each value is read and written (sizes, durations, IDs, …);
//! - [`load()`] / [`from_str()`] (`load.rs`): file → `toml::Table` → `WIRECACHE_*`
//!   overrides, named by the schema → `read.rs` (serde, each key tried alone, so
//!   every problem is found) → `check.rs` (required keys and checks across keys);
//! - `rules.rs`: [`RuleDef`] / [`RuleAction`] and the checks the admin API shares;
//! - [`size`]: "512MiB" and "30s", parsed and printed;
//! - [`ConfigError`] / [`ConfigErrors`] (`error.rs`): one problem per key path;
//! - [`Config::to_toml_string`] (`print.rs`): the effective configuration, token redacted.

mod check;
mod cluster;
mod error;
mod kinds;
mod limits;
mod load;
mod pool;
mod print;
mod read;
mod rules;
mod schema;
pub mod size;
mod types;

#[cfg(test)]
mod tests;

pub use cluster::{ClusterSettings, redact_url};
pub use error::{ConfigError, ConfigErrors};
pub use limits::LimitSettings;
pub use load::{from_str, load};
pub use pool::{PoolMode, PoolSettings};
pub use rules::{
    RuleAction, RuleDef, format_template_id, parse_rule_action, parse_rule_action_with,
    parse_template_id,
};
pub use size::{ParseError, format_duration, format_size, parse_duration, parse_size};
pub use types::{
    AdminSettings, CacheDef, CacheMode, CacheSettings, ClientTls, ClusterMode, Config,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_ENTRY_SIZE, DEFAULT_MAX_MEMORY, DEFAULT_MAX_TTL,
    DEFAULT_MIN_TTL, DEFAULT_TTL, GIB, KIB, Listen, LogFormat, LogLevel, LogSettings, MIB,
    OriginTlsMode, OriginTlsSettings, Protocol, TlsSettings, TxnPolicy,
};
