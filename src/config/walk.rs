//! The walker: reads a parsed `toml::Table` into a [`Config`] by hand, so that
//! every problem (unknown key, wrong type, bad value, inconsistency) is
//! collected and reported at once instead of stopping at the first.
//! `[[rules]]` are read in `walk/rules.rs`.

mod rules;

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use toml::{Table, Value};

use super::env::Sources;
use super::error::{ConfigError, ConfigErrors};
use super::types::{
    AdminSettings, CacheDef, CacheMode, CacheSettings, Config, Listen, LogSettings,
    OriginTlsSettings, Protocol, TlsSettings,
};
use super::values::{
    address, boolean, cache_id, cache_mode, client_tls, count, duration, file_path, log_format,
    log_level, origin, origin_tls, positive_duration, protocol, server_name, size, token,
    wrong_type,
};

/// The schema: every key the file and the environment may set, by section.
pub(super) const TOP_KEYS: &[&str] = &["listen", "cache", "admin", "log", "tls", "caches", "rules"];
pub(super) const LISTEN_KEYS: &[&str] = &["mysql", "mariadb", "postgres", "mssql", "admin"];
pub(super) const CACHE_KEYS: &[&str] = &[
    "max_memory",
    "max_entry_size",
    "default_ttl",
    "max_connections",
    "min_ttl",
    "max_ttl",
    "shutdown_grace",
];
pub(super) const ADMIN_KEYS: &[&str] = &["token"];
pub(super) const LOG_KEYS: &[&str] = &["level", "format"];
pub(super) const TLS_KEYS: &[&str] = &[
    "client",
    "cert_file",
    "key_file",
    "allow_cleartext_passwords",
];
pub(super) const CACHE_DEF_KEYS: &[&str] = &[
    "id",
    "protocol",
    "origin",
    "default",
    "ttl",
    "mode",
    "tls",
    "tls_ca_file",
    "tls_server_name",
    "tls_client_cert",
    "tls_client_key",
];
/// Keys whose values are booleans (the environment gives text: converted first).
pub(super) const BOOLEAN_KEYS: &[&str] = &["default", "allow_cleartext_passwords"];
pub(super) const RULE_KEYS: &[&str] = &["template", "pattern", "table", "cache", "action", "ttl"];

/// Reads `root` into a [`Config`]; `errors` holds problems already found (in
/// the environment) and is returned with the walker's own if any.
pub(super) fn read(
    root: &Table,
    sources: &Sources,
    errors: Vec<ConfigError>,
) -> Result<Config, ConfigErrors> {
    let mut w = Walker {
        errors,
        sources,
        invalid: HashSet::new(),
    };
    w.unknown_keys(root, "", TOP_KEYS);
    let listen = w.listen(root);
    let cache = w.cache_settings(root);
    let admin = w.admin(root);
    let log = w.log(root);
    let tls = w.tls(root);
    let partials = w.caches(root);
    w.check_caches(&partials, &listen);
    let rules = w.rules(root, &partials);
    if !w.errors.is_empty() {
        return Err(ConfigErrors(w.errors));
    }
    let caches = partials.into_iter().filter_map(Partial::finish).collect();
    Ok(Config {
        listen,
        cache,
        admin,
        caches,
        rules,
        log,
        tls,
    })
}

/// A `[[caches]]` entry as read, with the keys that were present and valid.
struct Partial {
    prefix: String,
    id: Option<String>,
    protocol: Option<Protocol>,
    origin: Option<String>,
    default: bool,
    ttl: Option<Duration>,
    mode: CacheMode,
    tls: OriginTlsSettings,
}

impl Partial {
    fn finish(self) -> Option<CacheDef> {
        Some(CacheDef {
            id: self.id?,
            protocol: self.protocol?,
            origin: self.origin?,
            default: self.default,
            ttl: self.ttl,
            mode: self.mode,
            tls: self.tls,
        })
    }
}

/// Reads one value, given the path to name in its error.
type Reader<T> = fn(&Value, &str) -> Result<T, ConfigError>;

struct Walker<'s> {
    errors: Vec<ConfigError>,
    /// Key path → environment variable that set it.
    sources: &'s Sources,
    /// Key paths whose value was present but reported invalid.
    invalid: HashSet<String>,
}

