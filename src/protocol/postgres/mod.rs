//! PostgreSQL protocol 3: a client connection from its first byte to its end.
//!
//! `startup` authenticates through the origin and builds a `session::Session`;
//! `session` reads client messages (simple queries there, the extended protocol in
//! `extended`), `relay` passes the origin's answers back in order, `catalog` asks the
//! origin what SQL text alone cannot tell, and `errors` is the one place errors become
//! ErrorResponse messages.

mod ahead;
mod auth;
mod auth_query;
mod batch;
mod cancel;
mod catalog;
mod client_login;
pub mod codec;
mod copy;
pub mod errors;
mod extended;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
mod logins;
pub mod messages;
mod offline;
mod origin_login;
pub mod pooled;
mod pooled_cap;
mod pooled_lender;
mod pooled_login;
mod pooled_notes;
mod pooled_params;
mod pooled_parse;
mod pooled_refusals;
mod pooled_run;
mod pooled_state;
mod pooled_stmts;
mod pooled_txn;
#[cfg(test)]
mod proptests;
mod relay;
mod scram;
mod scram_client;
mod session;
mod startup;
mod tls;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::net::TcpStream;
use tracing::Instrument;

pub use errors::PgError;

use crate::config::Protocol;
use crate::engine::Engine;
use crate::server::Shutdown;
use crate::server::admission::Admission;
use crate::server::stream::{Stream, send};
use crate::server::tls_context::TlsContext;
use crate::session::Gauge;

/// Shared by every PostgreSQL connection.
pub struct PgContext {
    pub engine: Arc<Engine>,
    /// Cancel keys given to live sessions' clients → where a CancelRequest goes.
    cancels: Mutex<HashMap<Bytes, Route>>,
    /// The caches in pooled mode, by ID.
    pooled: HashMap<String, Arc<pooled::PooledCache>>,
    /// Fires when wirecache shuts down: sessions close once at rest.
    drain: Shutdown,
    /// TLS towards clients and origins.
    pub tls: Arc<TlsContext>,
    /// The connection limits every session is admitted under.
    pub admission: Arc<Admission>,
}

impl PgContext {
    pub fn new(
        engine: Arc<Engine>,
        drain: Shutdown,
        tls: Arc<TlsContext>,
        admission: Arc<Admission>,
    ) -> Self {
        Self {
            engine,
            cancels: Mutex::default(),
            pooled: HashMap::new(),
            drain,
            tls,
            admission,
        }
    }
}

/// Where a client's CancelRequest goes: the origin, and its backend's key (the same
/// key in pass-through; the leased connection's in pooled mode).
pub struct Route {
    origin: String,
    key: RouteKey,
}

/// The backend key a client's cancel key stands for.
pub enum RouteKey {
    /// One backend for the whole session.
    Fixed(Bytes),
    /// Transaction pooling: whichever backend the session holds now, if any (set at
    /// each lease and release in the session's own slot, so the shared map of
    /// routes is written once per session, not twice per transaction).
    Leased(Arc<Mutex<Option<Bytes>>>),
}

impl RouteKey {
    fn current(&self) -> Option<Bytes> {
        match self {
            RouteKey::Fixed(key) => Some(key.clone()),
            RouteKey::Leased(slot) => lock(slot).clone(),
        }
    }
}

impl PgContext {
    /// Serves the caches of `pooled` in pooled mode.
    pub fn with_pooled(mut self, pooled: HashMap<String, Arc<pooled::PooledCache>>) -> Self {
        self.pooled = pooled;
        self
    }
}

/// Serves one client connection to completion.
pub async fn serve(ctx: Arc<PgContext>, client: TcpStream) {
    let _ = client.set_nodelay(true);
    let mut buf = BytesMut::with_capacity(1024);
    let mut slot = Some(Stream::Plain(client));
    // One deadline for the whole login: startup packet, TLS, authentication.
    let deadline = tokio::time::Instant::now() + ctx.engine.login_timeout();
    let opening = tokio::time::timeout_at(
        deadline,
        startup::read_opening(&mut slot, &mut buf, &ctx.tls),
    );
    // A client that has not sent its startup packet when wirecache shuts down has no
    // session to finish: it is given up rather than holding the drain until the
    // login timeout.
    let mut drain = ctx.drain.clone();
    let opening = tokio::select! {
        opening = opening => opening.unwrap_or(Err(PgError::Client("startup timed out"))),
        () = drain.signalled_wait() => {
            tracing::debug!("postgres startup given up: shutting down");
            return;
        }
    };
    let (opening, client) = match (opening, slot) {
        (Ok(o), Some(client)) => (o, client),
        (Ok(_), None) => return,
        (Err(e), client) => {
            if let (Some(wire), Some(mut client)) = (errors::to_wire(&e), client) {
                let _ = send(&mut client, &wire).await;
            }
            tracing::debug!(error = %e, "postgres startup failed");
            return;
        }
    };
    let result = match opening {
        startup::Opening::Cancel { key } => cancel(&ctx, &key).await,
        startup::Opening::Startup { version, params } => {
            run_session(&ctx, client, buf, version, params, deadline).await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "postgres connection ended");
    }
}

async fn run_session(
    ctx: &Arc<PgContext>,
    client: Stream,
    buf: BytesMut,
    version: i32,
    params: Vec<(String, String)>,
    deadline: tokio::time::Instant,
) -> Result<(), PgError> {
    if !ctx.pooled.is_empty() {
        let resolved = startup::resolve(ctx, &params);
        let pooled = resolved
            .as_ref()
            .ok()
            .and_then(|(c, _)| ctx.pooled.get(&c.id));
        if let (Some(pooled), Ok(resolved)) = (pooled, resolved.as_ref()) {
            let resolved = resolved.clone();
            return pooled::run(ctx, client, buf, resolved, pooled, deadline).await;
        }
    }
    let peer = client.tcp().peer_addr().ok();
    let tls = client.is_tls();
    let login = startup::establish(ctx, client, buf, version, params);
    let (mut session, cancel_key) = tokio::time::timeout_at(deadline, login)
        .await
        .map_err(|_| PgError::Client("login timed out"))??;
    session.cancel = cancel_key.clone().map(|key| cancel::CancelTarget {
        cache: session.core.cache().clone(),
        key,
    });
    let cache = session.core.cache().clone();
    let _gauge = Gauge::open(&cache);
    if let Some(key) = &cancel_key {
        let route = Route {
            origin: cache.origin.clone(),
            key: RouteKey::Fixed(key.clone()),
        };
        lock(&ctx.cancels).insert(key.clone(), route);
    }
    let span = crate::session::span(Protocol::Postgres, &cache, peer);
    let run = crate::protocol::drive(session, ctx.drain.clone());
    let result = async {
        tracing::debug!(tls, "postgres session started");
        run.await
    }
    .instrument(span)
    .await;
    if matches!(result, Err(PgError::IdleTimeout)) {
        cache.metrics.idle_closed.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(key) = &cancel_key {
        lock(&ctx.cancels).remove(key);
    }
    result
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Forwards a CancelRequest to the origin whose backend holds that key.
async fn cancel(ctx: &PgContext, key: &[u8]) -> Result<(), PgError> {
    let route = lock(&ctx.cancels)
        .get(key)
        .and_then(|r| Some((r.origin.clone(), r.key.current()?)));
    let Some((origin, key)) = route else {
        return Ok(());
    };
    cancel::send(&origin, &key, std::time::Duration::from_secs(10)).await
}
