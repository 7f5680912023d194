//! Where a transaction-pooled session's origin connections come from: its pool of
//! (origin user, database). A lease takes a connection (opening one with the stored
//! secret if none is idle), replays the client's settings on it when they differ from
//! what it has (`pooled_state`), and points the client's cancel key at its backend; a
//! release gives it back as it is (idle, clean, its settings and prepared statements
//! recorded with it) and the client's cancel key then reaches nothing. The lender
//! also holds what the session tracks across leases and its pin, if any.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::PgContext;
use super::errors::{PgError, Side};
use super::logins::OriginSecret;
use super::origin_login::{self, LoginFailure, OriginConn};
use super::pooled_cap::ConnStmts;
use super::pooled_params::Params;
use super::pooled_state::{ConnState, Tracked};
use super::pooled_stmts::StmtNames;
use crate::engine::CacheCtx;
use crate::pool::metrics::PinReason;
use crate::pool::{Lease, LeaseError, Pool};
use crate::protocol::pipes::{End, IoFailure, LendFuture, Lender};

/// What a leased connection brought besides its end.
struct Parts {
    lease: Lease<OriginConn>,
    statuses: Params,
    key: Bytes,
    applied: Params,
    state: ConnState,
}

/// One session's lender.
pub struct TxnLender {
    ctx: Arc<PgContext>,
    cache: Arc<CacheCtx>,
    pool: Pool<OriginConn>,
    target: (String, String),
    secret: OriginSecret,
    /// The cancel key the client was given.
    own_key: Bytes,
    /// The backend that key reaches now (see `RouteKey::Leased`).
    backend: Arc<Mutex<Option<Bytes>>>,
    held: Option<Parts>,
    /// The client's settings.
    pub tracked: Tracked,
    /// Statements prepared on the attached connection (`pooled_stmts` numbers).
    pub prepared: ConnStmts,
    /// Statements whose Parse went out in the current batch: unsure after an error.
    pub batch_parsed: Vec<u64>,
    /// Statements closed for the cap in the current batch: unsure after an error.
    pub batch_closed: Vec<u64>,
    /// `max_prepared_statements` (`pooled_cap`); 0: no cap.
    pub max_prepared: usize,
    /// Statements sent while no connection was attached: on the next one leased.
    pub queued: Vec<u64>,
    /// The cache's server-side statement names.
    pub names: Arc<StmtNames>,
    /// Bytes of text of the client's named statements (`pooled_parse`).
    pub text_bytes: usize,
    /// Why the session keeps its connection, once it must.
    pin: Option<PinReason>,
    /// Why the last lease failed, for the session to tell its client.
    pub failure: Option<PgError>,
}

/// What a lender starts with: the connection the login leased (its lease, backend
/// key and state), already attached to the session, if it leased one.
pub struct Start {
    pub first: Option<(Lease<OriginConn>, Bytes, ConnState)>,
    pub statuses: Params,
    pub tracked: Tracked,
    pub own_key: Bytes,
    pub secret: OriginSecret,
    pub target: (String, String),
    pub pool: Pool<OriginConn>,
    pub names: Arc<StmtNames>,
    pub max_prepared: usize,
}

impl TxnLender {
    pub fn new(ctx: Arc<PgContext>, cache: Arc<CacheCtx>, start: Start) -> Self {
        let (held, prepared) = match start.first {
            Some((lease, key, mut state)) => {
                let prepared = std::mem::take(&mut state.prepared);
                let parts = Parts {
                    lease,
                    statuses: start.statuses,
                    key,
                    applied: start.tracked.want.clone(),
                    state,
                };
                (Some(parts), prepared)
            }
            None => (None, ConnStmts::default()),
        };
        let mut lender = TxnLender {
            ctx,
            cache,
            pool: start.pool,
            target: start.target,
            secret: start.secret,
            own_key: start.own_key,
            backend: Arc::default(),
            held: None,
            tracked: start.tracked,
            prepared,
            batch_parsed: Vec::new(),
            batch_closed: Vec::new(),
            max_prepared: start.max_prepared,
            queued: Vec::new(),
            names: start.names,
            text_bytes: 0,
            pin: None,
            failure: None,
        };
        let route = super::Route {
            origin: lender.cache.origin.clone(),
            key: super::RouteKey::Leased(Arc::clone(&lender.backend)),
        };
        super::lock(&lender.ctx.cancels).insert(lender.own_key.clone(), route);
        lender.route(held.as_ref().map(|p| &p.key));
        lender.held = held;
        lender
    }

    /// Points the client's cancel key at `key`'s backend, or at none.
    fn route(&self, key: Option<&Bytes>) {
        *super::lock(&self.backend) = key.cloned();
    }

    /// The backend key of the attached connection.
    pub fn backend_key(&self) -> Option<Bytes> {
        self.held.as_ref().map(|p| p.key.clone())
    }

    pub fn pinned(&self) -> Option<PinReason> {
        self.pin
    }

    /// Pins the session to its connection (counted once, by its first reason).
    pub fn pin(&mut self, reason: PinReason) {
        if self.pin.is_none() {
            self.pin = Some(reason);
            self.cache.metrics.pool.pinned.up(reason);
            tracing::debug!(reason = reason.as_str(), "session pinned to its connection");
        }
    }

