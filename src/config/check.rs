//! From the file as read to a [`Config`]: required keys, keys that go in pairs,
//! and the checks across keys (TTL bounds, unique cache IDs, one default cache,
//! a listener per protocol, rules' caches and actions). A value already
//! reported invalid is not reported again through another check.

use std::collections::HashSet;
use std::path::PathBuf;

use super::error::{ConfigError, ConfigErrors};
use super::read::{Ctx, join};
use super::rules::{MATCHER_KEYS, NO_MATCHER, RuleDef, rule_action};
use super::schema::{CacheEntry, File, RuleEntry};
use super::size::format_duration;
use super::types::{CacheDef, CacheSettings, Config, Listen, OriginTlsSettings, TlsSettings};

/// Checks `file` and builds the config, or returns every problem `ctx` holds.
pub(super) fn config(file: File, ctx: Ctx) -> Result<Config, ConfigErrors> {
    cache_bounds(&file.cache, &ctx);
    let t = file.tls;
    let cert_files = pair(
        &ctx,
        "tls",
        ("cert_file", t.cert_file),
        ("key_file", t.key_file),
    );
    let (client, allow_cleartext_passwords) = (t.client, t.allow_cleartext_passwords);
    let tls = TlsSettings {
        client,
        cert_files,
        allow_cleartext_passwords,
    };
    let caches = caches(&file.caches, &file.listen, &ctx);
    let rules = rules(&file.rules, &file.caches, &ctx);
    let errors = ctx.into_errors();
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let (listen, cache, admin, log) = (file.listen, file.cache, file.admin, file.log);
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

fn cache_bounds(c: &CacheSettings, ctx: &Ctx) {
    let valid = |keys: [&str; 2]| keys.iter().all(|k| !ctx.is_invalid(&join("cache", k)));
    if valid(["max_memory", "max_entry_size"]) && c.max_entry_size > c.max_memory {
        let (size, memory) = (c.max_entry_size, c.max_memory);
        let message = format!("{size} bytes is larger than cache.max_memory ({memory} bytes)");
        ctx.invalid("cache", "cache.max_entry_size", message);
    }
    if valid(["min_ttl", "max_ttl"]) && c.min_ttl > c.max_ttl {
        let (min, max) = (format_duration(c.min_ttl), format_duration(c.max_ttl));
        let message = format!("{min} is larger than cache.max_ttl ({max})");
        ctx.invalid("cache", "cache.min_ttl", message);
    }
}

/// Whether `key` of the table at `at` was written (valid or not).
fn given(ctx: &Ctx, at: &str, key: &str, valid: bool) -> bool {
    valid || ctx.is_invalid(&join(at, key))
}

/// Two file keys that go together: both, or neither (the one set is reported).
fn pair(
    ctx: &Ctx,
    at: &str,
    (first, a): (&str, Option<PathBuf>),
    (second, b): (&str, Option<PathBuf>),
) -> Option<(PathBuf, PathBuf)> {
    let given = (
        given(ctx, at, first, a.is_some()),
        given(ctx, at, second, b.is_some()),
    );
    let (present, absent) = match given {
        (true, false) => (first, second),
        (false, true) => (second, first),
        _ => return a.zip(b),
    };
    let absent = join(at, absent);
    let message = format!("set {absent} as well (a certificate needs its private key)");
    ctx.invalid(at, &join(at, present), message);
    None
}

/// A key every entry must have; reported missing unless reported invalid.
fn required<T: Clone>(ctx: &Ctx, at: &str, key: &str, value: &Option<T>) -> Option<T> {
    if !given(ctx, at, key, value.is_some()) {
        ctx.push(
            at,
            ConfigError::MissingKey {
                path: join(at, key),
            },
        );
    }
    value.clone()
}

/// The `[[caches]]` entries, each checked, and checked against those before it.
fn caches(entries: &[CacheEntry], listen: &Listen, ctx: &Ctx) -> Vec<CacheDef> {
    if entries.is_empty() && !ctx.is_invalid("caches") {
        ctx.push("caches", ConfigError::NoCaches);
    }
    let mut defs = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let at = &format!("caches[{i}]");
        if !ctx.is_invalid(at) {
            let def = cache_def(ctx, at, e);
            across(ctx, at, e, entries.get(..i).unwrap_or_default(), listen);
            defs.extend(def);
        }
    }
    defs
}

