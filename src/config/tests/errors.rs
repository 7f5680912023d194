//! Every kind of configuration error, one case each, plus several mistakes
//! in one config reported together. Errors of `[[rules]]` are in `rules.rs`,
//! which uses [`check`], [`check_env`] and [`check_one`].

use super::{Vars, doc, env, errors, ok};
use crate::config::from_str;

/// A config whose only cache has these values (`id`, `protocol`, `origin`).
fn one_cache(id: &str, protocol: &str, origin: &str) -> String {
    format!("[[caches]]\nid = \"{id}\"\nprotocol = \"{protocol}\"\norigin = \"{origin}\"\n")
}

/// Each config (DEMO: a valid cache) must give exactly one error, containing the text.
pub(super) fn check(cases: &[(&str, &str)]) {
    for (text, expected) in cases {
        check_one(text, &[], expected);
    }
}

/// Each variable, applied to a valid config, must give exactly one error, containing the text.
pub(super) fn check_env(cases: &[(&str, &str, &str)]) {
    for (var, value, expected) in cases {
        check_one("DEMO", &[(var, value)], expected);
    }
}

pub(super) fn check_one(text: &str, vars: Vars, expected: &str) {
    let errs = errors(text, vars);
    assert_eq!(
        errs.len(),
        1,
        "{text:?} {vars:?}: want one error, got {errs:#?}"
    );
    let found = errs[0].contains(expected);
    assert!(found, "{text:?} {vars:?}: {:?} lacks {expected:?}", errs[0]);
}

#[test]
fn unknown_keys_and_syntax() {
    let ssl = one_cache("a", "postgres", "h:1") + "sslmode = \"require\"";
    check(&[
        (
            "[cache]\nmax_memroy = \"1G\"\nDEMO",
            "cache.max_memroy: unknown key (expected one of:",
        ),
        ("colour = 1\nDEMO", "colour: unknown key"),
        (
            "[listen]\npostgres = \"[::]:1\"\noracle = \":2\"\nDEMO",
            "listen.oracle: unknown key",
        ),
        (&ssl, "caches[0].sslmode: unknown key"),
        ("[cache]\nmax_memory = \n", "line 2, column "),
    ]);
}

#[test]
fn wrong_types() {
    let default_yes = one_cache("a", "postgres", "h:1") + "default = \"yes\"";
    check(&[
        ("cache = 5\nDEMO", "cache: expected a table, found integer"),
        (
            "[listen]\npostgres = 9010\nDEMO",
            "listen.postgres: expected an address string",
        ),
        (
            "[cache]\ndefault_ttl = 30\nDEMO",
            "cache.default_ttl: expected a duration string",
        ),
        (
            "[cache]\nmax_memory = 1.5\nDEMO",
            "cache.max_memory: expected a size",
        ),
        (
            "[cache]\nmax_connections = \"9\"\nDEMO",
            "cache.max_connections: expected a positive",
        ),
        (
            "[admin]\ntoken = 42\nDEMO",
            "admin.token: expected a string, found integer",
        ),
        (
            "[cache]\nmin_ttl = 1\nDEMO",
            "cache.min_ttl: expected a duration string such as \"30s\", found integer",
        ),
        (
            "[cache]\nmax_ttl = true\nDEMO",
            "cache.max_ttl: expected a duration string",
        ),
        (
            "[cache]\nlogin_timeout = \"0s\"\nDEMO",
            "cache.login_timeout: invalid duration \"0s\": must be greater than zero",
        ),
        (
            "[cache]\norigin_connect_timeout = \"0s\"\nDEMO",
            "cache.origin_connect_timeout: invalid duration \"0s\": must be greater than zero",
        ),
        (
            "DEMO\nserve_stale = \"soon\"",
            "caches[0].serve_stale: invalid duration \"soon\"",
        ),
        (
            "DEMO\nmode = false",
            "caches[0].mode: expected \"auto\", \"manual\" or \"off\", found boolean",
        ),
        (
            &default_yes,
            "caches[0].default: expected true or false, found string",
        ),
        ("caches = [1]", "caches[0]: expected a table, found integer"),
        (
            "[caches]\nid = \"a\"",
            "caches: expected an array of tables ([[caches]]), found table",
        ),
    ]);
}

