//! JSON shapes of the admin API, built from the engine's figures.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{
    RuleAction, RuleDef, TxnPolicy, format_duration, format_template_id, parse_duration,
    parse_rule_action_with, parse_template_id,
};
use crate::engine::{BypassReason, CacheCtx, Engine, TemplateStats, covers};

fn bypasses(counters: &[std::sync::atomic::AtomicU64]) -> BTreeMap<&'static str, u64> {
    BypassReason::ALL
        .iter()
        .zip(counters)
        .map(|(r, c)| (r.as_str(), c.load(Ordering::Relaxed)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn cache(engine: &Engine, c: &CacheCtx) -> Value {
    let m = &c.metrics;
    let hits = m.hits.load(Ordering::Relaxed);
    let misses = m.misses.load(Ordering::Relaxed);
    let bypassed: u64 = m.bypasses.iter().map(|b| b.load(Ordering::Relaxed)).sum();
    let total = hits + misses + bypassed;
    let templates: Vec<_> = engine
        .templates()
        .all()
        .into_iter()
        .filter(|t| *t.cache == *c.id)
        .collect();
    json!({
        "id": c.id,
        "protocol": c.protocol.as_str(),
        "origin": c.origin,
        "mode": c.mode.as_str(),
        "hits": hits,
        "misses": misses,
        "bypasses": bypasses(&m.bypasses),
        "hit_ratio": if total == 0 { 0.0 } else { hits as f64 / total as f64 },
        "invalidations": {
            "table": m.invalidations_table.load(Ordering::Relaxed),
            "database": m.invalidations_database.load(Ordering::Relaxed),
        },
        "refreshes": m.refreshes.load(Ordering::Relaxed),
        "client_connections": m.client_connections.load(Ordering::Relaxed),
        "origin_connections": m.origin_connections.load(Ordering::Relaxed),
        "origin_connect_errors": m.origin_connect_errors.load(Ordering::Relaxed),
        "origin_state": super::health::json(m.origin.view()),
        "outage": {
            "sessions_offline": m.sessions_offline.load(Ordering::Relaxed),
            "stale_served": m.stale_served.load(Ordering::Relaxed),
            "unavailable": m.unavailable.load(Ordering::Relaxed),
            "query_timeouts": m.query_timeouts.load(Ordering::Relaxed),
            "cancellations": m.cancellations.load(Ordering::Relaxed),
        },
        "templates": templates.len(),
        "entries": templates.iter().map(|t| t.entries.load(Ordering::Relaxed)).sum::<i64>(),
        "bytes": templates.iter().map(|t| t.bytes.load(Ordering::Relaxed)).sum::<i64>(),
        "time_saved_ms": templates.iter().map(|t| ms(t.saved())).sum::<f64>(),
        "ttl_bounds": {
            "min_seconds": c.bounds.min.as_secs_f64(),
            "initial_seconds": c.bounds.initial.as_secs_f64(),
            "max_seconds": c.bounds.max.as_secs_f64(),
        },
    })
}

/// Why a query was not cached, in plain words for the dashboard.
pub fn reason_words(r: BypassReason) -> &'static str {
    match r {
        BypassReason::NotARead => "it writes or is not a query",
        BypassReason::MultiStatement => "several statements in one request",
        BypassReason::LockingClause => "it locks rows (FOR UPDATE / FOR SHARE)",
        BypassReason::NonImmutableFunction => "it calls a function whose result can change",
        BypassReason::SystemCatalog => "it reads the system catalog",
        BypassReason::TemporaryTable => "it reads a temporary table",
        BypassReason::SelectInto => "SELECT INTO creates a table",
        BypassReason::SessionVariable => "it uses a user or session variable",
        BypassReason::Unparsable => "wirecache could not parse it",
        BypassReason::InTransaction => "it ran inside a transaction kept from the cache",
        BypassReason::RowLimit => "the client fetched it in parts (row limit)",
        BypassReason::Pipeline => "earlier pipelined requests were still in flight",
        BypassReason::CatalogUnknown => "the origin's catalog could not be asked about it",
        BypassReason::UnknownRelation => "a table it reads does not exist",
        BypassReason::VolatileView => "a view it reads calls a changing function",
        BypassReason::RuleSaysNo => "a rule or the cache's mode forbids caching it",
        BypassReason::VolatileResults => "its results change too often with no write seen",
        BypassReason::InTransactionAfterWrite => "its transaction had written: it must see that",
        BypassReason::IsolationRepeatableRead => "a REPEATABLE READ transaction reads one snapshot",
        BypassReason::IsolationSerializable => "a SERIALIZABLE transaction reads one snapshot",
        BypassReason::IsolationReadUncommitted => "READ UNCOMMITTED may read uncommitted rows",
        BypassReason::IsolationUnknown => "the session's isolation level was not known yet",
        BypassReason::NotRepeating => {
            "its results hardly ever repeat: not stored (probed now and then)"
        }
    }
}

/// The reason most of a template's uncached calls gave, if any.
fn main_reason(t: &TemplateStats) -> Option<BypassReason> {
    BypassReason::ALL
        .iter()
        .zip(&t.bypasses)
        .map(|(r, c)| (*r, c.load(Ordering::Relaxed)))
        .filter(|(_, n)| *n > 0)
        .max_by_key(|(_, n)| *n)
        .map(|(r, _)| r)
}

/// The first rule that applies to `t` (as the engine matches rules), if any.
pub fn pinning_rule<'r>(t: &TemplateStats, rules: &'r [RuleDef]) -> Option<&'r RuleDef> {
    let tables = t.tables.lock().unwrap_or_else(|e| e.into_inner());
    rules
        .iter()
        .find(|r| covers(r, &t.cache, t.id, &t.text, &tables))
}