/// A unique ID, at most one default cache, and a listener for the protocol.
fn across(ctx: &Ctx, at: &str, e: &CacheEntry, before: &[CacheEntry], listen: &Listen) {
    let first = |f: &dyn Fn(&CacheEntry) -> bool| {
        (before.iter().position(f)).map(|j| format!("caches[{j}]"))
    };
    if let Some(id) = &e.id
        && let Some(first) = first(&|c| c.id.as_ref() == Some(id))
    {
        let message = format!("duplicate cache ID {id:?} (already used by {first})");
        ctx.invalid(at, &join(at, "id"), message);
    }
    if let Some(first) = first(&|c| c.default).filter(|_| e.default) {
        let message = format!("more than one default cache ({first} is already the default)");
        ctx.invalid(at, &join(at, "default"), message);
    }
    if let Some(p) = e.protocol
        && listen.for_protocol(p).is_none()
        && !ctx.is_invalid(&format!("listen.{p}"))
        && !ctx.is_invalid("listen")
    {
        let message = format!("protocol {p} has no listener (set listen.{p})");
        ctx.invalid(at, &join(at, "protocol"), message);
    }
}

/// The cache an entry defines, once its required keys and key pair are checked.
fn cache_def(ctx: &Ctx, at: &str, e: &CacheEntry) -> Option<CacheDef> {
    let id = required(ctx, at, "id", &e.id);
    let protocol = required(ctx, at, "protocol", &e.protocol);
    let origin = required(ctx, at, "origin", &e.origin);
    let cert = ("tls_client_cert", e.tls_client_cert.clone());
    let client_cert = pair(ctx, at, cert, ("tls_client_key", e.tls_client_key.clone()));
    let (ca_file, server_name) = (e.tls_ca_file.clone(), e.tls_server_name.clone());
    let tls = OriginTlsSettings {
        mode: e.tls,
        ca_file,
        server_name,
        client_cert,
    };
    Some(CacheDef {
        id: id?,
        protocol: protocol?,
        origin: origin?,
        default: e.default,
        ttl: e.ttl,
        mode: e.mode,
        transactions: e.transactions,
        tls,
    })
}

/// The `[[rules]]` entries: at least one matcher, a configured cache, and an
/// action that fits the ttl.
fn rules(entries: &[RuleEntry], caches: &[CacheEntry], ctx: &Ctx) -> Vec<RuleDef> {
    // No rule's cache is called unknown when an error already reported may hide it.
    let ids: Option<HashSet<&str>> = match ctx.is_invalid("caches") {
        true => None,
        false => caches.iter().map(|c| c.id.as_deref()).collect(),
    };
    let mut defs = Vec::new();
    for (i, r) in entries.iter().enumerate() {
        let at = &format!("rules[{i}]");
        if ctx.is_invalid(at) {
            continue;
        }
        let set = [
            r.template.is_some(),
            r.pattern.is_some(),
            r.table.is_some(),
            r.cache.is_some(),
        ];
        if !MATCHER_KEYS
            .iter()
            .zip(set)
            .any(|(key, set)| given(ctx, at, key, set))
        {
            ctx.invalid(at, at, NO_MATCHER.to_owned());
        }
        if let (Some(id), Some(ids)) = (&r.cache, &ids)
            && !ids.contains(id.as_str())
        {
            ctx.invalid(at, &join(at, "cache"), format!("no cache has ID {id:?}"));
        }
        if ctx.is_invalid(&join(at, "action")) || ctx.is_invalid(&join(at, "ttl")) {
            continue;
        }
        match rule_action(r.action.as_deref(), r.ttl) {
            Err(e) => ctx.invalid(at, &join(at, e.key()), e.to_string()),
            Ok(action) => defs.push(RuleDef {
                template: r.template,
                pattern: r.pattern.clone(),
                table: r.table.clone(),
                cache: r.cache.clone(),
                action,
            }),
        }
    }
    defs
}
