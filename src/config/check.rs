//! From the file as read to a [`Config`]: required keys, keys that go in pairs,
//! and the checks across keys (TTL bounds, unique cache IDs, one default cache,
//! a listener per protocol, rules' caches and actions). A value already
//! reported invalid is not reported again through another check.

use std::collections::HashSet;

use super::error::{ConfigError, ConfigErrors};
use super::read::Ctx;
use super::rules::{MATCHER_KEYS, NO_MATCHER, RuleDef, rule_action_with};
use super::schema::{CacheEntry, File, RuleEntry};
use super::size::format_duration;
use super::types::{CacheDef, Config, Listen, OriginTlsSettings, TlsSettings};

/// Checks `file` and builds the config, or returns every problem `ctx` holds.
pub(super) fn config(file: File, mut ctx: Ctx) -> Result<Config, ConfigErrors> {
    let ctx = &mut ctx;
    let c = &file.cache;
    let valid =
        |ctx: &Ctx, keys: [&str; 2]| keys.iter().all(|k| !ctx.is_invalid(&join("cache", k)));
    if valid(ctx, ["max_memory", "max_entry_size"]) && c.max_entry_size > c.max_memory {
        let (size, memory) = (c.max_entry_size, c.max_memory);
        let message = format!("{size} bytes is larger than cache.max_memory ({memory} bytes)");
        ctx.invalid("cache.max_entry_size", message);
    }
    if valid(ctx, ["min_ttl", "max_ttl"]) && c.min_ttl > c.max_ttl {
        let (min, max) = (format_duration(c.min_ttl), format_duration(c.max_ttl));
        let message = format!("{min} is larger than cache.max_ttl ({max})");
        ctx.invalid("cache.min_ttl", message);
    }
    let (t, keys) = (file.tls, ["cert_file", "key_file"]);
    let cert_files = pair(ctx, "tls", keys, t.cert_file.zip(t.key_file));
    let (client, allow_cleartext_passwords) = (t.client, t.allow_cleartext_passwords);
    let tls = TlsSettings {
        client,
        cert_files,
        allow_cleartext_passwords,
    };
    let caches = caches(&file.caches, &file.listen, ctx);
    let rules = rules(&file.rules, &file.caches, ctx);
    let cluster = super::cluster::settings(file.cluster, ctx);
    let errors = std::mem::take(ctx).into_errors();
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let (listen, cache, admin, log) = (file.listen, file.cache, file.admin, file.log);
    let limits = file.limits;
    Ok(Config {
        listen,
        cache,
        admin,
        caches,
        rules,
        log,
        limits,
        tls,
        cluster,
    })
}

fn join(at: &str, key: &str) -> String {
    format!("{at}.{key}")
}

/// Two keys that go together, both or neither: the one given alone is reported.
fn pair<T>(ctx: &mut Ctx, at: &str, keys: [&str; 2], both: Option<T>) -> Option<T> {
    let [a, b] = keys.map(|key| join(at, key));
    let (present, absent) = match (ctx.given(&a), ctx.given(&b)) {
        (true, false) => (a, b),
        (false, true) => (b, a),
        _ => return both,
    };
    let message = format!("set {absent} as well (a certificate needs its private key)");
    ctx.invalid(&present, message);
    None
}

/// The `[[caches]]` entries, each checked, and checked against those before it:
/// a unique ID, at most one default cache, and a listener for the protocol.
fn caches(entries: &[CacheEntry], listen: &Listen, ctx: &mut Ctx) -> Vec<CacheDef> {
    if entries.is_empty() && !ctx.is_invalid("caches") {
        ctx.push("caches", ConfigError::NoCaches);
    }
    let mut defs = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let at = &format!("caches[{i}]");
        if ctx.is_invalid(at) {
            continue;
        }
        defs.extend(cache_def(ctx, at, e));
        let before = entries.get(..i).unwrap_or_default();
        let first = |f: &dyn Fn(&CacheEntry) -> bool| {
            before.iter().position(f).map(|j| format!("caches[{j}]"))
        };
        if let Some(id) = &e.id
            && let Some(first) = first(&|c| c.id.as_ref() == Some(id))
        {
            let message = format!("duplicate cache ID {id:?} (already used by {first})");
            ctx.invalid(&join(at, "id"), message);
        }
        if let Some(first) = first(&|c| c.default).filter(|_| e.default) {
            let message = format!("more than one default cache ({first} is already the default)");
            ctx.invalid(&join(at, "default"), message);
        }
        if let Some(p) = e.protocol
            && listen.for_protocol(p).is_none()
            && !ctx.is_invalid(&format!("listen.{p}"))
            && !ctx.is_invalid("listen")
        {
            let message = format!("protocol {p} has no listener (set listen.{p})");
            ctx.invalid(&join(at, "protocol"), message);
        }
    }
    defs
}

/// The cache an entry defines, once its required keys and key pair are checked.
fn cache_def(ctx: &mut Ctx, at: &str, e: &CacheEntry) -> Option<CacheDef> {
    for key in ["id", "protocol", "origin"].map(|key| join(at, key)) {
        if !ctx.given(&key) {
            ctx.push(at, ConfigError::MissingKey { path: key });
        }
    }
    let both = e.tls_client_cert.clone().zip(e.tls_client_key.clone());
    let client_cert = pair(ctx, at, ["tls_client_cert", "tls_client_key"], both);
    let (ca_file, server_name) = (e.tls_ca_file.clone(), e.tls_server_name.clone());
    let tls = OriginTlsSettings {
        mode: e.tls,
        ca_file,
        server_name,
        client_cert,
    };
    let (id, origin, protocol) = (e.id.clone()?, e.origin.clone()?, e.protocol?);
    let (default, ttl, mode, transactions) = (e.default, e.ttl, e.mode, e.transactions);
    let pool = super::pool::settings(e);
    for (key, message) in super::pool::problems(&pool, e.protocol) {
        ctx.invalid(&join(at, key), message);
    }
    Some(CacheDef {
        id,
        protocol,
        origin,
        default,
        ttl,
        mode,
        transactions,
        serve_stale: e.serve_stale,
        tls,
        pool,
    })
}

/// The `[[rules]]` entries: at least one matcher, a configured cache, and an
/// action that fits the ttl.
fn rules(entries: &[RuleEntry], caches: &[CacheEntry], ctx: &mut Ctx) -> Vec<RuleDef> {
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
        if !MATCHER_KEYS.iter().any(|key| ctx.given(&join(at, key))) {
            ctx.invalid(at, NO_MATCHER.to_owned());
        }
        if let (Some(id), Some(ids)) = (&r.cache, &ids)
            && !ids.contains(id.as_str())
        {
            ctx.invalid(&join(at, "cache"), format!("no cache has ID {id:?}"));
        }
        if ["action", "ttl", "transactions"]
            .iter()
            .any(|key| ctx.is_invalid(&join(at, key)))
        {
            continue;
        }
        match rule_action_with(r.action.as_deref(), r.ttl, r.transactions.is_some()) {
            Err(e) => ctx.invalid(&join(at, e.key()), e.to_string()),
            Ok(action) => defs.push(RuleDef {
                template: r.template,
                pattern: r.pattern.clone(),
                table: r.table.clone(),
                cache: r.cache.clone(),
                action,
                transactions: r.transactions,
            }),
        }
    }
    defs
}
