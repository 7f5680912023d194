//! Entry points: read the file (or none), parse it into a `toml::Table`, fill
//! in the standard listeners when `[listen]` is absent, apply environment
//! overrides, read the table through the schema and check the result.
//!
//! Environment overrides, so a container needs no config file:
//! `WIRECACHE_<SECTION>_<KEY>` sets `<section>.<key>` (for example
//! `WIRECACHE_CACHE_MAX_MEMORY=1GiB`) and `WIRECACHE_CACHES_<N>_<KEY>` sets key
//! `<key>` of the `N`th `[[caches]]` entry, appending entries past the file's
//! last; `WIRECACHE_RULES_<N>_<KEY>` does the same for `[[rules]]`. An index
//! past the next new entry would leave a gap and is an error. Sections and keys
//! come from the schema (`read::schema`), so the rest of the name is the key even
//! though keys contain underscores; names are matched ignoring ASCII case after
//! the `WIRECACHE_` prefix. `WIRECACHE_CONFIG` is the config path, not an
//! override. `WIRECACHE_LOG` is an alias of `WIRECACHE_LOG_LEVEL`, which wins
//! when both are set. Any other unknown `WIRECACHE_*` variable is an error.
//! Values are written into the parsed table as strings; the reader takes each as
//! what its field accepts and names the variable in errors.

use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::check;
use super::error::{ConfigError, ConfigErrors};
use super::read::{self, Ctx, Section, schema};
use super::types::{Config, Listen};

/// Prefix of every wirecache variable.
const ENV_PREFIX: &str = "WIRECACHE_";
/// The config file path; not an override.
const CONFIG_VAR: &str = "WIRECACHE_CONFIG";

/// Loads the configuration from `path` (or, when `None`, from the file named
/// by `WIRECACHE_CONFIG` in `env`, or from no file at all) with `env`'s
/// `WIRECACHE_*` overrides applied. Every problem is reported at once.
pub fn load(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigErrors> {
    let env: Vec<(String, String)> = env.into_iter().collect();
    let named = env
        .iter()
        .find(|(var, value)| var == CONFIG_VAR && !value.is_empty());
    let text = match path
        .map(Path::to_path_buf)
        .or(named.map(|(_, v)| PathBuf::from(v)))
    {
        None => String::new(),
        Some(path) => {
            std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path, source })?
        }
    };
    from_str(&text, env)
}

/// Parses configuration text, then applies `env`'s `WIRECACHE_*` overrides.
pub fn from_str(
    toml: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigErrors> {
    let mut table: Table = toml.parse().map_err(|e| syntax_error(toml, &e))?;
    if !table.contains_key("listen")
        && let Ok(standard) = Value::try_from(Listen::standard())
    {
        table.insert("listen".to_owned(), standard);
    }
    let mut ctx = Ctx::default();
    apply_env(&mut table, env.into_iter().collect(), &mut ctx);
    let file = read::read(&mut ctx, &table);
    check::config(file, ctx)
}

/// A one-line syntax error with the line and column it points at.
fn syntax_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let offset = e.span().map_or(0, |span| span.start).min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let message = e.message().trim().replace('\n', "; ");
    ConfigError::Syntax {
        line,
        column,
        message,
    }
}

/// The key a variable sets: its section, the item's index in an array of
/// tables, and the key; `None` if it names no key of the schema.
type Target = (&'static Section, Option<usize>, &'static str);

fn target(var: &str) -> Option<Target> {
    let name = match var {
        "WIRECACHE_LOG" => "log_level".to_owned(),
        _ => var.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase(),
    };
    schema().iter().find_map(|s| {
        let rest = name.strip_prefix(s.name.as_str())?.strip_prefix('_')?;
        let (index, key) = match s.array {
            false => (None, rest),
            true => {
                let (index, key) = rest.split_once('_')?;
                let digits = index.bytes().all(|b| b.is_ascii_digit());
                (Some(index.parse().ok().filter(|_| digits)?), key)
            }
        };
        Some((s, index, s.keys.iter().find(|k| *k == key)?.as_str()))
    })
}

