//! The admin HTTP port: `/healthz`, `/readyz`, Prometheus `/metrics`, the JSON API
//! (`api`): caches, templates, time series, purge, rules, explain; and the web
//! dashboard at `/` (`dashboard`). It stays up while a shutdown drains sessions;
//! `/readyz` then answers 503 so load balancers stop sending clients.

mod api;
mod dashboard;
mod health;
mod listing;
pub mod series;
mod views;

pub use series::Series;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::engine::Engine;
use crate::metrics::{self, StoreFigures};
use crate::server::Shutdown;
use crate::stats::CacheMetrics;

/// What every admin handler gets.
#[derive(Clone)]
pub struct AdminState {
    pub engine: Arc<Engine>,
    /// Bearer token for mutating endpoints; `None`: they are refused.
    pub token: Option<String>,
    /// Fires when wirecache begins to shut down.
    pub shutdown: Shutdown,
    /// The last hour of figures, for the dashboard's charts.
    pub series: Arc<Series>,
}

pub fn router(
    engine: Arc<Engine>,
    token: Option<String>,
    shutdown: Shutdown,
    series: Arc<Series>,
) -> Router {
    Router::new()
        .route("/", get(dashboard::index))
        .route("/assets/{name}", get(dashboard::asset))
        .route("/api/series", get(api::series))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(render_metrics))
        .route("/api/caches", get(api::caches))
        .route("/api/templates", get(api::templates))
        .route("/api/templates/{id}", get(api::template))
        .route("/api/purge", post(api::purge))
        .route("/api/rules", get(api::get_rules).put(api::put_rules))
        .route("/api/explain", post(api::explain))
        .with_state(AdminState {
            engine,
            token,
            shutdown,
            series,
        })
}

/// 200 while wirecache accepts clients; 503 once it is shutting down. The body's
/// first line says which; then one line per cache with its origin's health. An origin
/// that is down leaves wirecache ready: it still answers what it holds.
async fn ready(State(state): State<AdminState>) -> impl IntoResponse {
    let (status, first) = if state.shutdown.signalled() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else {
        (StatusCode::OK, "ready")
    };
    let mut body = format!("{first}\n");
    // A bus that is down keeps the instance ready: it still relays every query.
    if let Some(c) = state.engine.cluster() {
        body.push_str(&c.readiness());
        body.push('\n');
    }
    for cache in state.engine.caches().all() {
        body.push_str(&health::line(&cache.id, cache.metrics.origin.view()));
    }
    (status, body)
}

async fn render_metrics(State(state): State<AdminState>) -> impl IntoResponse {
    let engine = &state.engine;
    engine.store().run_pending_tasks();
    let store = StoreFigures {
        entries: engine.store().entry_count(),
        bytes: engine.store().weighted_size(),
        max_bytes: engine.store().max_bytes(),
    };
    let caches: Vec<(&str, &CacheMetrics)> = engine
        .caches()
        .all()
        .iter()
        .map(|c| (c.id.as_str(), &c.metrics))
        .collect();
    let mut body = metrics::render(&caches, store);
    if let Some(c) = engine.cluster() {
        metrics::render_cluster(&mut body, c);
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    )
}