    /// The connection's settings may differ from the tracked ones from now on.
    pub fn mark_dirty(&mut self) {
        if let Some(p) = &mut self.held {
            p.state.dirty = true;
        }
    }

    /// The attached connection's lease and parts, once the session is over (its
    /// end comes from the session's pipes).
    pub fn finish(&mut self, end: End) -> Option<(Lease<OriginConn>, OriginConn)> {
        let parts = self.held.take()?;
        self.route(None);
        let conn = OriginConn {
            end,
            statuses: parts.statuses,
            key: parts.key,
            applied: parts.applied,
            txn: ConnState {
                prepared: std::mem::take(&mut self.prepared),
                ..parts.state
            },
        };
        Some((parts.lease, conn))
    }

    /// The attached connection was lost: dropped (its pool slot freed), with what
    /// the session knew of it.
    pub fn drop_connection(&mut self) {
        self.held = None;
        self.route(None);
        self.prepared.clear();
        self.queued.clear();
        self.batch_parsed.clear();
        self.batch_closed.clear();
    }

    async fn take(&mut self) -> Result<End, PgError> {
        let (cache, tls) = (&self.cache, self.ctx.tls.origin(&self.cache.id));
        let (target, secret) = (
            (self.target.0.as_str(), self.target.1.as_str()),
            &self.secret,
        );
        let open = || async move {
            let conn = origin_login::open(cache, tls, target, secret).await;
            if let Err(LoginFailure::Session(e)) = &conn {
                crate::session::connect_failed(cache, e);
            }
            conn
        };
        let mut lease = match self.pool.lease(open).await {
            Ok(l) => l,
            Err(LeaseError::QueueTimeout(_)) => {
                let refusal = crate::stats::Refusal::QueueTimeout;
                return Err(PgError::TooManyConnections(refusal));
            }
            Err(LeaseError::Open(LoginFailure::Session(e))) => return Err(e),
            Err(LeaseError::Open(LoginFailure::Refused(error))) => return Err(refused(&error)),
        };
        let mut conn = lease.take().ok_or(PgError::Origin("empty lease"))?;
        if self.tracked.differs(&conn.txn, &conn.applied) {
            conn.txn.dirty = true;
            let within = self.cache.connect_timeout;
            let sql = self.tracked.replay_sql();
            let replay = origin_login::run(&mut conn, &sql);
            let failed = match tokio::time::timeout(within, replay).await {
                Ok(Ok(error)) => error.is_some(),
                Ok(Err(e)) => return Err(e),
                Err(_) => true,
            };
            if failed {
                // Dropping the lease closes the connection.
                return Err(PgError::Origin("replaying the session's settings failed"));
            }
            conn.applied.clone_from(&self.tracked.want);
            conn.txn.sets.clone_from(&self.tracked.sets);
            conn.txn.dirty = false;
        }
        Ok(self.hold(lease, conn))
    }

    /// A connection idle in the pool, attached at once if it already carries the
    /// session's settings; `None` if there is none (nothing is opened, nothing waited
    /// for, nothing replayed). What a refresh ahead of expiry runs on: the hit it
    /// belongs to is answered from the cache and must not wait behind a lease.
    pub fn attach_idle(&mut self) -> Option<End> {
        let mut lease = self.pool.try_lease_idle()?;
        let conn = lease.take()?;
        if self.tracked.differs(&conn.txn, &conn.applied) {
            lease.give_back(conn);
            return None;
        }
        Some(self.hold(lease, conn))
    }

    /// Makes `conn` the session's attached connection: its prepared statements (and
    /// those queued meanwhile) are recorded, the client's cancel key points at it.
    fn hold(&mut self, lease: Lease<OriginConn>, mut conn: OriginConn) -> End {
        self.prepared = std::mem::take(&mut conn.txn.prepared);
        for id in self.queued.drain(..) {
            self.prepared.insert(id);
        }
        self.route(Some(&conn.key));
        self.held = Some(Parts {
            lease,
            statuses: conn.statuses,
            key: conn.key,
            applied: conn.applied,
            state: conn.txn,
        });
        conn.end
    }

    async fn give(&mut self, end: End) {
        let Some((lease, mut conn)) = self.finish(end) else {
            return;
        };
        conn.txn.sets.clone_from(&self.tracked.sets);
        // Given back unchecked: it answered a moment ago, and the pool checks that
        // it is alive when it next lends it (`Pool::take_idle`), so one peek (a
        // system call) per transaction is enough.
        lease.give_back(conn);
    }
}

/// An origin's refusal of wirecache's login: "cannot connect now" (57P03: starting
/// up, shutting down) is the origin being unavailable; anything else a rejection.
fn refused(error: &[u8]) -> PgError {
    let mut b = super::messages::Body::new(error.get(5..).unwrap_or_default());
    while let Some(field) = b.u8().filter(|f| *f != 0) {
        match b.cstr() {
            Some(b"57P03") if field == b'C' => return PgError::OriginUnavailable,
            Some(_) => {}
            None => break,
        }
    }
    PgError::AuthRejected
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
        if let Some(reason) = self.pin {
            self.cache.metrics.pool.pinned.down(reason);
        }
        super::lock(&self.ctx.cancels).remove(&self.own_key);
    }
}