/// Writes every `WIRECACHE_*` override into `root`, recording in `ctx` which
/// variable set which key path, and its problems. Entries of an array of
/// tables are set in index order, appending one for the index one past the
/// last; a larger index would leave a gap.
fn apply_env(root: &mut Table, mut env: Vec<(String, String)>, ctx: &mut Ctx) {
    env.retain(|(var, _)| var.starts_with(ENV_PREFIX) && var != CONFIG_VAR);
    // Sorted, so the alias WIRECACHE_LOG is applied before WIRECACHE_LOG_LEVEL.
    env.sort();
    let mut set = Vec::new();
    for (var, raw) in env {
        match target(&var) {
            None => ctx.push("", ConfigError::UnknownEnvVar { var }),
            Some(target) => set.push((target, var, raw)),
        }
    }
    set.sort_by_key(|((s, index, _), _, _)| index.map(|i| (s.name.as_str(), i)));
    for ((s, index, key), var, raw) in set {
        let section = root.entry(&s.name).or_insert_with(|| match s.array {
            true => Value::Array(Vec::new()),
            false => Value::Table(Table::new()),
        });
        let (path, table) = match (index, section) {
            (None, Value::Table(t)) => (format!("{}.{key}", s.name), t),
            (Some(index), Value::Array(items)) => {
                let next = items.len();
                if index > next {
                    let what = s.name.strip_suffix('s').unwrap_or(&s.name).to_owned();
                    ctx.push(
                        "",
                        ConfigError::EnvGap {
                            var,
                            what,
                            index,
                            next,
                        },
                    );
                    continue;
                } else if index == next {
                    items.push(Table::new().into());
                }
                let Some(Value::Table(t)) = items.get_mut(index) else {
                    continue;
                };
                (format!("{}[{index}].{key}", s.name), t)
            }
            // Not a table or an array of tables: the reader reports it.
            _ => continue,
        };
        table.insert(key.to_owned(), Value::String(raw));
        ctx.sources.insert(path, var);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{
        CacheDef, CacheMode, CacheSettings, LogSettings, Protocol, RuleAction, TxnPolicy,
    };

    #[test]
    fn example_file() {
        let config = from_str(include_str!("../../config.example.toml"), Vec::new());
        let config = match config {
            Ok(config) => config,
            Err(errors) => panic!("config.example.toml:\n{errors}"),
        };
        assert_eq!(config.listen, Listen::standard());
        assert_eq!(config.cache, CacheSettings::default());
        assert_eq!(config.admin.token, None);
        assert_eq!(config.log, LogSettings::default());
        assert_eq!(config.limits, crate::config::LimitSettings::default());
        let demo = CacheDef {
            id: "demo".to_owned(),
            protocol: Protocol::Postgres,
            origin: "127.0.0.1:5432".to_owned(),
            default: true,
            ttl: None,
            mode: CacheMode::Auto,
            transactions: TxnPolicy::ReadCommitted,
            serve_stale: None,
            tls: Default::default(),
            pool: Default::default(),
        };
        assert_eq!(config.tls, Default::default());
        assert_eq!(config.caches, vec![demo.clone()]);
        assert_eq!(config.rules, Vec::new());
        assert_eq!(config.default_cache(), Some(&demo));
        assert_eq!(config.cache("demo"), Some(&demo));
    }

    #[test]
    fn example_rules_uncommented() {
        let example = include_str!("../../config.example.toml");
        let start = example.find("# [[rules]]").unwrap_or(example.len());
        let rules: String = example[start..]
            .lines()
            .map(|l| l.trim_start_matches('#').trim_start())
            .map(|l| format!("{l}\n"))
            .collect();
        let config = match from_str(&format!("{example}\n{rules}"), Vec::new()) {
            Ok(config) => config,
            Err(errors) => panic!("config.example.toml rules:\n{errors}"),
        };
        let secs = std::time::Duration::from_secs;
        let actions: Vec<_> = config.rules.iter().map(|r| r.action.clone()).collect();
        let expected = [
            RuleAction::Learn,
            RuleAction::Ttl(secs(5)),
            RuleAction::Never,
            RuleAction::Always(Some(secs(60))),
        ];
        assert_eq!(actions, expected);
        assert_eq!(config.rules[0].transactions, Some(TxnPolicy::Never));
        assert_eq!(config.rules[3].template, Some(0x9f86_d081_884c_7d65));
    }

    #[test]
    fn syntax_errors_point_at_line_and_column() {
        let text = "[cache]\nmax_memory = \"1GiB\"\n  default_ttl = = 3\n";
        let errors = from_str(text, Vec::new()).err().map(|e| e.to_string());
        let message = errors.unwrap_or_default();
        assert!(message.starts_with("line 3, column 17: "), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }

    /// What `target` finds, by name.
    fn target(var: &str) -> Option<(&'static str, Option<usize>, &'static str)> {
        super::target(var).map(|(s, index, key)| (s.name.as_str(), index, key))
    }

    #[test]
    fn targets() {
        let key = |section, key| Some((section, None, key));
        let cache = |index, key| Some(("caches", Some(index), key));
        let rule = |index, key| Some(("rules", Some(index), key));
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
