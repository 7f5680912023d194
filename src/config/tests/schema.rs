//! The schema's sections and keys, values of the wrong kind, and every key
//! set from the environment.

use super::errors::check;
use super::*;
use crate::config::read::schema;

/// A config with every key set.
const EVERY_KEY: &str = r#"
        [listen]
        mysql = "127.0.0.1:3000"
        mariadb = "127.0.0.1:3001"
        postgres = "[::1]:3010"
        mssql = "127.0.0.1:3020"
        admin = "127.0.0.1:4000"
        [cache]
        max_memory = "2GiB"
        max_entry_size = "1000"
        default_ttl = "1.5s"
        max_connections = 12
        min_ttl = "250ms"
        max_ttl = "2h"
        shutdown_grace = "0s"
        serve_stale = "2m"
        origin_connect_timeout = "3s"
        login_timeout = "7s"
        query_timeout = "45s"
        [admin]
        token = "s3cret"
        [log]
        level = "debug"
        format = "json"
        [limits]
        cache_connections = 50
        queue = 0
        queue_timeout = "2s"
        idle_timeout = "10m"
        [tls]
        client = "require"
        cert_file = "/c/chain.pem"
        key_file = "/c/key.pem"
        allow_cleartext_passwords = true
        [[caches]]
        id = "shop"
        protocol = "mysql"
        origin = "db:3306"
        default = true
        ttl = "5m"
        mode = "manual"
        serve_stale = "10m"
        tls = "verify-full"
        tls_ca_file = "/c/ca.pem"
        tls_server_name = "db.internal"
        tls_client_cert = "/c/client.pem"
        tls_client_key = "/c/client.key"
        auth_file = "/c/userlist.txt"
        user = "app"
        password = "pw"
        auth_user = "pgbouncer"
        auth_query = "SELECT usename, passwd FROM user_lookup($1)"
        [[rules]]
        template = "9f86d081884c7d65"
        pattern = "select *"
        table = "orders"
        cache = "shop"
        action = "always"
        ttl = "1m"
        transactions = "never"
        [cluster]
        url = "rediss://cache.example:6380/0"
        username = "wc"
        password = "pw"
        instance = "a-1"
        mode = "strict"
        prefix = "wc"
        ack_timeout = "1s"
        stale_window = "3s"
        tls_ca_file = "/c/redis-ca.pem"
        l2 = true
        l2_max_entry_size = "256KiB"
        l2_max_ttl = "2m"
        l2_timeout = "15ms"
    "#;

/// Every key of the schema, printed, then set from the environment alone:
/// the same config (each value typed by its field, not by its name).
#[test]
fn every_key_from_the_environment_alone() {
    let config = ok(EVERY_KEY, &[]);
    let (mut vars, mut section) = (Vec::new(), String::new());
    for line in config.to_toml_string().lines() {
        if let Some(array) = line.strip_prefix("[[") {
            section = format!("{}_0", array.trim_end_matches("]]"));
        } else if let Some(name) = line.strip_prefix('[') {
            section = name.trim_end_matches(']').to_owned();
        } else if let Some((key, value)) = line.split_once(" = ") {
            let var = format!("WIRECACHE_{section}_{key}").to_uppercase();
            vars.push((var, value.trim_matches('"').to_owned()));
        }
    }
    let keys: usize = schema().iter().map(|s| s.keys.len()).sum();
    assert_eq!(vars.len(), keys, "{vars:?}");
    let from_env = match from_str("", vars) {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    let token = Some("<redacted>".to_owned());
    let cluster = config.cluster.clone().map(|c| ClusterSettings {
        password: token.clone(),
        ..c
    });
    let mut caches = config.caches.clone();
    for c in &mut caches {
        c.pool.password = token.clone();
    }
    let expected = Config {
        admin: AdminSettings { token },
        cluster,
        caches,
        ..config
    };
    assert_eq!(from_env, expected);
}

#[test]
fn schema_lists_sections_and_keys_in_order() {
    let schema = schema();
    let found: Vec<_> = (schema.iter())
        .map(|s| (s.name.as_str(), s.array, s.keys.len()))
        .collect();
    let expected = [
        ("listen", false, 5),
        ("cache", false, 11),
        ("admin", false, 1),
        ("log", false, 2),
        ("limits", false, 4),
        ("tls", false, 4),
        ("caches", true, 25),
        ("rules", true, 7),
        ("cluster", false, 13),
    ];
    assert_eq!(found, expected);
    assert_eq!(schema[1].keys[..2], ["max_memory", "max_entry_size"]);
    assert_eq!(schema[2].keys, ["token"]);
}

#[test]
fn arrays_and_tables_where_a_value_belongs() {
    check(&[
        (
            "[cache]\nmax_memory = [1]\nDEMO",
            "cache.max_memory: expected a size such as \"512MiB\", found array",
        ),
        (
            "[cache]\ndefault_ttl = 1979-05-27\nDEMO",
            "cache.default_ttl: expected a duration string such as \"30s\", found datetime",
        ),
        (
            "DEMO\n[[caches]]\nid = 1979-05-27\nprotocol = \"mysql\"\norigin = \"h:1\"",
            "caches[1].id: expected a cache ID string, found datetime",
        ),
        (
            "[log]\nlevel = { a = 1 }\nDEMO",
            "log.level: expected \"error\", \"warn\", \"info\", \"debug\" or \"trace\", found table",
        ),
    ]);
}

#[test]
fn cluster_section() {
    assert_eq!(ok("DEMO", &[]).cluster, None);
    let c = ok("DEMO\n[cluster]\nurl = \"redis://:pw@127.0.0.1:6379\"", &[]).cluster;
    let c = c.expect("cluster on");
    assert_eq!(c.mode, ClusterMode::Bounded);
    assert_eq!(c.prefix, "wirecache");
    let printed = format!("{c:?}");
    assert!(!printed.contains("pw@"), "{printed}");
    // From the environment alone; an empty URL turns it off.
    let on = ok(
        "DEMO",
        &[
            ("WIRECACHE_CLUSTER_URL", "redis://h:1"),
            ("WIRECACHE_CLUSTER_MODE", "strict"),
        ],
    );
    assert_eq!(on.cluster.map(|c| c.mode), Some(ClusterMode::Strict));
    assert_eq!(ok("DEMO", &[("WIRECACHE_CLUSTER_URL", "")]).cluster, None);
    check(&[
        (
            "DEMO\n[cluster]\nurl = \"http://h:1\"",
            "cluster.url: invalid URL \"http://h:1\": expected redis:// or rediss:// (TLS)",
        ),
        (
            "DEMO\n[cluster]\nmode = \"strict\"",
            "cluster.mode: set cluster.url as well (without it there is no cluster)",
        ),
        (
            "DEMO\n[cluster]\nurl = \"redis://h:1\"\nmode = \"eventual\"",
            "cluster.mode: invalid cluster mode \"eventual\": expected bounded or strict",
        ),
    ]);
    let printed = ok(
        "DEMO\n[cluster]\nurl = \"redis://u:secret@h:1\"\npassword = \"p2\"",
        &[],
    )
    .to_toml_string();
    assert!(
        !printed.contains("secret") && !printed.contains("p2"),
        "{printed}"
    );
}