#[test]
fn unparsable_values() {
    check(&[
        (
            "[cache]\nmax_memory = \"12XB\"\nDEMO",
            "max_memory: invalid size \"12XB\": unknown unit",
        ),
        (
            "[cache]\nmax_memory = -1\nDEMO",
            "cache.max_memory: invalid size \"-1\": negative",
        ),
        (
            "[cache]\ndefault_ttl = \"30\"\nDEMO",
            "default_ttl: invalid duration \"30\": missing unit",
        ),
        (
            "[cache]\nmax_connections = 0\nDEMO",
            "cache.max_connections: invalid count \"0\"",
        ),
        (
            "[limits]\nqueue = -1\nDEMO",
            "limits.queue: invalid count \"-1\": must not be negative",
        ),
        (
            "[limits]\ncache_connections = 0\nDEMO",
            "limits.cache_connections: invalid count \"0\"",
        ),
        (
            "[limits]\nidle_timeout = \"5\"\nDEMO",
            "limits.idle_timeout: invalid duration \"5\": missing unit",
        ),
        (
            "[listen]\npostgres = \"localhost:1\"\nDEMO",
            "listen.postgres: invalid address",
        ),
        (
            "[admin]\ntoken = \"\"\nDEMO",
            "admin.token: invalid token \"\": empty",
        ),
        (
            "[log]\nlevel = \"loud\"\nDEMO",
            "log.level: invalid log level \"loud\"",
        ),
        (
            "[log]\nformat = \"xml\"\nDEMO",
            "log.format: invalid log format \"xml\"",
        ),
        (
            "[cache]\nmin_ttl = \"1x\"\nDEMO",
            "cache.min_ttl: invalid duration \"1x\": unknown unit",
        ),
        (
            "DEMO\nmode = \"sometimes\"",
            "caches[0].mode: invalid cache mode \"sometimes\": expected auto, manual or off",
        ),
    ]);
}

#[test]
fn ttl_bounds() {
    check(&[
        (
            "[cache]\nmin_ttl = \"0s\"\nDEMO",
            "cache.min_ttl: invalid duration \"0s\": must be greater than zero",
        ),
        (
            "[cache]\nmax_ttl = \"0ms\"\nDEMO",
            "cache.max_ttl: invalid duration \"0ms\": must be greater than zero",
        ),
        (
            "[cache]\nmin_ttl = \"1m\"\nmax_ttl = \"30s\"\nDEMO",
            "cache.min_ttl: 1m is larger than cache.max_ttl (30s)",
        ),
        // Against the default max_ttl (10m) and min_ttl (1s).
        (
            "[cache]\nmin_ttl = \"11m\"\nDEMO",
            "cache.min_ttl: 11m is larger than cache.max_ttl (10m)",
        ),
        (
            "[cache]\nmax_ttl = \"500ms\"\nDEMO",
            "cache.min_ttl: 1s is larger than cache.max_ttl (500ms)",
        ),
        // A zero max_ttl is reported once, not also as smaller than min_ttl.
        (
            "[cache]\nmin_ttl = \"1m\"\nmax_ttl = \"0s\"\nDEMO",
            "cache.max_ttl: invalid duration",
        ),
    ]);
    check_env(&[
        (
            "WIRECACHE_CACHE_MIN_TTL",
            "1h",
            "cache.min_ttl (from WIRECACHE_CACHE_MIN_TTL): 1h is larger than cache.max_ttl (10m)",
        ),
        (
            "WIRECACHE_CACHE_MAX_TTL",
            "0s",
            "cache.max_ttl (from WIRECACHE_CACHE_MAX_TTL): invalid duration \"0s\": must be",
        ),
        (
            "WIRECACHE_CACHES_0_MODE",
            "on",
            "caches[0].mode (from WIRECACHE_CACHES_0_MODE): invalid cache mode \"on\"",
        ),
    ]);
    // Equal bounds are fine.
    let equal = ok("[cache]\nmin_ttl = \"5s\"\nmax_ttl = \"5s\"\nDEMO", &[]);
    assert_eq!(equal.cache.min_ttl, equal.cache.max_ttl);
}

#[test]
fn cache_problems() {
    let pg = one_cache("a", "pg", "h:1");
    let pg_error =
        "caches[0].protocol: unknown protocol \"pg\" (expected postgres, mysql, mariadb or mssql)";
    let no_id = "[[caches]]\nprotocol = \"postgres\"\norigin = \"h:1\"";
    let long_id = one_cache(&"x".repeat(65), "postgres", "h:1");
    let second_default = one_cache("b", "postgres", "h:1") + "default = true";
    let two_defaults = format!("DEMO\ndefault = true\n{second_default}");
    check(&[
        ("", "caches: no caches defined"),
        ("caches = []", "caches: no caches defined"),
        (&pg, pg_error),
        (no_id, "caches[0].id: missing key"),
        (&long_id, "longer than 64 characters"),
        (
            "DEMO\nDEMO",
            "caches[1].id: duplicate cache ID \"demo\" (already used by caches[0])",
        ),
        (
            &two_defaults,
            "caches[1].default: more than one default cache (caches[0] is already",
        ),
        (
            "[cache]\nmax_memory = \"1MiB\"\nDEMO",
            "cache.max_entry_size: 4194304 bytes is larger",
        ),
        (
            "[listen]\nmysql = \"[::]:1\"\nDEMO",
            "caches[0].protocol: protocol postgres has no listener",
        ),
    ]);
    check_env(&[(
        "WIRECACHE_LISTEN_POSTGRES",
        "off",
        "protocol postgres has no listener",
    )]);
}

