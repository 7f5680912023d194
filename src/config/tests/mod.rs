//! Tests of loading as a whole: defaults, environment overrides and printing
//! the effective config; `errors` covers every kind of error, `rules` the
//! `[[rules]]` array, `schema` the schema's keys, values of the wrong kind and
//! every key from the environment.

mod errors;
mod rules;
mod schema;
mod tls;

use std::net::SocketAddr;
use std::time::Duration;

use super::*;

const DEMO: &str =
    "[[caches]]\nid = \"demo\"\nprotocol = \"postgres\"\norigin = \"127.0.0.1:5432\"\n";

pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `doc` with the word DEMO replaced by a valid postgres cache.
pub(super) fn doc(text: &str) -> String {
    text.replace("DEMO", DEMO)
}

pub(super) fn ok(text: &str, vars: &[(&str, &str)]) -> Config {
    match from_str(&doc(text), env(vars)) {
        Ok(config) => config,
        Err(errors) => panic!("unexpected errors for {text:?}:\n{errors}"),
    }
}

pub(super) fn errors(text: &str, vars: &[(&str, &str)]) -> Vec<String> {
    match from_str(&doc(text), env(vars)) {
        Ok(config) => panic!("expected errors for {text:?}, got {config:?}"),
        Err(errors) => errors.errors().iter().map(ToString::to_string).collect(),
    }
}

/// Environment variables of a test case.
pub(super) type Vars<'a> = &'a [(&'a str, &'a str)];

fn addr(s: &str) -> Option<SocketAddr> {
    s.parse().ok()
}

#[test]
fn defaults() {
    let config = ok("DEMO", &[]);
    assert_eq!(config.listen, Listen::standard());
    assert_eq!(config.listen.postgres, addr("0.0.0.0:9010"));
    assert_eq!(config.listen.admin, addr("0.0.0.0:10000"));
    assert_eq!(config.cache.max_memory, 512 * MIB);
    assert_eq!(config.cache.max_entry_size, 4 * MIB);
    assert_eq!(config.cache.default_ttl, Duration::from_secs(30));
    assert_eq!(config.cache.max_connections, 10_000);
    assert_eq!(config.cache.min_ttl, Duration::from_secs(1));
    assert_eq!(config.cache.max_ttl, Duration::from_secs(600));
    assert_eq!(config.cache.min_ttl, DEFAULT_MIN_TTL);
    assert_eq!(config.cache.max_ttl, DEFAULT_MAX_TTL);
    assert_eq!(config.cache.shutdown_grace, Duration::from_secs(25));
    assert_eq!(config.log.level, LogLevel::Info);
    assert_eq!(config.log.format, LogFormat::Text);
    assert!(!config.caches[0].default);
    assert_eq!(config.caches[0].mode, CacheMode::Auto);
    assert_eq!(config.default_cache(), None);
    assert!(config.rules.is_empty());

    let only_postgres = ok("[listen]\npostgres = \"127.0.0.1:6000\"\nDEMO", &[]);
    let expected = Listen {
        postgres: addr("127.0.0.1:6000"),
        ..Listen::none()
    };
    assert_eq!(only_postgres.listen, expected);
}

#[test]
fn all_keys_from_file() {
    let text = r#"
        [listen]
        mysql = "[::1]:3000"
        [cache]
        max_memory = 1048576
        max_entry_size = "64KiB"
        default_ttl = "1.5s"
        max_connections = 20
        min_ttl = "250ms"
        max_ttl = "1h"
        shutdown_grace = "0s"
        [admin]
        token = "s3cret"
        [log]
        level = "TRACE"
        format = "json"
        [[caches]]
        id = "6f1c2a9e-0b7d-4c1e-9a52-3f7e8d0c4b21"
        protocol = "MySQL"
        origin = "db.internal.example:3306"
        ttl = "2m"
        mode = "Manual"
    "#;
    let config = ok(text, &[]);
    assert_eq!(config.listen.mysql, addr("[::1]:3000"));
    assert_eq!(config.cache.max_memory, MIB);
    assert_eq!(config.cache.max_entry_size, 64 * KIB);
    assert_eq!(config.cache.default_ttl, Duration::from_millis(1500));
    assert_eq!(config.cache.max_connections, 20);
    assert_eq!(config.cache.min_ttl, Duration::from_millis(250));
    assert_eq!(config.cache.max_ttl, Duration::from_secs(3600));
    assert_eq!(config.cache.shutdown_grace, Duration::ZERO);
    assert_eq!(config.admin.token.as_deref(), Some("s3cret"));
    assert_eq!(config.log.level, LogLevel::Trace);
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.caches[0].protocol, Protocol::MySql);
    assert_eq!(config.caches[0].ttl, Some(Duration::from_secs(120)));
    assert_eq!(config.caches[0].mode, CacheMode::Manual);
}

