//! Environment overrides, so a container needs no config file.
//!
//! `WIRECACHE_<SECTION>_<KEY>` sets `<section>.<key>` (for example
//! `WIRECACHE_CACHE_MAX_MEMORY=1GiB`) and `WIRECACHE_CACHES_<N>_<KEY>` sets key
//! `<key>` of the `N`th `[[caches]]` entry, appending entries past the file's
//! last; `WIRECACHE_RULES_<N>_<KEY>` does the same for `[[rules]]`. An index
//! past the next new entry would leave a gap and is an error. Sections and
//! keys come from the schema (`read::schema`), so the rest of the name is the
//! key even though keys contain underscores; names are matched ignoring ASCII
//! case after the `WIRECACHE_` prefix.
//!
//! `WIRECACHE_CONFIG` is the config path, not an override. `WIRECACHE_LOG` is
//! an alias of `WIRECACHE_LOG_LEVEL`, which wins when both are set. Any other
//! unknown `WIRECACHE_*` variable is an error. Values are written into the
//! parsed table as strings; the reader takes each as what its field accepts
//! (text, else a boolean or an integer) and names the variable in errors.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::error::ConfigError;
use super::read::{Ctx, Section, schema};

/// Key path (such as `caches[0].origin`) → the variable that set it.
pub(super) type Sources = BTreeMap<String, String>;

/// Prefix of every wirecache variable.
pub const ENV_PREFIX: &str = "WIRECACHE_";
/// The config file path; not an override.
pub const CONFIG_VAR: &str = "WIRECACHE_CONFIG";
/// Alias of `WIRECACHE_LOG_LEVEL`.
pub const LOG_ALIAS_VAR: &str = "WIRECACHE_LOG";

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

/// `WIRECACHE_<ARRAY>_<N>_<KEY>` settings of one array: index → (key, variable, value).
type ItemSettings = BTreeMap<usize, Vec<(&'static str, String, String)>>;

/// Writes every `WIRECACHE_*` override into `table`, recording in `ctx` which
/// variable set which key path, and its problems.
pub(super) fn apply(table: &mut Table, env: Vec<(String, String)>, ctx: &mut Ctx) {
    let mut vars: Vec<_> = env
        .into_iter()
        .filter(|(var, _)| var.starts_with(ENV_PREFIX) && var != CONFIG_VAR)
        .collect();
    // Sorted, so the alias WIRECACHE_LOG is applied before WIRECACHE_LOG_LEVEL.
    vars.sort();
    let mut arrays: BTreeMap<&str, ItemSettings> = BTreeMap::new();
    for (var, raw) in vars {
        match target(&var) {
            None => ctx.push("", ConfigError::UnknownEnvVar { var }),
            Some(Target::Key { section, key }) => {
                let entry = table.entry(section).or_insert_with(|| Table::new().into());
                // Not a table: the reader reports it.
                if let Some(t) = entry.as_table_mut() {
                    t.insert(key.to_owned(), Value::String(raw));
                }
                ctx.sources.insert(format!("{section}.{key}"), var);
            }
            Some(Target::Item { array, index, key }) => {
                let settings = arrays.entry(array).or_default();
                settings.entry(index).or_default().push((key, var, raw));
            }
        }
    }
    for (array, settings) in arrays {
        apply_items(table, array, settings, ctx);
    }
}

/// Applies the settings of `array`'s entries in index order, appending an entry
/// for the index one past the last; a larger index would leave a gap and is an error.
fn apply_items(table: &mut Table, array: &str, settings: ItemSettings, ctx: &mut Ctx) {
    let entry = table
        .entry(array)
        .or_insert_with(|| Value::Array(Vec::new()));
    // Not an array: the reader reports it.
    let Some(items) = entry.as_array_mut() else {
        return;
    };
    let what = array.strip_suffix('s').unwrap_or(array);
    for (index, settings) in settings {
        let next = items.len();
        if index == next {
            items.push(Table::new().into());
        }
        let Some(t) = items.get_mut(index).and_then(Value::as_table_mut) else {
            for (_, var, _) in settings.into_iter().filter(|_| index > next) {
                let (what, index) = (what.to_owned(), index);
                ctx.push(
                    "",
                    ConfigError::EnvGap {
                        var,
                        what,
                        index,
                        next,
                    },
                );
            }
            continue;
        };
        for (key, var, raw) in settings {
            t.insert(key.to_owned(), Value::String(raw));
            ctx.sources.insert(format!("{array}[{index}].{key}"), var);
        }
    }
}

/// The key `var` overrides, or `None` if it names no key of the schema.
fn target(var: &str) -> Option<Target> {
    if var == LOG_ALIAS_VAR {
        let (section, key) = ("log", "level");
        return Some(Target::Key { section, key });
    }
    let name = var.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase();
    let known = |s: &'static Section, key| s.keys.iter().find(|k| *k == key).map(String::as_str);
    for s in schema().iter().filter(|s| s.array) {
        let array = s.name.as_str();
        let Some(rest) = name.strip_prefix(array).and_then(|r| r.strip_prefix('_')) else {
            continue;
        };
        let (index, key) = rest.split_once('_')?;
        if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let index = index.parse().ok()?;
        let key = known(s, key)?;
        return Some(Target::Item { array, index, key });
    }
    schema().iter().filter(|s| !s.array).find_map(|s| {
        let key = name.strip_prefix(s.name.as_str())?.strip_prefix('_')?;
        let (section, key) = (s.name.as_str(), known(s, key)?);
        Some(Target::Key { section, key })
    })
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
            (
                "WIRECACHE_TLS_ALLOW_CLEARTEXT_PASSWORDS",
                key("tls", "allow_cleartext_passwords"),
            ),
            (
                "WIRECACHE_CACHES_1_TLS_CLIENT_KEY",
                cache(1, "tls_client_key"),
            ),
        ];
        for (var, expected) in cases {
            assert_eq!(target(var), expected, "{var}");
        }
    }

    #[test]
    fn not_targets() {
        let cases = [
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
