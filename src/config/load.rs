//! Entry points: read the file (or none), parse it into a `toml::Table`, fill
//! in the standard listeners when `[listen]` is absent, apply environment
//! overrides, read the table through the schema and check the result.

use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::check;
use super::env::{self, CONFIG_VAR};
use super::error::{ConfigError, ConfigErrors};
use super::read::{self, Ctx};
use super::types::{Config, Listen};

/// Loads the configuration from `path` (or, when `None`, from the file named
/// by `WIRECACHE_CONFIG` in `env`, or from no file at all) with `env`'s
/// `WIRECACHE_*` overrides applied. Every problem is reported at once.
pub fn load(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigErrors> {
    let env: Vec<(String, String)> = env.into_iter().collect();
    let from_env = env
        .iter()
        .find(|(var, value)| var == CONFIG_VAR && !value.is_empty())
        .map(|(_, value)| PathBuf::from(value));
    let text = match path.map(Path::to_path_buf).or(from_env) {
        None => String::new(),
        Some(path) => match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(source) => return Err(ConfigError::Read { path, source }.into()),
        },
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
    env::apply(&mut table, env.into_iter().collect(), &mut ctx);
    let file = read::read(&ctx, table);
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
        let demo = CacheDef {
            id: "demo".to_owned(),
            protocol: Protocol::Postgres,
            origin: "127.0.0.1:5432".to_owned(),
            default: true,
            ttl: None,
            mode: CacheMode::Auto,
            transactions: TxnPolicy::ReadCommitted,
            tls: Default::default(),
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
            RuleAction::Ttl(secs(5)),
            RuleAction::Never,
            RuleAction::Always(Some(secs(60))),
        ];
        assert_eq!(actions, expected);
        assert_eq!(config.rules[2].template, Some(0x9f86_d081_884c_7d65));
    }

    #[test]
    fn syntax_errors_point_at_line_and_column() {
        let text = "[cache]\nmax_memory = \"1GiB\"\n  default_ttl = = 3\n";
        let errors = from_str(text, Vec::new()).err().map(|e| e.to_string());
        let message = errors.unwrap_or_default();
        assert!(message.starts_with("line 3, column 17: "), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }
}
