//! Wiring: config → engine → listeners → admin, and the shutdown order (stop
//! accepting, then let sessions end).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::admin::Series;
use crate::config::{Config, Protocol};
use crate::engine::Engine;
use crate::protocol::mysql::{self, MyContext};
use crate::protocol::postgres::{self, PgContext};
use crate::protocol::tds::{self, TdsContext};
use crate::server::admission::Admission;
use crate::server::tls::{CertSource, TlsError};
use crate::server::tls_context::{TlsContext, spawn_reloader};
use crate::server::workers::Workers;
use crate::server::{Shutdown, Stop, spawn_accept_loop};

/// A running wirecache: the addresses it listens on and the handle to stop it.
pub struct Running {
    pub postgres: Option<SocketAddr>,
    pub mysql: Option<SocketAddr>,
    pub mariadb: Option<SocketAddr>,
    pub mssql: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
    pub engine: Arc<Engine>,
    /// The dashboard's time series (sampled every [`crate::admin::series::INTERVAL`]).
    pub series: Arc<Series>,
    stop: Stop,
    /// The accept loops.
    tasks: Vec<JoinHandle<()>>,
    admin_stop: Stop,
    admin_task: Option<JoinHandle<()>>,
    /// Held by every open client connection, one permit each.
    connections: Arc<Semaphore>,
    /// The threads sessions run on: they stop (closing what still runs there) when
    /// this is dropped, after the accept loops.
    _workers: Arc<Workers>,
    max_connections: usize,
    grace: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("cluster: {0}")]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("pooled mode: {0}")]
    Pooled(#[from] crate::protocol::postgres::pooled::PooledError),
    #[error("pooled mode: {0}")]
    MyPooled(#[from] crate::protocol::mysql::pooled::PooledError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the session threads: {0}")]
    Runtime(std::io::Error),
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, AppError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| AppError::Bind { what, addr, source })
}

/// What every listener of one process shares.
struct Shared {
    engine: Arc<Engine>,
    tls: Arc<TlsContext>,
    shutdown: Shutdown,
    /// Client connections open at once, across listeners: the sessions
    /// `cache.max_connections` admits, and those waiting or logging in.
    limit: Arc<Semaphore>,
    /// Sessions admitted under `cache.max_connections` and `[limits]`.
    admission: Arc<Admission>,
    /// The threads sessions run on.
    workers: Arc<Workers>,
}

/// Sockets open at once: every session `cache.max_connections` admits, and
/// `limits.queue` more waiting for a place or logging in (past that, new
/// connections wait in the kernel's backlog until one closes).
fn open_connections(config: &Config) -> usize {
    config
        .cache
        .max_connections
        .saturating_add(config.limits.queue)
}

/// The engine, in its cluster when `[cluster]` is configured.
fn engine(config: &Config) -> Result<Engine, AppError> {
    let mut engine = Engine::new(config);
    if let Some(settings) = &config.cluster {
        let cluster = crate::cluster::Cluster::start(settings, engine.generations_handle())?;
        engine.set_cluster(cluster);
    }
    Ok(engine)
}

/// Starts every configured listener. Port 0 picks a free port (tests).
pub async fn start(config: &Config) -> Result<Running, AppError> {
    let (stop, shutdown) = Shutdown::new();
    let shared = Shared {
        engine: Arc::new(engine(config)?),
        tls: Arc::new(TlsContext::from_config(config)?),
        shutdown,
        limit: Arc::new(Semaphore::new(open_connections(config))),
        admission: Arc::new(Admission::new(config)),
        workers: Arc::new(Workers::per_core().map_err(AppError::Runtime)?),
    };
    let mut tasks = Vec::new();
    tasks.extend(start_reloader(&shared));
    let postgres = match config.listen.postgres {
        Some(addr) => start_postgres(&shared, config, addr, &mut tasks).await?,
        None => None,
    };
    let mysql = match config.listen.mysql {
        Some(addr) => start_mysql(&shared, config, Protocol::MySql, addr, &mut tasks).await?,
        None => None,
    };
    let mariadb = match config.listen.mariadb {
        Some(addr) => start_mysql(&shared, config, Protocol::MariaDb, addr, &mut tasks).await?,
        None => None,
    };
    let mssql = match config.listen.mssql {
        Some(addr) => start_mssql(&shared, addr, &mut tasks).await?,
        None => None,
    };
    let series = Arc::new(Series::default());
    let (admin_stop, admin_shutdown) = Shutdown::new();
    let (admin, admin_task) = match config.listen.admin {
        Some(addr) => {
            let sampler = spawn_sampler(
                shared.engine.clone(),
                series.clone(),
                shared.shutdown.clone(),
            );
            tasks.push(sampler);
            start_admin(config, &shared, &series, addr, admin_shutdown).await?
        }
        None => (None, None),
    };
    Ok(Running {
        postgres,
        mysql,
        mariadb,
        mssql,
        admin,
        engine: shared.engine,
        series,
        stop,
        tasks,
        admin_stop,
        admin_task,
        connections: shared.limit,
        _workers: shared.workers,
        max_connections: open_connections(config),
        grace: config.cache.shutdown_grace,
    })
}

