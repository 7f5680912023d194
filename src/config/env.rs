//! Environment overrides, so a container needs no config file.
//!
//! `WIRECACHE_<SECTION>_<KEY>` sets `<section>.<key>` (for example
//! `WIRECACHE_CACHE_MAX_MEMORY=1GiB`) and `WIRECACHE_CACHES_<N>_<KEY>` sets key
//! `<key>` of the `N`th `[[caches]]` entry, appending entries past the file's
//! last; `WIRECACHE_RULES_<N>_<KEY>` does the same for `[[rules]]`. An index
//! past the next new entry would leave a gap and is an error. The section
//! (or array) is matched against the known schema first, so the rest of
//! the name is the key even though keys contain underscores; names are
//! matched ignoring ASCII case after the `WIRECACHE_` prefix.
//!
//! `WIRECACHE_CONFIG` is the config path, not an override. `WIRECACHE_LOG` is
//! an alias of `WIRECACHE_LOG_LEVEL`, which wins when both are set. Any other
//! unknown `WIRECACHE_*` variable is an error. Values are written into the
//! parsed table as strings (booleans and counts converted first), so the same
//! parsers read them as read file values.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::error::ConfigError;
use super::walk::{
    ADMIN_KEYS, BOOLEAN_KEYS, CACHE_DEF_KEYS, CACHE_KEYS, LISTEN_KEYS, LOG_KEYS, RULE_KEYS,
    TLS_KEYS,
};

/// Key path (such as `caches[0].origin`) → the variable that set it.
pub(super) type Sources = BTreeMap<String, String>;

/// Prefix of every wirecache variable.
pub const ENV_PREFIX: &str = "WIRECACHE_";
/// The config file path; not an override.
pub const CONFIG_VAR: &str = "WIRECACHE_CONFIG";
/// Alias of `WIRECACHE_LOG_LEVEL`.
pub const LOG_ALIAS_VAR: &str = "WIRECACHE_LOG";

/// Sections that are tables, with their keys.
const SECTIONS: &[(&str, &[&str])] = &[
    ("listen", LISTEN_KEYS),
    ("cache", CACHE_KEYS),
    ("admin", ADMIN_KEYS),
    ("log", LOG_KEYS),
    ("tls", TLS_KEYS),
];

/// Arrays of tables, with their keys and the error for an index that leaves a gap.
const ARRAYS: &[(&str, &[&str], GapError)] = &[
    ("caches", CACHE_DEF_KEYS, |var, index, next| {
        ConfigError::EnvCacheGap { var, index, next }
    }),
    ("rules", RULE_KEYS, |var, index, next| {
        ConfigError::EnvRuleGap { var, index, next }
    }),
];

/// Builds the error for variable, index, and the index of the next new entry.
type GapError = fn(String, usize, usize) -> ConfigError;

/// The key a variable overrides.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Key {
        section: &'static str,
        key: &'static str,
    },
    /// Key `key` of entry `index` of the array of tables `array`.
    Item {
        array: &'static str,
        index: usize,
        key: &'static str,
    },
}

/// One `WIRECACHE_<ARRAY>_<N>_<KEY>` variable.
struct ItemSetting {
    var: String,
    key: &'static str,
    raw: String,
}

/// Settings of one array, by index.
type ItemSettings = BTreeMap<usize, Vec<ItemSetting>>;

