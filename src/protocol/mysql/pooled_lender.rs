//! Where a transaction-pooled MySQL/MariaDB session's origin connections come from:
//! the pool of its key (origin user, database, character set, capabilities). A lease
//! takes a connection (opening one with the stored secret if none is idle), brings it
//! to the session's state when it carries another (`pooled_state::Tracked::replay`:
//! `COM_INIT_DB` alone for another database; `COM_RESET_CONNECTION`, `COM_INIT_DB`
//! and the session's `SET`s for other settings), and points the session's connection
//! id at its backend (what `KILL` names); a release gives it back as it is, its state
//! and prepared statements recorded with it, and the id then names no backend. The
//! lender also holds what the session tracks across leases: its settings, its
//! prepared statements (`pooled_stmts`), the last insert id, and its pin.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::client_auth::Plugin;
use super::command::{COM_INIT_DB, COM_RESET_CONNECTION};
use super::errors::{MyError, Side};
use super::kill::ConnectionIds;
use super::pooled::{Key, PooledCache};
use super::pooled_diag::{ConnDiag, SessionDiag};
use super::pooled_logins::OriginSecret;
use super::pooled_origin::{self, LoginFailure, OriginConn, Target};
use super::pooled_state::Tracked;
use super::pooled_stmts::{ClientStmt, ServerStmt};
use crate::engine::CacheCtx;
use crate::pool::metrics::PinReason;
use crate::pool::{Lease, LeaseError, Pool};
use crate::protocol::pipes::{End, IoFailure, LendFuture, Lender};
use crate::server::tls_context::TlsContext;

/// What a pooled connection carries besides its login: its database and settings,
/// and the statements prepared on it (by SQL text).
#[derive(Debug, Default)]
pub struct ConnState {
    pub tracked: Tracked,
    pub stmts: HashMap<Vec<u8>, ServerStmt>,
    /// Its diagnostics area and row count (`pooled_diag`).
    pub diag: ConnDiag,
}

impl ConnState {
    /// A connection just logged in (or reset) with `db`.
    pub fn at(db: Option<&[u8]>) -> Self {
        ConnState {
            tracked: Tracked {
                db: db.map(<[u8]>::to_vec),
                sets: Vec::new(),
            },
            stmts: HashMap::new(),
            // After a COM_RESET_CONNECTION: its diagnostics are not known.
            diag: ConnDiag {
                dirty: true,
                row_count: None,
            },
        }
    }
}

/// The login a lender opens new connections with (the session's).
pub struct Opener {
    pub user: String,
    pub charset: u8,
    pub caps: u32,
    pub max_packet: u32,
    pub attrs: Option<Vec<u8>>,
    pub secret: OriginSecret,
}

impl Opener {
    /// The login of `user` as its HandshakeResponse (or COM_CHANGE_USER) `resp` asks.
    pub fn of(
        user: &str,
        resp: &super::handshake::Response,
        caps: u32,
        secret: OriginSecret,
    ) -> Self {
        Opener {
            user: user.to_owned(),
            charset: resp.charset,
            caps,
            max_packet: resp.max_packet,
            attrs: resp.attrs.clone(),
            secret,
        }
    }
}

/// The attached connection's parts.
struct Held {
    lease: Lease<OriginConn>,
    thread_id: u32,
    status: u16,
    state: ConnState,
}

/// One session's lender.
pub struct TxnLender {
    cache: Arc<CacheCtx>,
    pub tls: Arc<TlsContext>,
    pub pooled: Arc<PooledCache>,
    pool: Pool<OriginConn>,
    pub key: Key,
    opener: Opener,
    ids: Arc<ConnectionIds>,
    /// The connection id the client sees.
    pub client_id: u32,
    held: Option<Held>,
    /// The session's database and settings.
    pub tracked: Tracked,
    /// The client's prepared statements, by the ids it was given.
    pub client_stmts: HashMap<u32, ClientStmt>,
    /// The bytes of their texts.
    pub stmt_bytes: usize,
    pub next_stmt: u32,
    /// SQL of the client's COM_STMT_PREPAREs awaiting their answer, in order.
    pub preparing: VecDeque<Vec<u8>>,
    /// Long data was sent: the connection holds it until the execute.
    pub long_data: bool,
    /// The last insert id an OK reported, and the lease it was reported in.
    pub insert_id: (u64, u64),
    /// Leases taken so far (the current one's number while one is attached).
    pub lease_no: u64,
    pin: Option<PinReason>,
    /// The session's diagnostics (`pooled_diag`), and whether they hold the
    /// connection now (counted as a `diagnostics` pin while they do).
    pub diag: SessionDiag,
    diag_hold: bool,
    /// Why the last lease failed, for the session to tell its client.
    pub failure: Option<MyError>,
    /// For COM_CHANGE_USER: the greeting's scramble and plugin.
    pub scramble: Vec<u8>,
    pub plugin: Plugin,
}

