//! Prints the effective configuration as TOML (for `wirecache check-config`),
//! with the admin token redacted. The output reads back to the same config.

use std::fmt::Write;
use std::net::SocketAddr;

use super::rules::{RuleDef, format_template_id};
use super::size::{format_duration, format_size};
use super::types::{CacheDef, Config};

impl Config {
    /// The effective configuration as TOML; the admin token shows as `<redacted>`.
    pub fn to_toml_string(&self) -> String {
        let mut out = String::new();
        let l = &self.listen;
        out.push_str("[listen]\n");
        for (key, addr) in [
            ("mysql", l.mysql),
            ("mariadb", l.mariadb),
            ("postgres", l.postgres),
            ("mssql", l.mssql),
            ("admin", l.admin),
        ] {
            push_listener(&mut out, key, addr);
        }
        let c = &self.cache;
        out.push_str("\n[cache]\n");
        push_str(&mut out, "max_memory", &format_size(c.max_memory));
        push_str(&mut out, "max_entry_size", &format_size(c.max_entry_size));
        push_str(&mut out, "default_ttl", &format_duration(c.default_ttl));
        let _ = writeln!(out, "max_connections = {}", c.max_connections);
        push_str(&mut out, "min_ttl", &format_duration(c.min_ttl));
        push_str(&mut out, "max_ttl", &format_duration(c.max_ttl));
        push_str(
            &mut out,
            "shutdown_grace",
            &format_duration(c.shutdown_grace),
        );
        out.push_str("\n[admin]\n");
        match self.admin.token {
            Some(_) => push_str(&mut out, "token", "<redacted>"),
            None => out.push_str("# token not set: mutating endpoints are refused\n"),
        }
        out.push_str("\n[log]\n");
        push_str(&mut out, "level", self.log.level.as_str());
        push_str(&mut out, "format", self.log.format.as_str());
        out.push_str("\n[tls]\n");
        push_str(&mut out, "client", self.tls.client.as_str());
        match &self.tls.cert_files {
            Some((cert, key)) => {
                push_str(&mut out, "cert_file", &cert.display().to_string());
                push_str(&mut out, "key_file", &key.display().to_string());
            }
            None => out.push_str("# no cert_file/key_file: a self-signed certificate\n"),
        }
        let _ = writeln!(
            out,
            "allow_cleartext_passwords = {}",
            self.tls.allow_cleartext_passwords
        );
        for cache in &self.caches {
            push_cache(&mut out, cache);
        }
        for rule in &self.rules {
            push_rule(&mut out, rule);
        }
        out
    }
}

fn push_listener(out: &mut String, key: &str, addr: Option<SocketAddr>) {
    match addr {
        Some(addr) => push_str(out, key, &addr.to_string()),
        None => {
            let _ = writeln!(out, "# {key}: not started");
        }
    }
}

fn push_cache(out: &mut String, cache: &CacheDef) {
    out.push_str("\n[[caches]]\n");
    push_str(out, "id", &cache.id);
    push_str(out, "protocol", cache.protocol.as_str());
    push_str(out, "origin", &cache.origin);
    let _ = writeln!(out, "default = {}", cache.default);
    if let Some(ttl) = cache.ttl {
        push_str(out, "ttl", &format_duration(ttl));
    }
    push_str(out, "mode", cache.mode.as_str());
    let tls = &cache.tls;
    push_str(out, "tls", tls.mode.as_str());
    if let Some(ca) = &tls.ca_file {
        push_str(out, "tls_ca_file", &ca.display().to_string());
    }
    if let Some(name) = &tls.server_name {
        push_str(out, "tls_server_name", name);
    }
    if let Some((cert, key)) = &tls.client_cert {
        push_str(out, "tls_client_cert", &cert.display().to_string());
        push_str(out, "tls_client_key", &key.display().to_string());
    }
}

fn push_rule(out: &mut String, rule: &RuleDef) {
    out.push_str("\n[[rules]]\n");
    if let Some(template) = rule.template {
        push_str(out, "template", &format_template_id(template));
    }
    let matchers = [
        ("pattern", &rule.pattern),
        ("table", &rule.table),
        ("cache", &rule.cache),
    ];
    for (key, value) in matchers {
        if let Some(value) = value {
            push_str(out, key, value);
        }
    }
    push_str(out, "action", rule.action.as_str());
    if let Some(ttl) = rule.action.ttl() {
        push_str(out, "ttl", &format_duration(ttl));
    }
}

/// `key = "value"`, with the value escaped as a TOML basic string.
fn push_str(out: &mut String, key: &str, value: &str) {
    let _ = write!(out, "{key} = \"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push_str("\"\n");
}