impl Walker<'_> {
    fn listen(&mut self, root: &Table) -> Listen {
        let Some(t) = self.section(root, "listen", LISTEN_KEYS) else {
            return Listen::none();
        };
        let mut get = |key| self.field(t, "listen", key, address).flatten();
        Listen {
            mysql: get("mysql"),
            mariadb: get("mariadb"),
            postgres: get("postgres"),
            mssql: get("mssql"),
            admin: get("admin"),
        }
    }

    fn cache_settings(&mut self, root: &Table) -> CacheSettings {
        let d = CacheSettings::default();
        let Some(t) = self.section(root, "cache", CACHE_KEYS) else {
            return d;
        };
        let max_memory = self.field(t, "cache", "max_memory", size);
        let max_entry_size = self.field(t, "cache", "max_entry_size", size);
        let default_ttl = self.field(t, "cache", "default_ttl", duration);
        let max_connections = self.field(t, "cache", "max_connections", count);
        let min_ttl = self.field(t, "cache", "min_ttl", positive_duration);
        let max_ttl = self.field(t, "cache", "max_ttl", positive_duration);
        let shutdown_grace = self.field(t, "cache", "shutdown_grace", duration);
        let s = CacheSettings {
            max_memory: max_memory.unwrap_or(d.max_memory),
            max_entry_size: max_entry_size.unwrap_or(d.max_entry_size),
            default_ttl: default_ttl.unwrap_or(d.default_ttl),
            max_connections: max_connections.unwrap_or(d.max_connections),
            min_ttl: min_ttl.unwrap_or(d.min_ttl),
            max_ttl: max_ttl.unwrap_or(d.max_ttl),
            shutdown_grace: shutdown_grace.unwrap_or(d.shutdown_grace),
        };
        let both_valid = !self.invalid.contains("cache.max_memory")
            && !self.invalid.contains("cache.max_entry_size");
        if both_valid && s.max_entry_size > s.max_memory {
            self.errors.push(ConfigError::EntryLargerThanMemory {
                max_entry_size: s.max_entry_size,
                max_memory: s.max_memory,
            });
        }
        let both_valid =
            !self.invalid.contains("cache.min_ttl") && !self.invalid.contains("cache.max_ttl");
        if both_valid && s.min_ttl > s.max_ttl {
            self.errors.push(ConfigError::MinTtlAboveMax {
                path: self.path("cache", "min_ttl"),
                min_ttl: s.min_ttl,
                max_ttl: s.max_ttl,
            });
        }
        s
    }

    fn admin(&mut self, root: &Table) -> AdminSettings {
        let Some(t) = self.section(root, "admin", ADMIN_KEYS) else {
            return AdminSettings::default();
        };
        AdminSettings {
            token: self.field(t, "admin", "token", token),
        }
    }

    fn log(&mut self, root: &Table) -> LogSettings {
        let Some(t) = self.section(root, "log", LOG_KEYS) else {
            return LogSettings::default();
        };
        LogSettings {
            level: self.field(t, "log", "level", log_level).unwrap_or_default(),
            format: self
                .field(t, "log", "format", log_format)
                .unwrap_or_default(),
        }
    }

    fn tls(&mut self, root: &Table) -> TlsSettings {
        let Some(t) = self.section(root, "tls", TLS_KEYS) else {
            return TlsSettings::default();
        };
        TlsSettings {
            client: self
                .field(t, "tls", "client", client_tls)
                .unwrap_or_default(),
            cert_files: self.pair(t, "tls", ("cert_file", "key_file")),
            allow_cleartext_passwords: self
                .field(t, "tls", "allow_cleartext_passwords", boolean)
                .unwrap_or(false),
        }
    }

    /// Two file keys that go together: both, or neither (the one set is reported).
    fn pair(
        &mut self,
        t: &Table,
        prefix: &str,
        (first, second): (&str, &str),
    ) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
        let a = self.field(t, prefix, first, file_path);
        let b = self.field(t, prefix, second, file_path);
        let (present, absent) = match (t.contains_key(first), t.contains_key(second)) {
            (true, false) => (first, second),
            (false, true) => (second, first),
            _ => return a.zip(b),
        };
        self.errors.push(ConfigError::HalfPair {
            path: self.path(prefix, present),
            missing: join(prefix, absent),
        });
        None
    }

    fn origin_tls(&mut self, t: &Table, prefix: &str) -> OriginTlsSettings {
        OriginTlsSettings {
            mode: self.field(t, prefix, "tls", origin_tls).unwrap_or_default(),
            ca_file: self.field(t, prefix, "tls_ca_file", file_path),
            server_name: self.field(t, prefix, "tls_server_name", server_name),
            client_cert: self.pair(t, prefix, ("tls_client_cert", "tls_client_key")),
        }
    }

    fn caches(&mut self, root: &Table) -> Vec<Partial> {
        let items = match root.get("caches") {
            None => &Vec::new(),
            Some(Value::Array(items)) => items,
            Some(other) => {
                let expected = "an array of tables ([[caches]])";
                self.errors.push(wrong_type("caches", expected, other));
                self.invalid.insert("caches".to_owned());
                return Vec::new();
            }
        };
        if items.is_empty() {
            self.errors.push(ConfigError::NoCaches);
        }
        let mut partials = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let prefix = format!("caches[{i}]");
            match item.as_table() {
                Some(t) => partials.push(self.cache_def(t, prefix)),
                None => {
                    self.errors.push(wrong_type(&prefix, "a table", item));
                    self.invalid.insert("caches".to_owned());
                }
            }
        }
        partials
    }

    fn cache_def(&mut self, t: &Table, prefix: String) -> Partial {
        self.unknown_keys(t, &prefix, CACHE_DEF_KEYS);
        Partial {
            id: self.required(t, &prefix, "id", cache_id),
            protocol: self.required(t, &prefix, "protocol", protocol),
            origin: self.required(t, &prefix, "origin", origin),
            default: self.field(t, &prefix, "default", boolean).unwrap_or(false),
            ttl: self.field(t, &prefix, "ttl", duration),
            mode: self
                .field(t, &prefix, "mode", cache_mode)
                .unwrap_or_default(),
            tls: self.origin_tls(t, &prefix),
            prefix,
        }
    }

    /// Checks across caches: unique IDs, one default, a listener per protocol.
    fn check_caches(&mut self, partials: &[Partial], listen: &Listen) {
        let mut ids: HashMap<&str, &str> = HashMap::new();
        let mut default: Option<&str> = None;
        for c in partials {
            if let Some(id) = c.id.as_deref() {
                match ids.entry(id) {
                    Entry::Vacant(e) => {
                        e.insert(&c.prefix);
                    }
                    Entry::Occupied(e) => self.errors.push(ConfigError::DuplicateCacheId {
                        path: self.path(&c.prefix, "id"),
                        id: id.to_owned(),
                        first: (*e.get()).to_owned(),
                    }),
                }
            }
            if c.default {
                match default {
                    Some(first) => self.errors.push(ConfigError::MultipleDefaults {
                        path: self.path(&c.prefix, "default"),
                        first: first.to_owned(),
                    }),
                    None => default = Some(&c.prefix),
                }
            }
            if let Some(p) = c.protocol {
                let key = format!("listen.{p}");
                let reported = self.invalid.contains(&key) || self.invalid.contains("listen");
                if listen.for_protocol(p).is_none() && !reported {
                    self.errors.push(ConfigError::NoListener {
                        path: self.path(&c.prefix, "protocol"),
                        protocol: p,
                    });
                }
            }
        }
    }

    /// The table at `root[name]`, checked for unknown keys; `None` if absent or not a table.
    fn section<'t>(
        &mut self,
        root: &'t Table,
        name: &str,
        known: &'static [&'static str],
    ) -> Option<&'t Table> {
        let value = root.get(name)?;
        let Some(t) = value.as_table() else {
            self.errors.push(wrong_type(name, "a table", value));
            self.invalid.insert(name.to_owned());
            return None;
        };
        self.unknown_keys(t, name, known);
        Some(t)
    }

    fn unknown_keys(&mut self, t: &Table, prefix: &str, known: &'static [&'static str]) {
        for key in t.keys().filter(|k| !known.contains(&k.as_str())) {
            let path = join(prefix, key);
            self.errors.push(ConfigError::UnknownKey { path, known });
        }
    }

    /// Reads `t[key]` if present; `None` if absent or invalid (the problem is reported).
    fn field<T>(&mut self, t: &Table, prefix: &str, key: &str, read: Reader<T>) -> Option<T> {
        let value = t.get(key)?;
        match read(value, &self.path(prefix, key)) {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(e);
                self.invalid.insert(join(prefix, key));
                None
            }
        }
    }

    /// Like [`Walker::field`], and reports a missing key.
    fn required<T>(&mut self, t: &Table, prefix: &str, key: &str, read: Reader<T>) -> Option<T> {
        if !t.contains_key(key) {
            let path = join(prefix, key);
            self.errors.push(ConfigError::MissingKey { path });
        }
        self.field(t, prefix, key, read)
    }

    /// The key path named in errors, with the environment variable that set it, if any.
    fn path(&self, prefix: &str, key: &str) -> String {
        let path = join(prefix, key);
        match self.sources.get(&path) {
            Some(var) => format!("{path} (from {var})"),
            None => path,
        }
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}
