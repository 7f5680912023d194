//! A pooled MySQL/MariaDB session (`pool = "session"`): the client's login is checked
//! here (`client_auth`, against the cache's `pooled_logins`), an origin connection is
//! leased from the pool of (origin user, database, character set, capabilities) —
//! opened with the stored secret by `pooled_origin` when the pool has none idle, with
//! the client's database, character set and connection attributes — and the client
//! gets wirecache's own OK. The session's connection id is bound to the leased
//! connection's, so `KILL` names the right backend. When the session ends at rest
//! (nothing owed, no transaction open), the connection is reset with
//! `COM_RESET_CONNECTION` and `COM_INIT_DB` back to the pool's database, and given
//! back; otherwise, or if the reset fails, it is closed. Under `pool = "transaction"`
//! the login is checked the same way (leasing a connection only while the origin has
//! not yet accepted a login with its key) and the session goes on in `pooled_txn`.

use std::sync::Arc;

use bytes::BytesMut;

use super::MyContext;
use super::client_auth::{self, ClientIo, Exchange, Plugin};
use super::errors::{MyError, Side};
use super::handshake::{CLIENT_SSL, Response, SUPPORTED};
use super::kill::ClientId;
use super::namespace::base_namespace;
use super::pooled_lender::{ConnState, Opener};
use super::pooled_logins::OriginSecret;
use super::pooled_origin::{self, LoginFailure, OriginConn, Target};
use super::session::txn_state;
use super::session::{Identity, Session};
use super::tls::{AuthLegs, write};
use crate::config::PoolMode;
use crate::engine::CacheCtx;
use crate::engine::SessionNamespace;
use crate::pool::{Lease, LeaseError};
use crate::protocol::End;
use crate::protocol::Pipes;
use crate::server::admission::Admitted;
use crate::server::origin_tls::OriginTls;
use crate::server::stream::Stream;
use crate::session::Core;

pub(super) use super::pooled_cache::key_of;
pub use super::pooled_cache::{Key, PooledCache, PooledError, build, default_plugin};

/// A pooled session's hold on its connection, until it is given back, and what a
/// COM_CHANGE_USER needs to check a login and lease another one.
pub struct Held {
    /// `None` for a transaction-pooled login that needed no connection.
    pub(super) lease: Option<Lease<OriginConn>>,
    pub(super) key: Key,
    pub(super) thread_id: u32,
    pub(super) pooled: Arc<PooledCache>,
    /// The scramble of the client's greeting (COM_CHANGE_USER's first answer signs it).
    pub(super) scramble: Vec<u8>,
    pub(super) default: Plugin,
    pub(super) tls: Arc<crate::server::tls_context::TlsContext>,
    /// The connection id the client sees.
    pub(super) client_id: u32,
}

/// A pooled login that succeeded: the client has its OK.
pub struct PooledLogin {
    pub admitted: Admitted,
    pub origin: End,
    pub held: Held,
    pub identity: Identity,
    pub status: u16,
    pub thread_id: u32,
    /// The leased connection's state.
    pub state: ConnState,
    /// Transaction pooling: how the session's lender opens connections.
    pub opener: Option<Opener>,
}

/// The client's handshake as far as a pooled login needs it.
pub struct Hello<'a> {
    pub resp: &'a Response,
    /// The scramble the client was greeted with.
    pub scramble: &'a [u8],
    /// Capabilities offered in the greeting.
    pub offered: u32,
    /// Sequence id of wirecache's next packet.
    pub seq: u8,
}

