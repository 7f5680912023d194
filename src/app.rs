//! Wiring: config → engine → listeners → admin, and the shutdown order (stop
//! accepting, then let sessions end).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::admin::Series;
use crate::config::{Config, Protocol};
use crate::engine::Engine;
use crate::protocol::mysql::{self, MyContext};
use crate::protocol::postgres::{self, PgContext};
use crate::server::tls::{CertSource, TlsError};
use crate::server::tls_context::{TlsContext, spawn_reloader};
use crate::server::{Shutdown, spawn_accept_loop};

/// A running wirecache: the addresses it listens on and the handle to stop it.
pub struct Running {
    pub postgres: Option<SocketAddr>,
    pub mysql: Option<SocketAddr>,
    pub mariadb: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
    pub engine: Arc<Engine>,
    /// The dashboard's time series (sampled every [`crate::admin::series::INTERVAL`]).
    pub series: Arc<Series>,
    stop: watch::Sender<bool>,
    /// The accept loops.
    tasks: Vec<JoinHandle<()>>,
    admin_stop: watch::Sender<bool>,
    admin_task: Option<JoinHandle<()>>,
    /// Held by every open client connection, one permit each.
    connections: Arc<Semaphore>,
    max_connections: usize,
    grace: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, AppError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| AppError::Bind { what, addr, source })
}

/// Starts every configured listener. Port 0 picks a free port (tests).
pub async fn start(config: &Config) -> Result<Running, AppError> {
    let engine = Arc::new(Engine::new(config));
    let tls = Arc::new(TlsContext::from_config(config)?);
    let (stop, shutdown) = Shutdown::new();
    let limit = Arc::new(Semaphore::new(config.cache.max_connections));
    let mut tasks = Vec::new();
    if let Some(server) = tls.server() {
        if *server.source() == CertSource::SelfSigned {
            tracing::warn!(
                "TLS towards clients uses a self-signed certificate made at start-up: clients \
                 that verify (sslmode=verify-ca/verify-full, --ssl-verify-server-cert) refuse \
                 it; set tls.cert_file and tls.key_file"
            );
        } else {
            tasks.push(spawn_reloader(server.clone(), shutdown.clone()));
        }
    }
    let mut running_pg = None;
    if let Some(addr) = config.listen.postgres {
        let listener = bind("postgres", addr).await?;
        running_pg = listener.local_addr().ok();
        let ctx = Arc::new(PgContext::new(
            engine.clone(),
            shutdown.clone(),
            tls.clone(),
        ));
        tasks.push(spawn_accept_loop(
            "postgres",
            listener,
            limit.clone(),
            shutdown.clone(),
            move |socket, _peer| postgres::serve(ctx.clone(), socket),
        ));
        tracing::info!(addr = ?running_pg, "postgres listener started");
    }
    let mut running_my = [None, None];
    let my_listeners = [
        (Protocol::MySql, "mysql", config.listen.mysql),
        (Protocol::MariaDb, "mariadb", config.listen.mariadb),
    ];
    for (slot, (proto, name, addr)) in running_my.iter_mut().zip(my_listeners) {
        let Some(addr) = addr else { continue };
        let listener = bind(name, addr).await?;
        *slot = listener.local_addr().ok();
        let ctx = Arc::new(MyContext::new(
            engine.clone(),
            proto,
            shutdown.clone(),
            tls.clone(),
        ));
        tasks.push(spawn_accept_loop(
            name,
            listener,
            limit.clone(),
            shutdown.clone(),
            move |socket, _peer| mysql::serve(ctx.clone(), socket),
        ));
        tracing::info!(addr = ?*slot, "{name} listener started");
    }
    for (proto, addr) in [(Protocol::MsSql, config.listen.mssql)] {
        if addr.is_some() && config.caches.iter().any(|c| c.protocol == proto) {
            tracing::warn!(
                protocol = proto.as_str(),
                "listener not available in this version"
            );
        }
    }
    let series = Arc::new(Series::default());
    if config.listen.admin.is_some() {
        tasks.push(spawn_sampler(
            engine.clone(),
            series.clone(),
            shutdown.clone(),
        ));
    }
    let mut running_admin = None;
    // The admin port outlives the listeners: it closes once sessions have drained.
    let (admin_stop, mut admin_shutdown) = Shutdown::new();
    let mut admin_task = None;
    if let Some(addr) = config.listen.admin {
        let listener = bind("admin", addr).await?;
        running_admin = listener.local_addr().ok();
        let router = crate::admin::router(
            engine.clone(),
            config.admin.token.clone(),
            shutdown.clone(),
            series.clone(),
        );
        admin_task = Some(tokio::spawn(async move {
            let serve = axum::serve(listener, router)
                .with_graceful_shutdown(async move { admin_shutdown.wait().await });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "admin server failed");
            }
        }));
        tracing::info!(addr = ?running_admin, "admin listener started");
    }
    Ok(Running {
        postgres: running_pg,
        mysql: running_my[0],
        mariadb: running_my[1],
        admin: running_admin,
        engine,
        series,
        stop,
        tasks,
        admin_stop,
        admin_task,
        connections: limit,
        max_connections: config.cache.max_connections,
        grace: config.cache.shutdown_grace,
    })
}

/// Samples the engine's figures into `series` every few seconds until shutdown.
fn spawn_sampler(engine: Arc<Engine>, series: Arc<Series>, mut stop: Shutdown) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(crate::admin::series::INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => series.sample(&engine),
                _ = stop.wait() => return,
            }
        }
    })
}

impl Running {
    /// Connection permits taken: open sessions once the accept loops have ended (each
    /// holds one while it waits for a connection).
    fn open_sessions(&self) -> usize {
        self.max_connections - self.connections.available_permits()
    }

    /// Stops accepting connections, then lets open sessions finish: each closes once
    /// it is between requests and outside a transaction (PostgreSQL clients get FATAL
    /// 57P01, as from a PostgreSQL server shutting down). Sessions still open after
    /// the grace period are left to be closed with the runtime. The admin port stays
    /// up meanwhile (`/readyz` answers 503) and closes last. Returns how many sessions
    /// were left.
    pub async fn shutdown(mut self) -> usize {
        let _ = self.stop.send(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
        // Each accept loop held a permit while it waited; they are gone now, so what
        // is taken is open sessions.
        tracing::info!(
            sessions = self.open_sessions(),
            grace = ?self.grace,
            "no new connections; open sessions close once between requests"
        );
        let all = u32::try_from(self.max_connections).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(self.grace, self.connections.acquire_many(all)).await;
        let left = match drained {
            Ok(_) => 0,
            Err(_) => self.open_sessions(),
        };
        let _ = self.admin_stop.send(true);
        if let Some(admin) = self.admin_task.take() {
            let _ = admin.await;
        }
        left
    }
}

/// Runs until SIGINT or SIGTERM.
pub async fn run(config: Config) -> Result<(), AppError> {
    let running = start(&config).await?;
    wait_for_signal().await;
    tracing::info!("shutting down");
    let left = running.shutdown().await;
    if left > 0 {
        tracing::warn!(
            sessions = left,
            "grace period over: closing the sessions still open"
        );
    } else {
        tracing::info!("every session closed");
    }
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
