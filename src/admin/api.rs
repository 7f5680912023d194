//! The JSON API on the admin port (design §8): caches, templates, purge, rules and
//! explain. Mutating endpoints require `Authorization: Bearer <admin.token>` and are
//! refused when no token is configured.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminState;
use super::listing::{DEFAULT_LIMIT, MAX_LIMIT, Order, SortKey, page};
use super::views::{self, RuleJson, set};
use crate::config::{RuleDef, parse_template_id};
use crate::engine::{BypassReason, Engine};

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Checks the bearer token of a mutating request; the error is the response to send.
fn authorize(state: &AdminState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some(expected) = &state.token else {
        return Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "mutating endpoints are disabled: set admin.token (or WIRECACHE_ADMIN_TOKEN)",
        )));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Compare without an early exit on the first differing byte.
    let ok = given.is_some_and(|g| {
        g.len() == expected.len()
            && g.bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if ok {
        Ok(())
    } else {
        Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token",
        )))
    }
}

pub async fn caches(State(state): State<AdminState>) -> Json<Value> {
    let e = &state.engine;
    e.store().run_pending_tasks();
    let list: Vec<Value> = e
        .caches()
        .all()
        .iter()
        .map(|c| {
            let mut v = views::cache(e, c);
            let health = if state.series.origin_failing(&c.id) {
                "failing"
            } else {
                "ok"
            };
            set(&mut v, "origin_health", json!(health));
            v
        })
        .collect();
    Json(json!({
        "caches": list,
        "store": {
            "entries": e.store().entry_count(),
            "bytes": e.store().weighted_size(),
            "max_bytes": e.store().max_bytes(),
        },
    }))
}

#[derive(Deserialize)]
pub struct TemplateQuery {
    cache: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
    sort: Option<String>,
    order: Option<String>,
}

/// `GET /api/templates`: one page of templates, most time saved first unless `sort`
/// (and `order`) say otherwise; `total` counts them all.
pub async fn templates(
    State(state): State<AdminState>,
    Query(q): Query<TemplateQuery>,
) -> Response {
    let Some(key) = SortKey::parse(q.sort.as_deref().unwrap_or("saved")) else {
        let keys: Vec<&str> = SortKey::ALL.iter().map(|k| k.as_str()).collect();
        return error(
            StatusCode::BAD_REQUEST,
            format!("sort is one of {}", keys.join(", ")),
        );
    };
    let Some(order) = Order::parse(q.order.as_deref().unwrap_or("desc")) else {
        return error(StatusCode::BAD_REQUEST, "order is asc or desc");
    };
    let mut list = state.engine.templates().all();
    if let Some(c) = &q.cache {
        list.retain(|t| *t.cache == **c);
    }
    let total = list.len();
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    let rules = state.engine.rules().list();
    let list: Vec<Value> = page(list, key, order, offset, limit)
        .iter()
        .map(|t| views::template(t, &rules))
        .collect();
    Json(json!({
        "templates": list,
        "total": total,
        "offset": offset,
        "limit": limit,
        "sort": key.as_str(),
        "order": order.as_str(),
    }))
    .into_response()
}

/// `GET /api/series?cache=ID`: the last hour of rates, for the charts.
pub async fn series(State(state): State<AdminState>, Query(q): Query<SeriesQuery>) -> Response {
    match state.series.json(&state.engine, &q.cache) {
        Some(v) => Json(v).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("unknown cache {:?}", q.cache),
        ),
    }
}

#[derive(Deserialize)]
pub struct SeriesQuery {
    cache: String,
}