/// A pooled session from the client's HandshakeResponse: login, lease, and the
/// session over the leased connection. Every failure is reported to the client here.
pub async fn establish(
    ctx: &Arc<MyContext>,
    (mut client, mut cbuf): (Stream, BytesMut),
    hello: Hello<'_>,
    (cache, user, pooled): (Arc<CacheCtx>, &str, Arc<PooledCache>),
    id: &ClientId,
) -> Result<Session, MyError> {
    let mut seq = hello.seq;
    let login = login(
        ctx,
        (&mut client, &mut cbuf, &mut seq),
        hello,
        (&cache, user),
        &pooled,
    )
    .await;
    let a = match login {
        Ok(a) => a,
        Err(e) => {
            if let Some(wire) = super::errors::to_wire(&e, seq) {
                let _ = write(&mut client, &wire, Side::Client).await;
            }
            return Err(e);
        }
    };
    if pooled.mode == PoolMode::Transaction {
        return Ok(super::pooled_txn::start(
            ctx,
            (client, cbuf),
            a,
            (cache, pooled),
            id,
        ));
    }
    id.bind(&cache.origin, a.thread_id);
    let namespace = SessionNamespace::new(base_namespace(&cache.id, &a.identity));
    let auth = AuthLegs {
        client_tls: client.is_tls(),
        origin_tls: false,
        tls: ctx.tls.clone(),
    };
    let io = Pipes::with_origin(client, cbuf, a.origin);
    let core = Core::new(
        ctx.engine.clone(),
        cache,
        "",
        namespace,
        io,
        txn_state(a.status),
    );
    let mut session = Session::new(core, a.identity, a.status, ctx.ids.clone(), auth);
    session.admitted = Some(a.admitted);
    let mut held = a.held;
    held.client_id = id.get();
    session.pooled = Some(held);
    Ok(session)
}

/// Checks the client's login, leases a connection and sends the client its OK.
/// `seq` follows the sequence id of wirecache's next packet (for an error).
async fn login(
    ctx: &MyContext,
    (client, cbuf, seq): (&mut Stream, &mut BytesMut, &mut u8),
    hello: Hello<'_>,
    (cache, user): (&Arc<CacheCtx>, &str),
    pooled: &Arc<PooledCache>,
) -> Result<PooledLogin, MyError> {
    let admitted = ctx.admission.admit(cache).await;
    let (admitted, login) = (
        admitted.map_err(MyError::TooManyConnections)?,
        pooled.logins.get(user),
    );
    let tls = client.is_tls();
    let mut ex = Exchange {
        client: ClientIo::Login(client, cbuf),
        seq: hello.seq,
        tls,
    };
    let default = default_plugin(ctx.protocol);
    let how = client_auth::check(
        &mut ex,
        hello.resp,
        hello.scramble,
        login.as_deref(),
        (user, default, pooled.logins.all_passwords()),
    )
    .await;
    *seq = ex.seq;
    let how = how?;
    tracing::debug!(cache = %cache.id, checked = ?how, "mysql pooled login checked");
    let secret = stored_secret(login.as_deref())?;
    let resp = hello.resp;
    let caps = resp.capabilities & hello.offered & SUPPORTED & !CLIENT_SSL;
    let key = key_of(user, resp, caps);
    let target = (cache, user, ctx.tls.origin(&cache.id));
    let (lease, conn) = first_lease(&mut ex, target, (resp, caps), (pooled, &secret)).await?;
    cache.metrics.origin.up();
    let opener =
        (pooled.mode == PoolMode::Transaction).then(|| Opener::of(user, resp, caps, secret));
    ex.send(&ok_packet(conn.status)).await?;
    Ok(PooledLogin {
        identity: Identity {
            user: user.as_bytes().to_vec(),
            database: key.database.clone(),
            charset: resp.charset,
            caps,
        },
        admitted,
        status: conn.status,
        thread_id: conn.thread_id,
        held: Held {
            lease,
            key,
            thread_id: conn.thread_id,
            pooled: pooled.clone(),
            scramble: hello.scramble.to_vec(),
            default,
            tls: ctx.tls.clone(),
            client_id: 0,
        },
        origin: conn.end,
        state: conn.state,
        opener,
    })
}

/// The secret wirecache logs in to the origin with, for a login it accepted.
fn stored_secret(login: Option<&super::pooled_logins::Login>) -> Result<OriginSecret, MyError> {
    let login = login.ok_or(MyError::AuthRejected)?;
    login.secret().ok_or(MyError::Origin(
        "no secret to log in to the origin with (a stored *HEX hash: the user's first login must use mysql_native_password)",
    ))
}

