//! `[tls]` (towards clients) and the origin TLS keys of `[[caches]]`: from the file,
//! from the environment, their errors, and printing them back.

use std::path::PathBuf;

use super::errors::{check, check_env};
use super::ok;
use crate::config::{ClientTls, OriginTlsMode, OriginTlsSettings, TlsSettings};

#[test]
fn defaults_serve_tls_clients_and_prefer_tls_origins() {
    let config = ok("DEMO", &[]);
    assert_eq!(config.tls.client, ClientTls::Allow);
    assert_eq!(config.tls.cert_files, None);
    assert!(!config.tls.allow_cleartext_passwords);
    assert_eq!(config.caches[0].tls, OriginTlsSettings::default());
    assert_eq!(config.caches[0].tls.mode, OriginTlsMode::Prefer);
}

#[test]
fn every_key_from_the_file() {
    let config = ok(
        "[tls]\nclient = \"require\"\ncert_file = \"/etc/wc/chain.pem\"\nkey_file = \"/etc/wc/key.pem\"\n\
         allow_cleartext_passwords = true\nDEMO\ntls = \"verify-full\"\n\
         tls_ca_file = \"/etc/wc/rds.pem\"\ntls_server_name = \"db.example.internal\"\n\
         tls_client_cert = \"/c.pem\"\ntls_client_key = \"/c.key\"",
        &[],
    );
    assert_eq!(
        config.tls,
        TlsSettings {
            client: ClientTls::Require,
            cert_files: Some(("/etc/wc/chain.pem".into(), "/etc/wc/key.pem".into())),
            allow_cleartext_passwords: true,
        }
    );
    assert_eq!(
        config.caches[0].tls,
        OriginTlsSettings {
            mode: OriginTlsMode::VerifyFull,
            ca_file: Some(PathBuf::from("/etc/wc/rds.pem")),
            server_name: Some("db.example.internal".into()),
            client_cert: Some(("/c.pem".into(), "/c.key".into())),
        }
    );
    for (name, mode) in [
        ("disable", OriginTlsMode::Disable),
        ("PREFER", OriginTlsMode::Prefer),
        ("require", OriginTlsMode::Require),
        ("verify-ca", OriginTlsMode::VerifyCa),
    ] {
        let c = ok(&format!("DEMO\ntls = \"{name}\""), &[]);
        assert_eq!(c.caches[0].tls.mode, mode);
    }
}

#[test]
fn every_key_from_the_environment() {
    let config = ok(
        "DEMO",
        &[
            ("WIRECACHE_TLS_CLIENT", "off"),
            ("WIRECACHE_TLS_CERT_FILE", "/a.pem"),
            ("WIRECACHE_TLS_KEY_FILE", "/a.key"),
            ("WIRECACHE_TLS_ALLOW_CLEARTEXT_PASSWORDS", "TRUE"),
            ("WIRECACHE_CACHES_0_TLS", "verify-ca"),
            ("WIRECACHE_CACHES_0_TLS_CA_FILE", "/rds-global-bundle.pem"),
            ("WIRECACHE_CACHES_0_TLS_SERVER_NAME", "db.internal"),
        ],
    );
    assert_eq!(config.tls.client, ClientTls::Off);
    assert!(config.tls.allow_cleartext_passwords);
    assert_eq!(
        config.tls.cert_files,
        Some(("/a.pem".into(), "/a.key".into()))
    );
    let tls = &config.caches[0].tls;
    assert_eq!(tls.mode, OriginTlsMode::VerifyCa);
    assert_eq!(
        tls.ca_file.as_deref(),
        Some("/rds-global-bundle.pem".as_ref())
    );
    assert_eq!(tls.server_name.as_deref(), Some("db.internal"));
}

#[test]
fn errors_name_the_key() {
    check(&[
        (
            "[tls]\nclient = \"maybe\"\nDEMO",
            "tls.client: invalid TLS mode \"maybe\": expected off, allow or require",
        ),
        (
            "[tls]\ncert_file = \"/a.pem\"\nDEMO",
            "tls.cert_file: set tls.key_file as well",
        ),
        (
            "[tls]\nkey_file = \"/a.key\"\nDEMO",
            "tls.key_file: set tls.cert_file as well",
        ),
        (
            "[tls]\ncert_file = \"\"\nkey_file = \"/k\"\nDEMO",
            "tls.cert_file: invalid file path \"\": empty",
        ),
        ("[tls]\nclient = true\nDEMO", "tls.client: expected \"off\""),
        (
            "[tls]\nallow_cleartext_passwords = \"yes\"\nDEMO",
            "tls.allow_cleartext_passwords: expected true or false",
        ),
        ("[tls]\nsslmode = 1\nDEMO", "tls.sslmode: unknown key"),
        (
            "DEMO\ntls = \"verify_full\"",
            "caches[0].tls: invalid TLS mode \"verify_full\": expected disable, prefer",
        ),
        (
            "DEMO\ntls_client_key = \"/k\"",
            "caches[0].tls_client_key: set caches[0].tls_client_cert as well",
        ),
        (
            "DEMO\ntls_server_name = \"db.internal:5432\"",
            "caches[0].tls_server_name: invalid server name",
        ),
    ]);
    check_env(&[
        (
            "WIRECACHE_TLS_ALLOW_CLEARTEXT_PASSWORDS",
            "sure",
            "tls.allow_cleartext_passwords (from WIRECACHE_TLS_ALLOW_CLEARTEXT_PASSWORDS): invalid value \"sure\": expected true or false",
        ),
        (
            "WIRECACHE_CACHES_0_TLS",
            "on",
            "caches[0].tls (from WIRECACHE_CACHES_0_TLS): invalid TLS mode \"on\"",
        ),
        (
            "WIRECACHE_TLS_CERT_FILE",
            "/a.pem",
            "tls.cert_file (from WIRECACHE_TLS_CERT_FILE): set tls.key_file as well",
        ),
    ]);
}

#[test]
fn printed_tls_settings_read_back_the_same() {
    let config = ok(
        "[tls]\nclient = \"require\"\ncert_file = \"/x/chain.pem\"\nkey_file = \"/x/key.pem\"\n\
         DEMO\ntls = \"verify-full\"\ntls_ca_file = \"/x/ca.pem\"\ntls_server_name = \"db\"\n\
         tls_client_cert = \"/x/c.pem\"\ntls_client_key = \"/x/c.key\"",
        &[],
    );
    let printed = config.to_toml_string();
    assert!(printed.contains("[tls]\nclient = \"require\""), "{printed}");
    assert!(printed.contains("tls = \"verify-full\""), "{printed}");
    assert_eq!(ok(&printed, &[]), config);
    let plain = ok("DEMO", &[]).to_toml_string();
    assert!(
        plain.contains("# no cert_file/key_file: a self-signed certificate"),
        "{plain}"
    );
    assert!(plain.contains("tls = \"prefer\""), "{plain}");
    assert_eq!(ok(&plain, &[]), ok("DEMO", &[]));
}
