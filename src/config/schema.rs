//! The file's schema: [`File`] lists the sections in the order printed; the
//! sections whose keys differ from the typed config (`[tls]`, `[[caches]]`,
//! `[[rules]]`) are read into the entries here and checked by `check.rs`;
//! [`Config`](super::Config) itself serializes to the same keys for printing.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::kinds::{Action, Bool, CacheId, Dur, FilePath, Kind, Opt, Origin, Pattern, Positive};
use super::kinds::{Amount, Count, Secret, ServerName, TableName, TemplateId};
use super::limits::LimitSettings;
use super::pool::PoolMode;
use super::types::{AdminSettings, CacheMode, CacheSettings, ClientTls, Listen};
use super::types::{LogSettings, OriginTlsMode, Protocol, TxnPolicy};

/// Every key of the file and of the environment. Every table's keys are
/// optional here; required ones are checked afterwards.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct File {
    pub listen: Listen,
    pub cache: CacheSettings,
    pub admin: AdminSettings,
    pub log: LogSettings,
    pub limits: LimitSettings,
    pub tls: TlsSection,
    pub caches: Vec<CacheEntry>,
    pub rules: Vec<RuleEntry>,
    pub cluster: super::cluster::ClusterSection,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct TlsSection {
    pub client: ClientTls,
    #[serde(with = "Opt::<FilePath>")]
    pub cert_file: Option<PathBuf>,
    #[serde(with = "Opt::<FilePath>")]
    pub key_file: Option<PathBuf>,
    #[serde(with = "Bool")]
    pub allow_cleartext_passwords: bool,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct CacheEntry {
    #[serde(with = "Opt::<CacheId>")]
    pub id: Option<String>,
    pub protocol: Option<Protocol>,
    #[serde(with = "Opt::<Origin>")]
    pub origin: Option<String>,
    #[serde(with = "Bool")]
    pub default: bool,
    #[serde(with = "Opt::<Dur>")]
    pub ttl: Option<Duration>,
    pub mode: CacheMode,
    pub transactions: TxnPolicy,
    #[serde(with = "Opt::<Dur>")]
    pub serve_stale: Option<Duration>,
    pub tls: OriginTlsMode,
    #[serde(with = "Opt::<FilePath>")]
    pub tls_ca_file: Option<PathBuf>,
    #[serde(with = "Opt::<ServerName>")]
    pub tls_server_name: Option<String>,
    #[serde(with = "Opt::<FilePath>")]
    pub tls_client_cert: Option<PathBuf>,
    #[serde(with = "Opt::<FilePath>")]
    pub tls_client_key: Option<PathBuf>,
    pub pool: PoolMode,
    #[serde(with = "Opt::<FilePath>")]
    pub auth_file: Option<PathBuf>,
    pub user: Option<String>,
    #[serde(with = "Opt::<Secret>")]
    pub password: Option<String>,
    pub auth_user: Option<String>,
    pub auth_query: Option<String>,
    #[serde(with = "Opt::<Count>")]
    pub pool_size: Option<usize>,
    #[serde(with = "Opt::<Amount>")]
    pub pool_min_idle: Option<usize>,
    #[serde(with = "Opt::<Positive>")]
    pub pool_max_lifetime: Option<Duration>,
    #[serde(with = "Opt::<Positive>")]
    pub pool_idle_timeout: Option<Duration>,
    #[serde(with = "Opt::<Positive>")]
    pub pool_queue_timeout: Option<Duration>,
    #[serde(with = "Opt::<Amount>")]
    pub max_prepared_statements: Option<usize>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RuleEntry {
    #[serde(with = "Opt::<TemplateId>")]
    pub template: Option<u64>,
    #[serde(with = "Opt::<Pattern>")]
    pub pattern: Option<String>,
    #[serde(with = "Opt::<TableName>")]
    pub table: Option<String>,
    #[serde(with = "Opt::<CacheId>")]
    pub cache: Option<String>,
    #[serde(with = "Opt::<Action>")]
    pub action: Option<String>,
    #[serde(with = "Opt::<Positive>")]
    pub ttl: Option<Duration>,
    pub transactions: Option<TxnPolicy>,
}