pub async fn template(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    let Ok(id) = parse_template_id(&id) else {
        return error(
            StatusCode::BAD_REQUEST,
            "a template ID is 16 hexadecimal digits",
        );
    };
    let found = state.engine.templates().find(id);
    if found.is_empty() {
        return error(StatusCode::NOT_FOUND, "no such template");
    }
    let rules = state.engine.rules().list();
    let list: Vec<Value> = found
        .iter()
        .map(|t| views::template_detail(t, &rules))
        .collect();
    Json(json!({ "templates": list })).into_response()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Purge {
    cache: Option<String>,
    table: Option<String>,
    template: Option<String>,
}

pub async fn purge(
    State(state): State<AdminState>,
    headers: HeaderMap,
    body: Option<Json<Purge>>,
) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return *r;
    }
    let p = body.map(|Json(p)| p).unwrap_or_default();
    match do_purge(&state.engine, &p) {
        Ok(what) => {
            share_purge(&state.engine, &p).await;
            Json(json!({ "purged": what })).into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

/// With a cluster, a table or database purge is recorded on the bus too (within
/// `ack_timeout`; otherwise owed). Template purges stay local.
async fn share_purge(engine: &Engine, p: &Purge) {
    let Some(cluster) = engine.cluster() else {
        return;
    };
    if p.template.is_some() {
        return;
    }
    let effects = crate::engine::Effects {
        tables: p
            .table
            .iter()
            .map(|t| t.rsplit('.').next().unwrap_or(t).into())
            .collect(),
        whole_database: p.table.is_none(),
        ..Default::default()
    };
    for (cache, db, _) in engine.generations().named() {
        if p.cache.as_deref().is_none_or(|c| *c == *cache)
            && let Some(rx) = cluster.share(&cache, &db, &effects)
        {
            let _ = tokio::time::timeout(cluster.ack_timeout(), rx).await;
        }
    }
}

fn do_purge(engine: &Engine, p: &Purge) -> Result<String, String> {
    if let Some(c) = &p.cache
        && engine.caches().by_id(c).is_none()
    {
        return Err(format!("unknown cache {c:?}"));
    }
    let dbs = match &p.cache {
        Some(c) => engine.generations().databases_of(c),
        None => engine.generations().all(),
    };
    if let Some(t) = &p.template {
        let id = parse_template_id(t)?;
        let found: Vec<_> = engine
            .templates()
            .find(id)
            .into_iter()
            .filter(|s| p.cache.as_deref().is_none_or(|c| *s.cache == *c))
            .collect();
        for s in &found {
            s.generation.fetch_add(1, Ordering::AcqRel);
        }
        return Ok(format!("template {t} ({} caches)", found.len()));
    }
    if let Some(table) = &p.table {
        let bare = table.rsplit('.').next().unwrap_or(table);
        for db in &dbs {
            db.bump_tables([bare]);
        }
        return Ok(format!("table {table}"));
    }
    for db in &dbs {
        db.bump_all();
    }
    match &p.cache {
        Some(c) => Ok(format!("cache {c}")),
        None => {
            engine.store().purge_all();
            Ok("everything".to_string())
        }
    }
}

pub async fn get_rules(State(state): State<AdminState>) -> Json<Value> {
    let rules: Vec<RuleJson> = state
        .engine
        .rules()
        .list()
        .iter()
        .map(RuleJson::from)
        .collect();
    Json(json!({ "rules": rules }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesBody {
    rules: Vec<RuleJson>,
}

pub async fn put_rules(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Json(body): Json<RulesBody>,
) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return *r;
    }
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    for (i, r) in body.rules.iter().enumerate() {
        match r.to_rule(&state.engine) {
            Ok(rule) => rules.push(rule),
            Err(e) => problems.push(format!("rules[{i}]: {e}")),
        }
    }
    if !problems.is_empty() {
        return (StatusCode::BAD_REQUEST, Json(json!({ "errors": problems }))).into_response();
    }
    let n = rules.len();
    let old = state.engine.rules().list();
    let purged = drop_ruled_entries(&state.engine, &old, &rules);
    state.engine.rules().replace(rules);
    Json(json!({ "rules": n, "templates_purged": purged })).into_response()
}

/// Purges the entries of every template an old or a new rule covers, so that a rule
/// takes effect at once, also for results cached before it. Returns how many.
fn drop_ruled_entries(engine: &Engine, old: &[RuleDef], new: &[RuleDef]) -> usize {
    let mut n = 0;
    for t in engine.templates().all() {
        let covered = [old, new]
            .iter()
            .any(|rules| views::pinning_rule(&t, rules).is_some());
        if covered {
            t.generation.fetch_add(1, Ordering::AcqRel);
            n += 1;
        }
    }
    n
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainBody {
    cache: String,
    sql: String,
}

pub async fn explain(State(state): State<AdminState>, Json(body): Json<ExplainBody>) -> Response {
    let Some(cache) = state.engine.caches().by_id(&body.cache) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("unknown cache {:?}", body.cache),
        );
    };
    let answer = state.engine.explain(cache, &body.sql);
    let words = answer
        .reason
        .and_then(|r| BypassReason::ALL.iter().copied().find(|b| b.as_str() == r))
        .map(views::reason_words);
    let mut v = json!(answer);
    set(&mut v, "reason_text", json!(words));
    Json(v).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::series::tests::engine;
    use crate::classify::Template;
    use crate::config::RuleAction;
    use crate::engine::TemplateStats;

    #[test]
    fn changing_rules_purges_the_templates_they_cover() {
        let e = engine();
        let Some(c) = e.caches().by_id("demo") else {
            panic!("no demo cache")
        };
        let register = |id: u64, table: &str| {
            let t = Template {
                id,
                text: format!("select * from {table}").into(),
            };
            let s = e.templates().get_or_register(&c.key, &t, &c.bounds);
            e.templates().note_tables(&s, &[table.into()]);
            s
        };
        let (items, other) = (register(1, "items"), register(2, "other"));
        let never = RuleDef {
            template: None,
            pattern: None,
            table: Some("public.items".into()),
            cache: Some("demo".into()),
            action: RuleAction::Never,
            transactions: None,
        };
        let generation = |s: &TemplateStats| s.generation.load(Ordering::Acquire);
        let before = (generation(&items), generation(&other));
        assert_eq!(drop_ruled_entries(&e, &[], std::slice::from_ref(&never)), 1);
        assert_eq!(generation(&items), before.0 + 1, "covered by the new rule");
        assert_eq!(generation(&other), before.1, "not covered");
        // Removing the rule purges again: entries cached under it used its terms.
        assert_eq!(drop_ruled_entries(&e, &[never], &[]), 1);
        assert_eq!(generation(&items), before.0 + 2);
        assert_eq!(drop_ruled_entries(&e, &[], &[]), 0);
    }
}