/// What a lender starts with.
pub struct Start {
    pub cache: Arc<CacheCtx>,
    pub tls: Arc<TlsContext>,
    pub pooled: Arc<PooledCache>,
    pub key: Key,
    pub opener: Opener,
    pub ids: Arc<ConnectionIds>,
    pub client_id: u32,
    /// The connection the login leased, attached to the session.
    pub first: Option<(Lease<OriginConn>, u32, u16, ConnState)>,
    pub scramble: Vec<u8>,
    pub plugin: Plugin,
}

impl TxnLender {
    pub fn new(start: Start) -> Self {
        let pool = start.pooled.pools.get(&start.key);
        let tracked = Tracked {
            db: start.key.database.clone(),
            sets: Vec::new(),
        };
        let mut lender = TxnLender {
            cache: start.cache,
            tls: start.tls,
            pooled: start.pooled,
            pool,
            key: start.key,
            opener: start.opener,
            ids: start.ids,
            client_id: start.client_id,
            held: None,
            tracked,
            client_stmts: HashMap::new(),
            stmt_bytes: 0,
            next_stmt: 1,
            preparing: VecDeque::new(),
            long_data: false,
            insert_id: (0, 0),
            lease_no: 0,
            pin: None,
            diag: SessionDiag::default(),
            diag_hold: false,
            failure: None,
            scramble: start.scramble,
            plugin: start.plugin,
        };
        if let Some((lease, thread_id, status, state)) = start.first {
            lender.hold(lease, thread_id, status, state);
        }
        lender
    }

    /// What COM_CHANGE_USER checks a login with: the pooled cache, the greeting's
    /// scramble and plugin, and TLS.
    pub fn login_parts(&self) -> (Arc<PooledCache>, Vec<u8>, Plugin, Arc<TlsContext>) {
        let scramble = self.scramble.clone();
        (self.pooled.clone(), scramble, self.plugin, self.tls.clone())
    }

    pub fn pinned(&self) -> Option<PinReason> {
        self.pin
    }

    /// Pins the session to its connection (counted once, by its first reason).
    pub fn pin(&mut self, reason: PinReason) {
        if self.pin.is_none() {
            self.pin = Some(reason);
            self.cache.metrics.pool.pinned.up(reason);
            tracing::debug!(
                reason = reason.as_str(),
                "mysql session pinned to its connection"
            );
        }
    }

    /// The pinned state is gone (COM_RESET_CONNECTION ran on the connection).
    pub fn unpin(&mut self) {
        if let Some(reason) = self.pin.take() {
            self.cache.metrics.pool.pinned.down(reason);
        }
    }

    /// The session's diagnostics hold its connection (`on`), or no longer do.
    pub fn hold_for_diagnostics(&mut self, on: bool) {
        if on == self.diag_hold {
            return;
        }
        self.diag_hold = on;
        let gauge = &self.cache.metrics.pool.pinned;
        if on {
            gauge.up(PinReason::Diagnostics);
            tracing::debug!("mysql session keeps its connection for its diagnostics");
        } else {
            gauge.down(PinReason::Diagnostics);
        }
    }

    /// The attached connection's state.
    pub fn conn(&mut self) -> Option<&mut ConnState> {
        self.held.as_mut().map(|h| &mut h.state)
    }

    /// The attached connection's backend id.
    pub fn thread(&self) -> Option<u32> {
        self.held.as_ref().map(|h| h.thread_id)
    }

    /// The attached connection's lease and connection, once the session is over
    /// (its end comes from the session's pipes).
    pub fn finish(&mut self, end: End, status: u16) -> Option<(Lease<OriginConn>, OriginConn)> {
        let h = self.held.take()?;
        self.ids.unbind(self.client_id);
        let conn = OriginConn {
            end,
            thread_id: h.thread_id,
            status,
            state: h.state,
        };
        Some((h.lease, conn))
    }

    fn hold(&mut self, lease: Lease<OriginConn>, thread_id: u32, status: u16, state: ConnState) {
        self.lease_no += 1;
        self.ids
            .rebind(self.client_id, &self.cache.origin, thread_id);
        self.held = Some(Held {
            lease,
            thread_id,
            status,
            state,
        });
    }

