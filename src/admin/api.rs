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
use super::views::{self, RuleJson};
use crate::config::parse_template_id;
use crate::engine::Engine;

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
    let list: Vec<Value> = e.caches.all().iter().map(|c| views::cache(e, c)).collect();
    Json(json!({ "caches": list }))
}

#[derive(Deserialize)]
pub struct TemplateQuery {
    cache: Option<String>,
    limit: Option<usize>,
}

pub async fn templates(
    State(state): State<AdminState>,
    Query(q): Query<TemplateQuery>,
) -> Json<Value> {
    let mut list = state.engine.templates.all();
    if let Some(c) = &q.cache {
        list.retain(|t| *t.cache == **c);
    }
    list.sort_by(|a, b| {
        b.saved_us
            .load(Ordering::Relaxed)
            .cmp(&a.saved_us.load(Ordering::Relaxed))
            .then(
                b.calls
                    .load(Ordering::Relaxed)
                    .cmp(&a.calls.load(Ordering::Relaxed)),
            )
    });
    list.truncate(q.limit.unwrap_or(100));
    let list: Vec<Value> = list.iter().map(|t| views::template(t)).collect();
    Json(json!({ "templates": list }))
}

pub async fn template(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    let Ok(id) = parse_template_id(&id) else {
        return error(
            StatusCode::BAD_REQUEST,
            "a template ID is 16 hexadecimal digits",
        );
    };
    let found = state.engine.templates.find(id);
    if found.is_empty() {
        return error(StatusCode::NOT_FOUND, "no such template");
    }
    let list: Vec<Value> = found.iter().map(|t| views::template(t)).collect();
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
        Ok(what) => Json(json!({ "purged": what })).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

fn do_purge(engine: &Engine, p: &Purge) -> Result<String, String> {
    if let Some(c) = &p.cache
        && engine.caches.by_id(c).is_none()
    {
        return Err(format!("unknown cache {c:?}"));
    }
    let dbs = match &p.cache {
        Some(c) => engine.generations.databases_of(c),
        None => engine.generations.all(),
    };
    if let Some(t) = &p.template {
        let id = parse_template_id(t)?;
        let found: Vec<_> = engine
            .templates
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
            engine.store.purge_all();
            Ok("everything".to_string())
        }
    }
}

pub async fn get_rules(State(state): State<AdminState>) -> Json<Value> {
    let rules: Vec<RuleJson> = state
        .engine
        .rules
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
    state.engine.rules.replace(rules);
    Json(json!({ "rules": n })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainBody {
    cache: String,
    sql: String,
}

pub async fn explain(State(state): State<AdminState>, Json(body): Json<ExplainBody>) -> Response {
    let Some(cache) = state.engine.caches.by_id(&body.cache) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("unknown cache {:?}", body.cache),
        );
    };
    Json(state.engine.explain(cache, &body.sql)).into_response()
}
