//! SQL Server's TDS protocol (MS-TDS 7.4; 7.1–7.3 clients accepted): a client
//! connection from its first byte to its end.
//!
//! `startup` answers PRELOGIN, resolves the cache from the LOGIN7 login name
//! (`login` parses and rewrites it; `prelogin` the options) and logs in at the origin,
//! with TLS inside PRELOGIN on either leg as `tls` decides (`tls_io`: the packets the
//! handshake travels in);
//! `session` reads requests (a SQLBatch that missed goes through `miss`, its text
//! decoded by `sql_text`; an RPC is decoded by `rpc`, judged by `rpc_call` and
//! `rpc_sql`, acted on in `rpc_session`), `relay`
//! passes the origin's answers back with `tokens` telling what each holds (`types`:
//! how values are framed), and `errors` is the one place errors become TDS. `codec`
//! frames packets and messages. `client` is wirecache as a TDS client: the origin
//! leg's PRELOGIN and TLS (for `startup`), and a standalone login (`client_login`
//! builds the LOGIN7) and SQLBatch for `wirecache latency-test`. `offline` stands
//! for the origin while a session goes on without its lost origin connection;
//! `cancel` sends an Attention of wirecache's own at `query_timeout`.
//!
//! This slice: TLS inside PRELOGIN on both legs (full or login-only), TDS 8.0 strict
//! (TLS first) from clients; SQLBatch reads and `sp_executesql` / prepared `sp_execute`
//! reads cached; other procedures judged as `EXEC`; bulk loads forwarded as writes of
//! their whole database; Attention relayed.

mod cancel;
mod catalog;
pub mod client;
pub mod client_login;
pub mod codec;
pub mod errors;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
pub mod login;
mod miss;
mod offline;
pub mod prelogin;
mod relay;
pub mod rpc;
mod rpc_call;
#[cfg(test)]
mod rpc_proptests;
mod rpc_session;
mod rpc_sql;
pub mod session;
mod sql_text;
mod startup;
pub mod tls;
pub mod tls_io;
pub mod tokens;
pub mod types;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use tokio::net::TcpStream;
use tracing::Instrument;

use crate::config::Protocol;
use crate::engine::Engine;
use crate::server::Shutdown;
use crate::server::admission::Admission;
use crate::server::tls_context::TlsContext;
use crate::session::Gauge;

/// Shared by every connection of the SQL Server listener.
pub struct TdsContext {
    pub engine: Arc<Engine>,
    /// Fires when wirecache shuts down: sessions close once at rest.
    drain: Shutdown,
    pub tls: Arc<TlsContext>,
    /// TDS 8.0 strict: TLS before any TDS, ALPN `tds/8.0` (`None`: TLS off).
    pub strict: Option<tokio_rustls::TlsAcceptor>,
    /// The connection limits every session is admitted under.
    pub admission: Arc<Admission>,
}

impl TdsContext {
    pub fn new(
        engine: Arc<Engine>,
        drain: Shutdown,
        tls: Arc<TlsContext>,
        admission: Arc<Admission>,
    ) -> Self {
        let strict = tls.server().and_then(|s| {
            s.acceptor_with_alpn(&[tls::STRICT_ALPN])
                .inspect_err(|e| tracing::warn!(error = %e, "no TDS 8.0 strict TLS"))
                .ok()
        });
        TdsContext {
            engine,
            drain,
            tls,
            strict,
            admission,
        }
    }
}

/// Serves one client connection to completion. A login still under way when
/// wirecache shuts down is given up (the connection closes): a client that has not
/// finished logging in has no session to finish, and waiting for it would hold the
/// shutdown for up to the login timeout.
pub async fn serve(ctx: Arc<TdsContext>, client: TcpStream) {
    let _ = client.set_nodelay(true);
    let peer = client.peer_addr().ok();
    let login = tokio::time::timeout(ctx.engine.login_timeout(), startup::establish(&ctx, client));
    let mut drain = ctx.drain.clone();
    let login = tokio::select! {
        login = login => login,
        () = drain.signalled_wait() => {
            tracing::debug!("mssql login given up: shutting down");
            return;
        }
    };
    let session = match login {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "mssql login failed");
            return;
        }
        Err(_) => {
            tracing::debug!("mssql login timed out");
            return;
        }
    };
    let cache = session.core.cache().clone();
    let _gauge = Gauge::open(&cache);
    let span = crate::session::span(Protocol::MsSql, &cache, peer);
    let run = crate::protocol::drive(session, ctx.drain.clone());
    async {
        tracing::debug!("mssql session started");
        if let Err(e) = run.await {
            tracing::debug!(error = %e, "mssql connection ended");
        }
    }
    .instrument(span)
    .await;
}