    async fn leased(&mut self) -> Result<Lease<OriginConn>, MyError> {
        let o = &self.opener;
        let target = Target {
            user: &o.user,
            database: self.key.database.as_deref(),
            charset: o.charset,
            caps: o.caps,
            max_packet: o.max_packet,
            attrs: o.attrs.as_deref(),
        };
        let (cache, tls, secret) = (&self.cache, self.tls.origin(&self.cache.id), &o.secret);
        let open = || async {
            let conn = pooled_origin::open(cache, tls, &target, secret).await;
            if let Err(LoginFailure::Session(e)) = &conn {
                crate::session::connect_failed(cache, e);
            }
            conn
        };
        match self.pool.lease(open).await {
            Ok(l) => Ok(l),
            Err(LeaseError::QueueTimeout(_)) => Err(MyError::TooManyConnections(
                crate::stats::Refusal::QueueTimeout,
            )),
            Err(LeaseError::Open(LoginFailure::Session(e))) => Err(e),
            Err(LeaseError::Open(LoginFailure::Refused(_))) => Err(MyError::AuthRejected),
        }
    }

    /// A connection brought to the session's state.
    async fn take(&mut self) -> Result<End, MyError> {
        // A connection that cannot be brought there (it has a database, the session
        // wants none) is closed and another taken.
        for _ in 0..4 {
            let mut lease = self.leased().await?;
            let mut conn = lease.take().ok_or(MyError::Origin("empty lease"))?;
            let Some((commands, reset)) = self.tracked.replay(&conn.state.tracked) else {
                continue;
            };
            if !commands.is_empty() {
                let within = self.cache.connect_timeout;
                let replay = pooled_origin::run(&mut conn, &commands);
                match tokio::time::timeout(within, replay).await {
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) => return Err(e),
                    Ok(Ok(Some(_))) | Err(_) => {
                        return Err(MyError::Origin(
                            "replaying the session's settings on a pooled connection failed",
                        ));
                    }
                }
                if reset {
                    conn.state.stmts.clear();
                }
                conn.state.tracked = self.tracked.clone();
                // COM_INIT_DB and SET leave the DA, and set ROW_COUNT() to 0; a
                // reset alone: not known.
                conn.state.diag.row_count = None;
            }
            let OriginConn {
                end,
                thread_id,
                status,
                state,
            } = conn;
            self.hold(lease, thread_id, status, state);
            return Ok(end);
        }
        Err(MyError::Origin(
            "no pooled connection could be brought to the session's database",
        ))
    }

    /// Gives the attached connection back as it is; one whose database the pool's
    /// other sessions could not leave is closed instead.
    async fn give(&mut self, end: End) {
        let status = self.held.as_ref().map_or(0, |h| h.status);
        let Some((lease, mut conn)) = self.finish(end, status) else {
            return;
        };
        let stray_db = self.key.database.is_none() && conn.state.tracked.db.is_some();
        if !stray_db && conn.end.alive() {
            lease.give_back(conn);
        }
    }
}

/// Resets a connection a pinned (or unsure) session is done with
/// (`COM_RESET_CONNECTION`, `COM_INIT_DB` back to the pool's database) and gives it
/// back; an origin that does not answer within `within`, or refuses, loses it.
pub async fn reset_back(
    lease: Lease<OriginConn>,
    mut conn: OriginConn,
    db: Option<&[u8]>,
    within: std::time::Duration,
) {
    if db.is_none() && conn.state.tracked.db.is_some() {
        // A database no reset leaves: closed.
        return;
    }
    let mut commands = vec![vec![COM_RESET_CONNECTION]];
    if let Some(db) = db {
        let mut init = vec![COM_INIT_DB];
        init.extend_from_slice(db);
        commands.push(init);
    }
    let reset = tokio::time::timeout(within, pooled_origin::run(&mut conn, &commands)).await;
    match reset {
        Ok(Ok(None)) if conn.end.alive() => {
            conn.state = ConnState::at(db);
            lease.give_back(conn);
        }
        _ => tracing::debug!("mysql pooled connection not reset: closed"),
    }
}

impl Lender for TxnLender {
    fn lease(&mut self) -> LendFuture<'_, Result<End, IoFailure>> {
        Box::pin(async move {
            self.take().await.map_err(|e| {
                let source = std::io::Error::other(e.to_string());
                self.failure = Some(e);
                IoFailure {
                    side: Side::Origin,
                    source,
                }
            })
        })
    }

    fn release(&mut self, conn: End) -> LendFuture<'_, ()> {
        Box::pin(self.give(conn))
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

impl Drop for TxnLender {
    fn drop(&mut self) {
        self.unpin();
        self.hold_for_diagnostics(false);
    }
}