/// A template with its TTL history, for the detail view.
pub fn template_detail(t: &TemplateStats, rules: &[RuleDef]) -> Value {
    let mut v = template(t, rules);
    let history: Vec<Value> = t
        .ttl_history()
        .iter()
        .map(|p| json!({ "at_ms": p.at_ms, "ttl_seconds": p.ttl.as_secs_f64() }))
        .collect();
    set(&mut v, "ttl_history", Value::Array(history));
    v
}

pub fn template(t: &TemplateStats, rules: &[RuleDef]) -> Value {
    let state = t.ttl_state();
    let reason = main_reason(t);
    let rule = pinning_rule(t, rules).map(RuleJson::from);
    let tables: Vec<String> = t
        .tables
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|s| s.to_string())
        .collect();
    json!({
        "id": t.hex_id(),
        "cache": &*t.cache,
        "template": &*t.text,
        "calls": t.calls.load(Ordering::Relaxed),
        "hits": t.hits.load(Ordering::Relaxed),
        "misses": t.misses.load(Ordering::Relaxed),
        "bypasses": bypasses(&t.bypasses),
        "hit_ratio": t.hit_ratio(),
        "origin_latency_ms": {
            "p50": ms(t.origin_latency.quantile(0.5)),
            "p99": ms(t.origin_latency.quantile(0.99)),
            "mean": ms(t.origin_latency.mean()),
        },
        "result_bytes": t.result_bytes_last.load(Ordering::Relaxed),
        "tables": tables,
        "ttl_seconds": state.ttl.as_secs_f64(),
        "paused": !state.cacheable(std::time::Instant::now()),
        "storing": t.storing().as_str(),
        "entries": t.entries.load(Ordering::Relaxed),
        "bytes": t.bytes.load(Ordering::Relaxed),
        "refreshes": t.refreshes.load(Ordering::Relaxed),
        "time_saved_ms": ms(t.saved()),
        "reason": reason.map(BypassReason::as_str),
        "reason_text": reason.map(reason_words),
        "rule": rule,
    })
}

/// A rule as JSON: the same keys as a `[[rules]]` table in the config.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions: Option<String>,
}

impl From<&RuleDef> for RuleJson {
    fn from(r: &RuleDef) -> Self {
        RuleJson {
            template: r.template.map(format_template_id),
            pattern: r.pattern.clone(),
            table: r.table.clone(),
            cache: r.cache.clone(),
            action: (r.action != RuleAction::Learn).then(|| r.action.as_str().to_string()),
            ttl: r.action.ttl().map(format_duration),
            transactions: r.transactions.map(|t| t.as_str().to_string()),
        }
    }
}

impl RuleJson {
    /// The rule, validated as the config validates `[[rules]]`.
    pub fn to_rule(&self, engine: &Engine) -> Result<RuleDef, String> {
        let template = self
            .template
            .as_deref()
            .map(parse_template_id)
            .transpose()?;
        let ttl = self
            .ttl
            .as_deref()
            .map(|t| parse_duration(t).map_err(|e| format!("ttl: {e}")))
            .transpose()?;
        let transactions = match self.transactions.as_deref() {
            Some(t) => Some(TxnPolicy::parse(t).ok_or_else(|| {
                format!("transactions: {t:?} is not one of never, read_committed, always")
            })?),
            None => None,
        };
        let action = parse_rule_action_with(self.action.as_deref(), ttl, transactions.is_some())?;
        let rule = RuleDef {
            template,
            pattern: self.pattern.clone(),
            table: self.table.clone(),
            cache: self.cache.clone(),
            action,
            transactions,
        };
        rule.validate_matchers()?;
        if let Some(c) = &rule.cache
            && engine.caches().by_id(c).is_none()
        {
            return Err(format!("unknown cache {c:?}"));
        }
        Ok(rule)
    }
}

/// Sets `key` of a JSON object (a view is always one).
pub fn set(v: &mut Value, key: &str, value: Value) {
    if let Some(o) = v.as_object_mut() {
        o.insert(key.to_string(), value);
    }
}