#[test]
fn env_overrides_each_key() {
    // (variable, value, a line of the effective config it must produce)
    let cases = [
        (
            "WIRECACHE_LISTEN_POSTGRES",
            "127.0.0.1:7000",
            "postgres = \"127.0.0.1:7000\"",
        ),
        ("WIRECACHE_LISTEN_MSSQL", "off", "# mssql: not started"),
        ("WIRECACHE_LISTEN_ADMIN", "", "# admin: not started"),
        (
            "WIRECACHE_CACHE_MAX_MEMORY",
            "1GiB",
            "max_memory = \"1GiB\"",
        ),
        (
            "WIRECACHE_CACHE_MAX_ENTRY_SIZE",
            "1000",
            "max_entry_size = \"1KB\"",
        ),
        (
            "WIRECACHE_CACHE_DEFAULT_TTL",
            "10s",
            "default_ttl = \"10s\"",
        ),
        (
            "WIRECACHE_CACHE_MAX_CONNECTIONS",
            "50",
            "max_connections = 50",
        ),
        ("WIRECACHE_CACHE_MIN_TTL", "2s", "min_ttl = \"2s\""),
        ("WIRECACHE_CACHE_MAX_TTL", "1.5m", "max_ttl = \"90s\""),
        ("WIRECACHE_ADMIN_TOKEN", "t0k", "token = \"<redacted>\""),
        ("WIRECACHE_LOG_LEVEL", "debug", "level = \"debug\""),
        ("WIRECACHE_LOG", "warn", "level = \"warn\""),
        ("WIRECACHE_LOG_FORMAT", "json", "format = \"json\""),
        ("WIRECACHE_CACHES_0_ID", "other", "id = \"other\""),
        (
            "WIRECACHE_CACHES_0_PROTOCOL",
            "mysql",
            "protocol = \"mysql\"",
        ),
        (
            "WIRECACHE_CACHES_0_ORIGIN",
            "db:5433",
            "origin = \"db:5433\"",
        ),
        ("WIRECACHE_CACHES_0_DEFAULT", "true", "default = true"),
        ("WIRECACHE_CACHES_0_TTL", "5m", "ttl = \"5m\""),
        ("WIRECACHE_CACHES_0_MODE", "off", "mode = \"off\""),
    ];
    for (var, value, line) in cases {
        let printed = ok("DEMO", &[(var, value)]).to_toml_string();
        let found = printed.lines().any(|l| l == line);
        assert!(found, "{var}={value}: no {line:?} in\n{printed}");
    }
}

#[test]
fn env_overrides_combine_with_the_file() {
    let vars = [
        ("WIRECACHE_LISTEN_POSTGRES", "127.0.0.1:7000"),
        ("WIRECACHE_CACHE_MAX_MEMORY", "8MiB"),
        ("WIRECACHE_ADMIN_TOKEN", "t0k"),
        ("WIRECACHE_LOG", "trace"),
        ("WIRECACHE_LOG_LEVEL", "error"),
        ("WIRECACHE_CACHES_1_ORIGIN", "mysql.local:3306"),
        ("WIRECACHE_CACHES_1_PROTOCOL", "mysql"),
        ("WIRECACHE_CACHES_1_ID", "shop"),
        ("WIRECACHE_CONFIG", "/nonexistent.toml"),
        ("PATH", "/bin"),
        ("WIRECACHEX", "1"),
    ];
    let config = ok(
        "[cache]\nmax_memory = \"1MiB\"\ndefault_ttl = \"1m\"\nDEMO",
        &vars,
    );
    // Overridden keys change, the rest keep their file or default values.
    assert_eq!(config.listen.postgres, addr("127.0.0.1:7000"));
    assert_eq!(config.listen.mysql, addr("0.0.0.0:9000"));
    assert_eq!(config.cache.max_memory, 8 * MIB);
    assert_eq!(config.cache.default_ttl, Duration::from_secs(60));
    assert_eq!(config.admin.token.as_deref(), Some("t0k"));
    // WIRECACHE_LOG_LEVEL wins over its alias WIRECACHE_LOG.
    assert_eq!(config.log.level, LogLevel::Error);
    let ids: Vec<_> = config.caches.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["demo", "shop"]);
    assert_eq!(config.caches[1].protocol, Protocol::MySql);
    assert_eq!(config.caches[1].origin, "mysql.local:3306");
}

#[test]
fn caches_from_env_alone() {
    let vars = [
        ("WIRECACHE_CACHES_0_ID", "demo"),
        ("WIRECACHE_CACHES_0_PROTOCOL", "postgres"),
        ("WIRECACHE_CACHES_0_ORIGIN", "db:5432"),
        ("WIRECACHE_CACHES_0_DEFAULT", "true"),
        ("WIRECACHE_CACHES_10_ID", "ten"),
        ("WIRECACHE_CACHES_1_ID", "maria"),
        ("WIRECACHE_CACHES_1_PROTOCOL", "mariadb"),
        ("WIRECACHE_CACHES_1_ORIGIN", "maria:3306"),
    ];
    // Index 10 would leave a gap: the only error.
    let errs = errors("", &vars);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("WIRECACHE_CACHES_10_ID: cache index 10 leaves a gap"));

    let config = match load(None, env(&vars[..4]).into_iter().chain(env(&vars[5..]))) {
        Ok(config) => config,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(config.listen, Listen::standard());
    let ids: Vec<_> = config.caches.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["demo", "maria"]);
    assert_eq!(config.caches[0].origin, "db:5432");
    assert!(config.caches[0].default);
    assert_eq!(config.caches[1].protocol, Protocol::MariaDb);
}