/// Writes every `WIRECACHE_*` override into `table`, pushing problems onto
/// `errors`; returns which variable set which key path.
pub(super) fn apply(
    table: &mut Table,
    env: Vec<(String, String)>,
    errors: &mut Vec<ConfigError>,
) -> Sources {
    let mut vars: Vec<_> = env
        .into_iter()
        .filter(|(var, _)| var.starts_with(ENV_PREFIX) && var != CONFIG_VAR)
        .collect();
    // Sorted, so the alias WIRECACHE_LOG is applied before WIRECACHE_LOG_LEVEL.
    vars.sort();
    let mut sources = Sources::new();
    let mut arrays: BTreeMap<&str, ItemSettings> = BTreeMap::new();
    for (var, raw) in vars {
        match target(&var) {
            None => errors.push(ConfigError::UnknownEnvVar { var }),
            Some(Target::Key { section, key }) => match value(&var, key, &raw) {
                Err(e) => errors.push(e),
                Ok(v) => {
                    if let Some(t) = section_table(table, section) {
                        t.insert(key.to_owned(), v);
                    }
                    sources.insert(format!("{section}.{key}"), var);
                }
            },
            Some(Target::Item { array, index, key }) => {
                let setting = ItemSetting { var, key, raw };
                let settings = arrays.entry(array).or_default();
                settings.entry(index).or_default().push(setting);
            }
        }
    }
    for &(array, _, gap) in ARRAYS {
        if let Some(settings) = arrays.remove(array) {
            apply_items(table, array, settings, gap, &mut sources, errors);
        }
    }
    sources
}

/// Applies the settings of `array`'s entries in index order, appending an entry
/// for the index one past the last; a larger index would leave a gap and is an error.
fn apply_items(
    table: &mut Table,
    array: &str,
    settings: ItemSettings,
    gap: GapError,
    sources: &mut Sources,
    errors: &mut Vec<ConfigError>,
) {
    let entry = table
        .entry(array)
        .or_insert_with(|| Value::Array(Vec::new()));
    // Not an array: the walker reports it.
    let Some(items) = entry.as_array_mut() else {
        return;
    };
    for (index, settings) in settings {
        let next = items.len();
        if index == next {
            items.push(Value::Table(Table::new()));
        }
        let Some(t) = items.get_mut(index).and_then(Value::as_table_mut) else {
            if index > next {
                errors.extend(settings.into_iter().map(|s| gap(s.var, index, next)));
            }
            continue;
        };
        for s in settings {
            match value(&s.var, s.key, &s.raw) {
                Err(e) => errors.push(e),
                Ok(v) => {
                    t.insert(s.key.to_owned(), v);
                    sources.insert(format!("{array}[{index}].{}", s.key), s.var);
                }
            }
        }
    }
}

/// The key `var` overrides, or `None` if it names no known key.
fn target(var: &str) -> Option<Target> {
    if var == LOG_ALIAS_VAR {
        let (section, key) = ("log", "level");
        return Some(Target::Key { section, key });
    }
    let name = var.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase();
    for &(array, keys, _) in ARRAYS {
        let Some(rest) = name.strip_prefix(array).and_then(|r| r.strip_prefix('_')) else {
            continue;
        };
        let (index, key) = rest.split_once('_')?;
        if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let index = index.parse().ok()?;
        let key = known(keys, key)?;
        return Some(Target::Item { array, index, key });
    }
    SECTIONS.iter().find_map(|&(section, keys)| {
        let key = name.strip_prefix(section)?.strip_prefix('_')?;
        let key = known(keys, key)?;
        Some(Target::Key { section, key })
    })
}

fn known(keys: &[&'static str], key: &str) -> Option<&'static str> {
    keys.iter().copied().find(|k| *k == key)
}

/// The table of `section`, created if absent; `None` if the file made it
/// something else (the walker reports that).
fn section_table<'t>(table: &'t mut Table, section: &str) -> Option<&'t mut Table> {
    let entry = table
        .entry(section)
        .or_insert_with(|| Value::Table(Table::new()));
    entry.as_table_mut()
}