/// Watches the client certificate files for changes (not a self-signed one: that
/// one is only warned about).
fn start_reloader(shared: &Shared) -> Option<JoinHandle<()>> {
    let server = shared.tls.server()?;
    if *server.source() == CertSource::SelfSigned {
        tracing::warn!(
            "TLS towards clients uses a self-signed certificate made at start-up: clients \
             that verify (sslmode=verify-ca/verify-full, --ssl-verify-server-cert) refuse \
             it; set tls.cert_file and tls.key_file"
        );
        return None;
    }
    Some(spawn_reloader(server.clone(), shared.shutdown.clone()))
}

async fn start_postgres(
    shared: &Shared,
    config: &Config,
    addr: SocketAddr,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<Option<SocketAddr>, AppError> {
    let listener = bind("postgres", addr).await?;
    let local = listener.local_addr().ok();
    let pooled = postgres::pooled::build(config, shared.engine.caches())?;
    let ctx = Arc::new(
        PgContext::new(
            shared.engine.clone(),
            shared.shutdown.clone(),
            shared.tls.clone(),
            shared.admission.clone(),
        )
        .with_pooled(pooled),
    );
    tasks.push(spawn_accept_loop(
        "postgres",
        listener,
        shared.limit.clone(),
        shared.workers.clone(),
        shared.shutdown.clone(),
        move |socket, _peer| postgres::serve(ctx.clone(), socket),
    ));
    tracing::info!(addr = ?local, "postgres listener started");
    Ok(local)
}

/// A MySQL-protocol listener: port 9000 (`Protocol::MySql`) or 9001 (MariaDB).
async fn start_mysql(
    shared: &Shared,
    config: &Config,
    proto: Protocol,
    addr: SocketAddr,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<Option<SocketAddr>, AppError> {
    let name = proto.as_str();
    let listener = bind(name, addr).await?;
    let local = listener.local_addr().ok();
    let pooled = mysql::pooled::build(config, shared.engine.caches(), proto)?;
    let ctx = Arc::new(
        MyContext::new(
            shared.engine.clone(),
            proto,
            shared.shutdown.clone(),
            shared.tls.clone(),
            shared.admission.clone(),
        )
        .with_pooled(pooled),
    );
    tasks.push(spawn_accept_loop(
        name,
        listener,
        shared.limit.clone(),
        shared.workers.clone(),
        shared.shutdown.clone(),
        move |socket, _peer| mysql::serve(ctx.clone(), socket),
    ));
    tracing::info!(addr = ?local, "{name} listener started");
    Ok(local)
}

/// The SQL Server (TDS) listener, port 9020.
async fn start_mssql(
    shared: &Shared,
    addr: SocketAddr,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<Option<SocketAddr>, AppError> {
    let listener = bind("mssql", addr).await?;
    let local = listener.local_addr().ok();
    let ctx = Arc::new(TdsContext::new(
        shared.engine.clone(),
        shared.shutdown.clone(),
        shared.tls.clone(),
        shared.admission.clone(),
    ));
    tasks.push(spawn_accept_loop(
        "mssql",
        listener,
        shared.limit.clone(),
        shared.workers.clone(),
        shared.shutdown.clone(),
        move |socket, _peer| tds::serve(ctx.clone(), socket),
    ));
    tracing::info!(addr = ?local, "mssql listener started");
    Ok(local)
}

/// The admin port. It outlives the listeners: it closes (on `admin_shutdown`) once
/// sessions have drained.
async fn start_admin(
    config: &Config,
    shared: &Shared,
    series: &Arc<Series>,
    addr: SocketAddr,
    mut admin_shutdown: Shutdown,
) -> Result<(Option<SocketAddr>, Option<JoinHandle<()>>), AppError> {
    let listener = bind("admin", addr).await?;
    let local = listener.local_addr().ok();
    let router = crate::admin::router(
        shared.engine.clone(),
        config.admin.token.clone(),
        shared.shutdown.clone(),
        series.clone(),
    );
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, router)
            .with_graceful_shutdown(async move { admin_shutdown.wait().await });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "admin server failed");
        }
    });
    tracing::info!(addr = ?local, "admin listener started");
    Ok((local, Some(task)))
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
        self.stop.stop();
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
        self.admin_stop.stop();
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