#[test]
fn load_reads_files() {
    let path = std::env::temp_dir().join(format!("wirecache-config-{}.toml", std::process::id()));
    let written = std::fs::write(&path, doc("[cache]\ndefault_ttl = \"1m\"\nDEMO"));
    assert!(written.is_ok());
    let by_arg = load(Some(&path), Vec::new()).map(|c| c.cache.default_ttl);
    let by_env = load(None, env(&[("WIRECACHE_CONFIG", &path.to_string_lossy())]))
        .map(|c| c.cache.default_ttl);
    let _ = std::fs::remove_file(&path);
    assert_eq!(by_arg.ok(), Some(Duration::from_secs(60)));
    assert_eq!(by_env.ok(), Some(Duration::from_secs(60)));

    let missing = load(
        Some(std::path::Path::new("/nonexistent/wirecache.toml")),
        Vec::new(),
    );
    match missing {
        Err(e) => assert!(matches!(e.errors(), [ConfigError::Read { .. }]), "{e}"),
        Ok(c) => panic!("{c:?}"),
    }
}

#[test]
fn protocols() {
    let names = ["postgres", "mysql", "mariadb", "mssql"];
    for (protocol, name) in Protocol::ALL.into_iter().zip(names) {
        assert_eq!(protocol.as_str(), name);
        assert_eq!(Protocol::parse(name), Some(protocol));
        let text = format!("[[caches]]\nid = \"a\"\nprotocol = \"{name}\"\norigin = \"h:1\"");
        assert_eq!(ok(&text, &[]).caches[0].protocol, protocol);
    }
    assert_eq!(Protocol::parse("pg"), None);
}

#[test]
fn cache_modes() {
    let names = ["auto", "manual", "off"];
    for (mode, name) in CacheMode::ALL.into_iter().zip(names) {
        assert_eq!(mode.as_str(), name);
        assert_eq!(mode.to_string(), name);
        assert_eq!(CacheMode::parse(name), Some(mode));
        assert_eq!(CacheMode::parse(&name.to_uppercase()), Some(mode));
        assert_eq!(
            ok(&format!("DEMO\nmode = \"{name}\""), &[]).caches[0].mode,
            mode
        );
    }
    assert_eq!(CacheMode::default(), CacheMode::Auto);
    assert_eq!(CacheMode::parse("on"), None);
}

#[test]
fn printing_redacts_and_round_trips() {
    let text = r#"
        [listen]
        postgres = "127.0.0.1:9010"
        mysql = "[::]:9000"
        [cache]
        max_memory = "100MB"
        default_ttl = "1.5s"
        min_ttl = "500ms"
        max_ttl = "2h"
        [admin]
        token = "hunter2"
        [log]
        format = "json"
        DEMO
        default = true
        ttl = "2m"
        [[caches]]
        id = "shop"
        protocol = "mysql"
        origin = "db.example:3306"
        mode = "manual"
        [[rules]]
        template = "9F86D081884C7D65"
        ttl = "10s"
        [[rules]]
        pattern = "select * from \"Orders\" where note = 'a\\b'"
        table = "public.orders"
        cache = "shop"
        action = "never"
        [[rules]]
        table = "prices"
        action = "ALWAYS"
        [[rules]]
        cache = "demo"
        action = "always"
        ttl = "1m"
    "#;
    let config = ok(text, &[]);
    let printed = config.to_toml_string();
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(printed.contains("token = \"<redacted>\""), "{printed}");
    assert!(printed.contains("max_memory = \"100MB\""), "{printed}");
    assert!(printed.contains("# mssql: not started"), "{printed}");
    assert!(
        printed.contains("template = \"9f86d081884c7d65\""),
        "{printed}"
    );
    assert!(printed.contains("mode = \"manual\""), "{printed}");
    assert_eq!(config.rules.len(), 4);
    assert_eq!(config.caches[1].mode, CacheMode::Manual);
    let reread = ok(&printed, &[]);
    let expected = Config {
        admin: AdminSettings {
            token: Some("<redacted>".to_owned()),
        },
        ..config.clone()
    };
    assert_eq!(reread, expected);

    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");

    let without_token = ok("DEMO", &[]).to_toml_string();
    assert!(without_token.contains("# token not set"), "{without_token}");
}

#[test]
fn printing_escapes_what_toml_strings_cannot_hold() {
    let pattern = "select \"a\\b\"\t\u{7f}\u{1}\u{85} é ?";
    let mut config = ok("DEMO\n[[rules]]\ntable = \"t\"\naction = \"never\"", &[]);
    config.rules[0].pattern = Some(pattern.to_owned());
    let printed = config.to_toml_string();
    assert!(printed.contains("\\u007F"), "{printed}");
    assert_eq!(ok(&printed, &[]).rules[0].pattern.as_deref(), Some(pattern));
}
