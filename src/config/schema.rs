//! The file's schema: [`File`] lists the sections in the order printed; the
//! sections whose keys differ from the typed config (`[tls]`, `[[caches]]`,
//! `[[rules]]`) are read into the entries here, checked by `check.rs`, and
//! made back from a [`Config`] for printing.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::kinds::{Action, Bool, CacheId, Dur, FilePath, Opt, Origin, Pattern, Positive};
use super::kinds::{Kind, ServerName, TableName, TemplateId};
use super::rules::RuleDef;
use super::types::{
    AdminSettings, CacheDef, CacheMode, CacheSettings, ClientTls, Config, Listen, LogSettings,
    OriginTlsMode, Protocol, TxnPolicy,
};

/// Every key of the file and of the environment. Every table's keys are
/// optional here; required ones are checked afterwards.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct File {
    pub listen: Listen,
    pub cache: CacheSettings,
    pub admin: AdminSettings,
    pub log: LogSettings,
    pub tls: TlsSection,
    pub caches: Vec<CacheEntry>,
    pub rules: Vec<RuleEntry>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct TlsSection {
    #[serde(with = "ClientTls")]
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
    #[serde(with = "Opt::<Protocol>")]
    pub protocol: Option<Protocol>,
    #[serde(with = "Opt::<Origin>")]
    pub origin: Option<String>,
    #[serde(with = "Bool")]
    pub default: bool,
    #[serde(with = "Opt::<Dur>")]
    pub ttl: Option<Duration>,
    #[serde(with = "CacheMode")]
    pub mode: CacheMode,
    #[serde(with = "TxnPolicy")]
    pub transactions: TxnPolicy,
    #[serde(with = "OriginTlsMode")]
    pub tls: OriginTlsMode,
    #[serde(with = "Opt::<FilePath>")]
    pub tls_ca_file: Option<PathBuf>,
    #[serde(with = "Opt::<ServerName>")]
    pub tls_server_name: Option<String>,
    #[serde(with = "Opt::<FilePath>")]
    pub tls_client_cert: Option<PathBuf>,
    #[serde(with = "Opt::<FilePath>")]
    pub tls_client_key: Option<PathBuf>,
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
}

impl From<&Config> for File {
    fn from(c: &Config) -> Self {
        let (cert_file, key_file) = c.tls.cert_files.clone().unzip();
        File {
            listen: c.listen.clone(),
            cache: c.cache.clone(),
            admin: c.admin.clone(),
            log: c.log.clone(),
            tls: TlsSection {
                client: c.tls.client,
                cert_file,
                key_file,
                allow_cleartext_passwords: c.tls.allow_cleartext_passwords,
            },
            caches: c.caches.iter().map(CacheEntry::from).collect(),
            rules: c.rules.iter().map(RuleEntry::from).collect(),
        }
    }
}

impl From<&CacheDef> for CacheEntry {
    fn from(c: &CacheDef) -> Self {
        let (tls_client_cert, tls_client_key) = c.tls.client_cert.clone().unzip();
        CacheEntry {
            id: Some(c.id.clone()),
            protocol: Some(c.protocol),
            origin: Some(c.origin.clone()),
            default: c.default,
            ttl: c.ttl,
            mode: c.mode,
            transactions: c.transactions,
            tls: c.tls.mode,
            tls_ca_file: c.tls.ca_file.clone(),
            tls_server_name: c.tls.server_name.clone(),
            tls_client_cert,
            tls_client_key,
        }
    }
}

impl From<&RuleDef> for RuleEntry {
    fn from(r: &RuleDef) -> Self {
        RuleEntry {
            template: r.template,
            pattern: r.pattern.clone(),
            table: r.table.clone(),
            cache: r.cache.clone(),
            action: Some(r.action.as_str().to_owned()),
            ttl: r.action.ttl(),
        }
    }
}
