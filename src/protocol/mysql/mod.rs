//! MySQL client/server protocol (MySQL and MariaDB): a client connection from its
//! first byte to its end.
//!
//! `startup` greets the client, resolves the cache ID from the user name and relays
//! authentication through the origin (`handshake` parses the packets, `tls` upgrades
//! either leg); `kill` gives
//! each client connection an id of wirecache's own and translates `KILL`s naming one;
//! `session` reads commands (prepared statements in `prepared`, what follows a miss in
//! `miss`), `relay` passes the
//! origin's answers back in order with `response` telling where each ends, `catalog`
//! asks the origin what SQL text alone cannot tell, and `errors` is the one place
//! errors become ERR packets. `codec` frames packets.
//!
//! Pooled mode (`pool = "session"`): `pooled` checks the login itself (`client_auth`,
//! with `scramble`'s arithmetic, against `pooled_logins`) and leases an origin
//! connection that `pooled_origin` opened with the stored secret. Under
//! `pool = "transaction"`, `pooled_txn` leases one per transaction from
//! `pooled_lender`, following the session's settings (`pooled_state`) and prepared
//! statements (`pooled_stmts`) to whichever connection it gets.

mod catalog;
mod client_auth;
pub mod codec;
mod command;
pub mod errors;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
pub mod handshake;
mod kill;
mod miss;
mod namespace;
mod offline;
pub mod pooled;
mod pooled_cache;
mod pooled_change_user;
mod pooled_diag;
#[cfg(test)]
mod pooled_diag_tests;
mod pooled_lender;
mod pooled_logins;
mod pooled_origin;
mod pooled_state;
mod pooled_stmts;
mod pooled_txn;
mod pooled_txn_change_user;
mod prepared;
#[cfg(test)]
mod proptests;
mod relay;
pub mod response;
mod scramble;
mod session;
mod startup;
mod tls;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::net::TcpStream;
use tracing::Instrument;

pub use errors::MyError;

use crate::config::Protocol;
use crate::engine::Engine;
use crate::server::Shutdown;
use crate::server::admission::Admission;
use crate::server::tls_context::TlsContext;
use crate::session::Gauge;
use handshake::Greeting;
use kill::ConnectionIds;

/// Shared by every connection of one listener (MySQL or MariaDB).
pub struct MyContext {
    pub engine: Arc<Engine>,
    /// The caches this listener serves: those whose protocol is this.
    pub protocol: Protocol,
    /// The last greeting an origin of this listener sent: what clients are greeted
    /// with before their cache (and so their origin) is known.
    template: Mutex<Option<Greeting>>,
    /// The connection ids of this listener's live sessions and their origin ids.
    ids: Arc<ConnectionIds>,
    /// Fires when wirecache shuts down: sessions close once at rest.
    drain: Shutdown,
    /// TLS towards clients and origins.
    pub tls: Arc<TlsContext>,
    /// The connection limits every session is admitted under.
    pub admission: Arc<Admission>,
    /// The caches in pooled mode, by ID.
    pooled: HashMap<String, Arc<pooled::PooledCache>>,
}

impl MyContext {
    pub fn new(
        engine: Arc<Engine>,
        protocol: Protocol,
        drain: Shutdown,
        tls: Arc<TlsContext>,
        admission: Arc<Admission>,
    ) -> Self {
        let base = match protocol {
            Protocol::MariaDb => kill::MARIADB_BASE,
            _ => kill::MYSQL_BASE,
        };
        Self {
            engine,
            protocol,
            template: Mutex::new(None),
            ids: ConnectionIds::new(base),
            drain,
            tls,
            admission,
            pooled: HashMap::new(),
        }
    }

    /// Serves the caches of `pooled` in pooled mode.
    pub fn with_pooled(mut self, pooled: HashMap<String, Arc<pooled::PooledCache>>) -> Self {
        self.pooled = pooled;
        self
    }

    fn template(&self) -> Option<Greeting> {
        self.template
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn remember(&self, greeting: &Greeting) {
        *self.template.lock().unwrap_or_else(|e| e.into_inner()) = Some(greeting.clone());
    }
}

/// Serves one client connection to completion.
pub async fn serve(ctx: Arc<MyContext>, client: TcpStream) {
    let _ = client.set_nodelay(true);
    // Held until the session ends: its id is live (and KILL can find it) until then.
    let Some(id) = ctx.ids.claim() else {
        tracing::warn!("mysql connection refused: every connection id is in use");
        return;
    };
    let peer = client.peer_addr().ok();
    // A client that never finishes its handshake is dropped at the deadline.
    let login = tokio::time::timeout(
        ctx.engine.login_timeout(),
        startup::establish(&ctx, client, &id),
    );
    // A handshake still under way when wirecache shuts down is given up: it has no
    // session to finish, and waiting would hold the drain until the login timeout.
    let mut drain = ctx.drain.clone();
    let login = tokio::select! {
        login = login => login,
        () = drain.signalled_wait() => {
            tracing::debug!("mysql startup given up: shutting down");
            return;
        }
    };
    let session = match login {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "mysql startup failed");
            return;
        }
        Err(_) => {
            tracing::debug!("mysql startup timed out");
            return;
        }
    };
    let cache = session.core.cache().clone();
    let _gauge = Gauge::open(&cache);
    let span = crate::session::span(ctx.protocol, &cache, peer);
    let mut session = session;
    let pooled = session.pooled.is_some() || session.txn_pooled;
    async {
        tracing::debug!(pooled, "mysql session started");
        let result = crate::protocol::drive_ref(&mut session, ctx.drain.clone()).await;
        if let Err(e) = &result {
            if matches!(e, MyError::IdleTimeout) {
                cache.metrics.idle_closed.fetch_add(1, Ordering::Relaxed);
            }
            tracing::debug!(error = %e, "mysql connection ended");
            // A pooled connection goes back only after a session that ended well (or
            // whose client just went away, at rest: `finish` checks).
            if !matches!(e, MyError::Closed(errors::Side::Client)) {
                session.pooled = None;
                session.txn_pooled = false;
            }
        }
        if session.txn_pooled {
            pooled_txn::finish(session).await;
        } else {
            pooled::finish(session).await;
        }
    }
    .instrument(span)
    .await;
    drop(id);
}