/// The TOML value for a variable's text: booleans and counts are converted,
/// everything else stays a string for the walker's parsers.
fn value(var: &str, key: &str, raw: &str) -> Result<Value, ConfigError> {
    let invalid = |kind, reason: &str| ConfigError::InvalidValue {
        path: var.to_owned(),
        kind,
        value: raw.to_owned(),
        reason: reason.to_owned(),
    };
    match key {
        k if BOOLEAN_KEYS.contains(&k) => match raw.trim() {
            s if s.eq_ignore_ascii_case("true") => Ok(Value::Boolean(true)),
            s if s.eq_ignore_ascii_case("false") => Ok(Value::Boolean(false)),
            _ => Err(invalid("boolean", "expected true or false")),
        },
        "max_connections" => (raw.trim().parse().map(Value::Integer))
            .map_err(|_| invalid("count", "expected a positive integer")),
        _ => Ok(Value::String(raw.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let key = |section, key| Some(Target::Key { section, key });
        let cache = |index, key| {
            let array = "caches";
            Some(Target::Item { array, index, key })
        };
        let rule = |index, key| {
            let array = "rules";
            Some(Target::Item { array, index, key })
        };
        let cases = [
            ("WIRECACHE_LISTEN_POSTGRES", key("listen", "postgres")),
            ("WIRECACHE_LISTEN_ADMIN", key("listen", "admin")),
            ("WIRECACHE_CACHE_MAX_MEMORY", key("cache", "max_memory")),
            (
                "WIRECACHE_CACHE_MAX_ENTRY_SIZE",
                key("cache", "max_entry_size"),
            ),
            ("WIRECACHE_CACHE_DEFAULT_TTL", key("cache", "default_ttl")),
            (
                "WIRECACHE_CACHE_MAX_CONNECTIONS",
                key("cache", "max_connections"),
            ),
            ("WIRECACHE_CACHE_MIN_TTL", key("cache", "min_ttl")),
            ("WIRECACHE_CACHE_MAX_TTL", key("cache", "max_ttl")),
            ("WIRECACHE_ADMIN_TOKEN", key("admin", "token")),
            ("WIRECACHE_LOG_LEVEL", key("log", "level")),
            ("WIRECACHE_LOG_FORMAT", key("log", "format")),
            ("WIRECACHE_LOG", key("log", "level")),
            ("WIRECACHE_cache_max_memory", key("cache", "max_memory")),
            ("WIRECACHE_CACHES_0_ID", cache(0, "id")),
            ("WIRECACHE_CACHES_12_DEFAULT", cache(12, "default")),
            ("WIRECACHE_CACHES_3_TTL", cache(3, "ttl")),
            ("WIRECACHE_CACHES_0_MODE", cache(0, "mode")),
            ("WIRECACHE_RULES_0_TEMPLATE", rule(0, "template")),
            ("WIRECACHE_RULES_0_PATTERN", rule(0, "pattern")),
            ("WIRECACHE_RULES_1_TABLE", rule(1, "table")),
            ("WIRECACHE_RULES_2_CACHE", rule(2, "cache")),
            ("WIRECACHE_RULES_7_ACTION", rule(7, "action")),
            ("WIRECACHE_rules_10_ttl", rule(10, "ttl")),
            ("WIRECACHE_RULES_0_ID", None),
            ("WIRECACHE_RULES_0_MODE", None),
            ("WIRECACHE_RULES_X_TTL", None),
            ("WIRECACHE_RULES_0", None),
            ("WIRECACHE_RULES__TTL", None),
            ("WIRECACHE_RULE_0_TTL", None),
            ("WIRECACHE_RULES_0_MAX_MEMORY", None),
            ("WIRECACHE_CACHES_X_ID", None),
            ("WIRECACHE_CACHES_0", None),
            ("WIRECACHE_CACHES__ID", None),
            ("WIRECACHE_CACHES_0_NAME", None),
            ("WIRECACHE_CACHE_MAX_MEMROY", None),
            ("WIRECACHE_CACHE", None),
            ("WIRECACHE_CACHEMAX_MEMORY", None),
            ("WIRECACHE_LISTEN_ORACLE", None),
            ("WIRECACHE_TOKEN", None),
            ("WIRECACHE_", None),
            ("OTHER_CACHE_MAX_MEMORY", None),
        ];
        for (var, expected) in cases {
            assert_eq!(target(var), expected, "{var}");
        }
    }
}