#[test]
fn invalid_cache_ids() {
    for (id, reason) in [
        ("", "empty"),
        (
            "my cache",
            "only ASCII letters, digits, '-' and '_' are allowed",
        ),
        ("démo", "only ASCII letters"),
        ("a.b", "only ASCII letters"),
        ("a:b", "only ASCII letters"),
    ] {
        let expected = format!("caches[0].id: invalid cache ID {id:?}: {reason}");
        check(&[(&one_cache(id, "postgres", "h:1"), &expected)]);
    }
}

#[test]
fn invalid_origins() {
    for (origin, reason) in [
        ("localhost", "missing :port"),
        ("db:0", "the port must be a number from 1 to 65535"),
        ("db:65536", "the port must be"),
        ("db:+5432", "the port must be"),
        ("db:54x", "the port must be"),
        ("db:", "the port must be"),
        (":5432", "missing host"),
        ("::1:5432", "an IPv6 address must be in brackets"),
        ("[::1:5432", "unclosed '['"),
        ("[db]:5432", "invalid IPv6 address"),
        (
            "d b:5432",
            "the host has characters not allowed in a host name",
        ),
        ("db/x:5432", "the host has characters not allowed"),
    ] {
        let expected = format!("caches[0].origin: origin {origin:?} is not host:port: {reason}");
        check(&[(&one_cache("a", "postgres", origin), &expected)]);
    }
}

#[test]
fn environment_problems() {
    check_env(&[
        (
            "WIRECACHE_CACHE_MAX_MEMROY",
            "1GiB",
            "WIRECACHE_CACHE_MAX_MEMROY: unknown environment",
        ),
        (
            "WIRECACHE_CACHE_MAX_MEMORY",
            "lots",
            "cache.max_memory (from WIRECACHE_CACHE_MAX_MEMORY): invalid size \"lots\"",
        ),
        (
            "WIRECACHE_CACHES_0_DEFAULT",
            "yes",
            "caches[0].default (from WIRECACHE_CACHES_0_DEFAULT): invalid value \"yes\": expected true or false",
        ),
        (
            "WIRECACHE_CACHE_MAX_CONNECTIONS",
            "x",
            "cache.max_connections (from WIRECACHE_CACHE_MAX_CONNECTIONS): invalid value \"x\": expected a positive integer",
        ),
        (
            "WIRECACHE_CACHES_2_ID",
            "x",
            "WIRECACHE_CACHES_2_ID: cache index 2 leaves a gap (the next new cache is index 1)",
        ),
        (
            "WIRECACHE_CACHES_0_PROTOCOL",
            "pg",
            "caches[0].protocol (from WIRECACHE_CACHES_0_PROTOCOL): unknown protocol",
        ),
    ]);
    let new_cache = [
        ("WIRECACHE_CACHES_1_ID", "b"),
        ("WIRECACHE_CACHES_1_PROTOCOL", "mysql"),
    ];
    check_one("DEMO", &new_cache, "caches[1].origin: missing key");
    let both = errors(
        "[cache]\ndefault_ttl = \"1\"\nDEMO",
        &[("WIRECACHE_X", "1")],
    );
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(both[0].starts_with("WIRECACHE_X: unknown environment variable"));
    assert!(both[1].starts_with("cache.default_ttl: invalid duration"));
}

#[test]
fn accepted_ids_and_origins() {
    let long = "x".repeat(64);
    for id in [
        "demo",
        "A-1_b",
        "6f1c2a9e-0b7d-4c1e-9a52-3f7e8d0c4b21",
        &long,
    ] {
        assert_eq!(ok(&one_cache(id, "postgres", "h:1"), &[]).caches[0].id, id);
    }
    for origin in [
        "db:5432",
        "db.example.com:1",
        "10.0.0.7:65535",
        "[::1]:5432",
        "my_host:3306",
    ] {
        assert_eq!(
            ok(&one_cache("a", "postgres", origin), &[]).caches[0].origin,
            origin
        );
    }
}

#[test]
fn five_mistakes_reported_together() {
    let text = r#"
        [cache]
        max_memroy = "1GiB"
        default_ttl = "soon"

        [[caches]]
        id = "demo"
        protocol = "pg"
        origin = "127.0.0.1:5432"

        [[caches]]
        id = "demo"
        protocol = "mysql"
        origin = "mysql-host"
    "#;
    let result = from_str(&doc(text), env(&[]));
    let Err(errors) = result else {
        panic!("expected errors, got {result:?}");
    };
    let text = errors.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert_eq!(errors.len(), 5);
    for expected in [
        "cache.max_memroy: unknown key",
        "cache.default_ttl: invalid duration \"soon\"",
        "caches[0].protocol: unknown protocol \"pg\"",
        "caches[1].origin: origin \"mysql-host\" is not host:port",
        "caches[1].id: duplicate cache ID \"demo\"",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(expected)),
            "{expected:?} not in:\n{text}"
        );
    }
}