/// The connection a login leases; under transaction pooling, none once an origin
/// login with its key has worked (a full pool does not hold the login up).
async fn first_lease(
    ex: &mut Exchange<'_>,
    target: (&Arc<CacheCtx>, &str, Option<&OriginTls>),
    (resp, caps): (&Response, u32),
    (pooled, secret): (&PooledCache, &OriginSecret),
) -> Result<(Option<Lease<OriginConn>>, OriginConn), MyError> {
    let key = key_of(target.1, resp, caps);
    let txn = pooled.mode == PoolMode::Transaction;
    if txn && pooled.proven(&key) {
        let conn = OriginConn {
            end: End::detached_origin(),
            thread_id: 0,
            status: super::response::SERVER_STATUS_AUTOCOMMIT,
            state: ConnState::default(),
        };
        return Ok((None, conn));
    }
    let (mut lease, _) = lease(ex, target, (resp, caps), (pooled, secret)).await?;
    let mut conn = lease.take().ok_or(MyError::Origin("empty lease"))?;
    if txn {
        pooled.prove(&key);
        // The connection goes back at once: the session starts at the baseline.
        conn.status = super::response::SERVER_STATUS_AUTOCOMMIT;
    }
    Ok((Some(lease), conn))
}

/// A connection from the pool of the client's key, opened for it if none is idle.
/// The origin's own refusal of the login is relayed to the client.
pub(super) async fn lease(
    ex: &mut Exchange<'_>,
    (cache, user, tls): (&Arc<CacheCtx>, &str, Option<&OriginTls>),
    (resp, caps): (&Response, u32),
    (pooled, secret): (&PooledCache, &OriginSecret),
) -> Result<(Lease<OriginConn>, Key), MyError> {
    let key = key_of(user, resp, caps);
    let database = key.database.clone();
    let target = Target {
        user,
        database: database.as_deref(),
        charset: resp.charset,
        caps,
        max_packet: resp.max_packet,
        attrs: resp.attrs.as_deref(),
    };
    let open = || async {
        let conn = pooled_origin::open(cache, tls, &target, secret).await;
        if let Err(LoginFailure::Session(e)) = &conn {
            crate::session::connect_failed(cache, e);
        }
        conn
    };
    let lease = match pooled.pools.get(&key).lease(open).await {
        Ok(l) => l,
        Err(LeaseError::QueueTimeout(_)) => {
            return Err(MyError::TooManyConnections(
                crate::stats::Refusal::QueueTimeout,
            ));
        }
        Err(LeaseError::Open(LoginFailure::Session(e))) => return Err(e),
        Err(LeaseError::Open(LoginFailure::Refused(err))) => {
            let _ = ex.send(&err).await;
            return Err(MyError::AuthRejected);
        }
    };
    Ok((lease, key))
}

/// An OK packet with `status` flags.
pub(super) fn ok_packet(status: u16) -> Vec<u8> {
    let mut p = vec![0x00, 0, 0];
    p.extend_from_slice(&status.to_le_bytes());
    p.extend_from_slice(&[0, 0]);
    p
}

/// After a pooled session: a session that ended at rest (nothing owed by the origin,
/// no transaction open; autocommit off is fine, `COM_RESET_CONNECTION` restores it)
/// has its connection reset and given back; any other drops it (closing it, so the
/// origin rolls back what was left open, and an XA transaction prepared in it stays
/// for another session to commit).
pub async fn finish(mut session: Session) {
    let Some(held) = session.pooled.take() else {
        return;
    };
    let at_rest = session.core.origin_quiet()
        && !session.core.txn().is_open()
        && !session.origin_cont
        && !session.client_cont;
    if !at_rest {
        tracing::debug!("mysql pooled session ended outside rest: its origin connection is closed");
        return;
    }
    let within = session.core.cache().connect_timeout;
    let Some(end) = session.core.into_io().into_origin() else {
        return;
    };
    give_back(held, end, session.status, within).await;
}

/// Resets a connection a session is done with (`COM_RESET_CONNECTION`, and
/// `COM_INIT_DB` back to its pool's database) and gives it back; an origin that does
/// not answer within `within`, or refuses, loses it.
pub(super) async fn give_back(held: Held, end: End, status: u16, within: std::time::Duration) {
    let Held {
        lease,
        key,
        thread_id,
        ..
    } = held;
    let Some(lease) = lease else {
        return;
    };
    let conn = OriginConn {
        end,
        thread_id,
        status,
        state: ConnState::default(),
    };
    super::pooled_lender::reset_back(lease, conn, key.database.as_deref(), within).await;
}
