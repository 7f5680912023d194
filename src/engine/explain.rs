//! "Why is my query not cached?": the engine's judgement of one SQL text for one cache,
//! without running it. Shared by `wirecache explain` and `POST /api/explain`.

use serde::Serialize;

use super::{CacheCtx, Engine, QueryRequest, Scope};
use crate::cache::ttl::TtlState;

/// The answer, ready to print or serialize.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub cache: String,
    pub kind: &'static str,
    pub cacheable: bool,
    /// Why not (a `BypassReason`), when not cacheable.
    pub reason: Option<&'static str>,
    pub template_id: String,
    pub template: String,
    pub tables_read: Vec<String>,
    pub tables_written: Vec<String>,
    pub invalidates_whole_database: bool,
    /// The TTL a result would get now, in seconds.
    pub ttl_seconds: Option<f64>,
    /// Whether the template's misses are being filled (`filling`), or not because its
    /// results hardly ever repeat (`skipping`); `None` before its first miss.
    pub storing: Option<&'static str>,
    /// Relations and functions whose nature only the origin's catalog can tell; a live
    /// session asks it once and remembers the answer.
    pub needs_catalog: Vec<String>,
}

fn name(t: &crate::classify::TableRef) -> String {
    match &t.schema {
        Some(s) => format!("{s}.{}", t.name),
        None => t.name.clone(),
    }
}

impl Engine {
    /// Judges `sql` as a request of `cache` from a fresh session outside a transaction.
    pub fn explain(&self, cache: &std::sync::Arc<CacheCtx>, sql: &str) -> Explanation {
        let scope = Scope {
            cache: cache.clone(),
            db: self.generations.database(&cache.id, ""),
            db_name: "".into(),
            namespace: 0,
        };
        let req = QueryRequest {
            sql,
            blocked: None,
            catalog: super::CatalogAccess::Now,
            // A session that knows its level, outside a transaction.
            context: super::ReadContext::Autocommit(Some(
                crate::classify::Isolation::ReadCommitted,
            )),
        };
        let mut v = self.judge(&scope, req);
        // Without a session there is no catalog to ask: judge as if it confirmed plain
        // tables and immutable functions, and say what it must confirm.
        if v.reason == Some(super::BypassReason::CatalogUnknown) {
            v.reason = None;
        }
        let stats = self
            .templates
            .find(v.analysis.template.id)
            .into_iter()
            .find(|t| *t.cache == *cache.id);
        let state = stats
            .as_ref()
            .map(|t| t.ttl_state())
            .unwrap_or_else(|| TtlState::new(&cache.bounds));
        let (policy, _) = self.policy(&scope, &v, &state);
        let c = &v.analysis.classification;
        let mut needs_catalog: Vec<String> = v
            .missing
            .relations
            .iter()
            .map(|t| format!("relation {}", name(t)))
            .collect();
        needs_catalog.extend(v.missing.functions.iter().map(|f| format!("function {f}")));
        Explanation {
            cache: cache.id.clone(),
            kind: c.kind.as_str(),
            cacheable: policy.is_ok(),
            reason: policy.as_ref().err().map(|r| r.as_str()),
            template_id: v.analysis.template.hex_id(),
            template: v.analysis.template.text.to_string(),
            tables_read: c.reads.iter().map(name).collect(),
            tables_written: c.writes.iter().map(name).collect(),
            invalidates_whole_database: v.effects.whole_database || v.effects.schema_change,
            ttl_seconds: policy.ok().map(|t| t.duration().as_secs_f64()),
            storing: stats.map(|t| t.storing().as_str()),
            needs_catalog,
        }
    }
}
