//! A pooled PostgreSQL session (`pool = "session"`): the client's login is checked
//! (`pooled_login`, `client_login`), an origin connection is leased from the pool of (origin
//! user, database) (opened with the stored secret by `origin_login` when the pool has
//! none idle), the client's startup parameters are set on it, and the client is
//! greeted with the connection's parameter statuses and a cancel key of wirecache's
//! own. When the session ends at rest (no transaction, nothing owed), the connection
//! is reset with `DISCARD ALL` and given back; otherwise it is closed.
//!
//! Under `pool = "transaction"` the session gives that first connection back as soon
//! as it is idle, and leases one per transaction from then on (`pooled_txn`,
//! `pooled_lender`); at its end, a connection it still holds (pinned, or between
//! statements) is reset and given back the same way.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tracing::Instrument;

use super::auth_query::AuthQuery;
use super::errors::{self, PgError};
use super::logins::{LoginError, Logins};
use super::origin_login::{self, OriginConn};
use super::pooled_login::login;
pub(super) use super::pooled_login::{Greeted, Leased, LoggedIn};
use super::pooled_params::{self, Params};
use super::session::Session;
use super::startup::{self, Resolved};
use super::{PgContext, Route, messages};
use crate::config::{Config, PoolMode, Protocol};
use crate::engine::SessionNamespace;
use crate::pool::userlist::{Userlist, UserlistError};
use crate::pool::{Lease, Limits, Pools};
use crate::protocol::{Pipes, ProxySession};
use crate::server::stream::{Stream, send};
use crate::session::{Core, Gauge, TxnState};

/// One pooled cache: its logins and its pools.
pub struct PooledCache {
    pub(super) logins: Logins,
    pub(super) pools: Arc<Pools<(String, String), OriginConn>>,
    /// `auth_user` + `auth_query`, and auth_user's own login.
    pub(super) auth: Option<(AuthQuery, Arc<super::logins::Login>)>,
    /// Session or transaction pooling.
    pub(super) mode: PoolMode,
    /// Server-side names of named statements (transaction pooling).
    pub(super) names: Arc<super::pooled_stmts::StmtNames>,
    /// `max_prepared_statements` per origin connection (transaction pooling).
    pub(super) max_prepared: usize,
    /// What clients are greeted with, per login and startup parameters (transaction
    /// pooling: a login that has one needs no connection).
    pub(super) greetings: super::pooled_run::Greetings,
}

/// Why pooled mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum PooledError {
    #[error("cache {cache}: {source}")]
    Userlist {
        cache: String,
        source: UserlistError,
    },
    #[error("cache {cache}: {source}")]
    Login { cache: String, source: LoginError },
    #[error(
        "cache {cache}: auth_user {user:?} needs a login of its own (auth_file or user/password)"
    )]
    AuthUser { cache: String, user: String },
}

/// The pooled PostgreSQL caches of `config`, by cache ID. Runs inside the runtime.
pub fn build(
    config: &Config,
    caches: &crate::engine::Caches,
) -> Result<HashMap<String, Arc<PooledCache>>, PooledError> {
    let mut out = HashMap::new();
    for def in &config.caches {
        let p = &def.pool;
        if p.pool == PoolMode::Off || def.protocol != Protocol::Postgres {
            continue;
        }
        let Some(ctx) = caches.by_id(&def.id) else {
            continue;
        };
        let user = p.user.as_deref().zip(p.password.as_deref());
        let list = Userlist::load(p.auth_file.as_deref(), user).map_err(|source| {
            PooledError::Userlist {
                cache: def.id.clone(),
                source,
            }
        })?;
        let logins = Logins::new(&list).map_err(|source| PooledError::Login {
            cache: def.id.clone(),
            source,
        })?;
        let limits = Limits {
            size: p.pool_size,
            min_idle: p.pool_min_idle,
            max_lifetime: p.pool_max_lifetime,
            idle_timeout: p.pool_idle_timeout,
            queue_timeout: p.pool_queue_timeout,
        };
        let auth = match &p.auth_user {
            None => None,
            Some(user) => {
                let login = logins.get(user).ok_or_else(|| PooledError::AuthUser {
                    cache: def.id.clone(),
                    user: user.clone(),
                })?;
                let query = p.auth_query.clone();
                Some((
                    AuthQuery {
                        user: user.clone(),
                        query,
                    },
                    login,
                ))
            }
        };
        let pools = Pools::new(limits, ctx.metrics.pool.clone());
        let pooled = PooledCache {
            logins,
            pools,
            auth,
            mode: p.pool,
            names: Arc::default(),
            max_prepared: p.max_prepared_statements,
            greetings: Default::default(),
        };
        out.insert(def.id.clone(), Arc::new(pooled));
    }
    Ok(out)
}

pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Resets a connection a session is done with (`DISCARD ALL`), sets the session's
/// startup parameters `want` again in the same round trip (the next client most
/// likely has the same: then its login sends nothing), and gives it back to its
/// pool. An origin that does not answer within `within` loses the connection.
pub(super) async fn give_back(
    lease: Lease<OriginConn>,
    mut conn: OriginConn,
    want: &[(String, String)],
    within: std::time::Duration,
) {
    let sets = pooled_params::diff(want, &[]);
    let queries: &[&str] = match sets.is_empty() {
        true => &["DISCARD ALL"],
        false => &["DISCARD ALL", &sets],
    };
    conn.applied.clear();
    conn.txn = Default::default();
    let reset = tokio::time::timeout(within, origin_login::run_all(&mut conn, queries)).await;
    match reset {
        Ok(Ok(true)) if conn.end.alive() => {
            conn.applied = want.to_vec();
            lease.give_back(conn);
        }
        _ => drop(lease),
    }
}

/// The end of a pooled login, one write: `hello` (SASLFinal and AuthenticationOk)
/// followed by the greeting: statuses, our own cancel key, ReadyForQuery.
pub(super) fn greeting(hello: BytesMut, statuses: &[(String, String)], key: &[u8]) -> BytesMut {
    let mut out = hello;
    for (k, v) in statuses {
        let mut body = Vec::with_capacity(k.len() + v.len() + 2);
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
        messages::put_message(&mut out, b'S', &body);
    }
    messages::put_message(&mut out, b'K', key);
    out.extend_from_slice(&messages::ready_for_query(b'I'));
    out
}

/// Runs a pooled session from its login to its end.
pub async fn run(
    ctx: &Arc<PgContext>,
    mut client: Stream,
    mut cbuf: BytesMut,
    resolved: Resolved,
    pooled: &PooledCache,
    deadline: tokio::time::Instant,
) -> Result<(), PgError> {
    let cache = resolved.0.clone();
    let admitted = ctx.admission.admit(&cache).await;
    let admitted = admitted.map_err(PgError::TooManyConnections);
    let leased = match admitted {
        Ok(a) => tokio::time::timeout_at(
            deadline,
            login(ctx, &mut client, &mut cbuf, &resolved, pooled),
        )
        .await
        .unwrap_or(Err(PgError::Client("login timed out")))
        .map(|l| (a, l)),
        Err(e) => Err(e),
    };
    let (admitted, leased) = match leased {
        Ok(start) if pooled.mode == PoolMode::Transaction => {
            return super::pooled_run::run(ctx, (client, cbuf), &resolved, pooled, start).await;
        }
        Ok((a, LoggedIn::Leased(l))) => (a, *l),
        Ok((_, LoggedIn::Greeted(_))) => return Err(PgError::Origin("no connection leased")),
        Err(e) => {
            if let Some(wire) = errors::to_wire(&e) {
                let _ = send(&mut client, &wire).await;
            }
            return Err(e);
        }
    };
    let Leased {
        lease,
        conn,
        want,
        hello,
        ..
    } = leased;
    let own_key = Bytes::from(super::scram::random_bytes(8));
    send(&mut client, &greeting(hello, &conn.statuses, &own_key))
        .await
        .map_err(PgError::io(super::errors::Side::Client))?;
    let peer = client.tcp().peer_addr().ok();
    let OriginConn {
        end, statuses, key, ..
    } = conn;
    let mut session = session(ctx, (client, cbuf), &resolved, end, &statuses);
    session.admitted = Some(admitted);
    session.cancel = Some(super::cancel::CancelTarget {
        cache: cache.clone(),
        key: key.clone(),
    });
    let route = Route {
        origin: cache.origin.clone(),
        key: super::RouteKey::Fixed(key.clone()),
    };
    super::lock(&ctx.cancels).insert(own_key.clone(), route);
    let result = drive(ctx, &mut session, peer).await;
    super::lock(&ctx.cancels).remove(&own_key);
    if result.is_ok() {
        finish(session, lease, (statuses, key), &want).await;
    }
    result
}

/// A session that ended well at rest (outside a transaction, nothing owed, its origin
/// never lost or gone FATAL) gives its connection back; any other drops it.
async fn finish(
    mut session: Session,
    lease: Lease<OriginConn>,
    (statuses, key): (Params, Bytes),
    want: &[(String, String)],
) {
    let within = session.core.cache().connect_timeout;
    settle_refresh(&mut session, within).await;
    let at_rest = session.at_rest() && session.core.txn() == TxnState::Idle;
    if !at_rest || session.origin_fatal {
        return;
    }
    if let Some(end) = session.core.into_io().into_origin() {
        let applied = Vec::new();
        let conn = OriginConn {
            end,
            statuses,
            key,
            applied,
            txn: Default::default(),
        };
        give_back(lease, conn, want, within).await;
    }
}

/// At a session's end, the answer of a refresh ahead of expiry still in flight and
/// nothing else owed (the client left right after the hit that started it, as a client
/// with a connection per transaction does): read and stored, waiting at most
/// `within`. The session is then at rest and its connection goes back to the pool;
/// otherwise it would be closed under the refresh, the refreshed result lost with it,
/// and the next lease would pay the origin a login.
pub(super) async fn settle_refresh(session: &mut Session, within: std::time::Duration) {
    if session.core.refresh_answer().is_none() || !session.core.idle() {
        return;
    }
    let settle = async {
        loop {
            while let Some(frame) = session.next_from_origin()? {
                session.on_origin(frame)?;
            }
            if session.core.refresh_answer().is_none() {
                return Ok::<(), PgError>(());
            }
            session.core.io().read_origin().await?;
        }
    };
    if let Ok(Err(e)) = tokio::time::timeout(within, settle).await {
        tracing::debug!(error = %e, "a refresh in flight at the session's end failed");
    }
}

/// The proxied session over a leased connection.
pub(super) fn session(
    ctx: &PgContext,
    (client, cbuf): (Stream, BytesMut),
    (cache, params): &Resolved,
    origin: crate::protocol::End,
    statuses: &[(String, String)],
) -> Session {
    let namespace = SessionNamespace::new(startup::namespace(&cache.id, params, statuses));
    let io = Pipes::with_origin(client, cbuf, origin);
    let database = param(params, "database");
    let core = Core::new(
        ctx.engine.clone(),
        cache.clone(),
        database,
        namespace,
        io,
        TxnState::Idle,
    );
    let mut session = Session::new(core);
    session.pooled = true;
    session
}

/// Drives the session in its span, counting an idle timeout.
pub(super) async fn drive(
    ctx: &PgContext,
    session: &mut Session,
    peer: Option<std::net::SocketAddr>,
) -> Result<(), PgError> {
    let cache = session.core.cache().clone();
    let cache = &cache;
    let _gauge = Gauge::open(cache);
    let span = crate::session::span(Protocol::Postgres, cache, peer);
    let result = async {
        tracing::debug!(pooled = true, "postgres session started");
        crate::protocol::drive_ref(session, ctx.drain.clone()).await
    }
    .instrument(span)
    .await;
    if matches!(result, Err(PgError::IdleTimeout)) {
        cache
            .metrics
            .idle_closed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tag and body of each message in `bytes`.
    fn messages(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        while let [tag, a, b, c, d, rest @ ..] = bytes {
            let len = usize::try_from(u32::from_be_bytes([*a, *b, *c, *d])).unwrap_or(0);
            let body = rest.get(..len - 4).unwrap_or_default();
            out.push((*tag, body.to_vec()));
            bytes = rest.get(len - 4..).unwrap_or_default();
        }
        out
    }

    #[test]
    fn authentication_ok_and_the_greeting_are_one_buffer() {
        let hello = super::super::client_login::success("v=c2lnbmF0dXJl");
        let statuses = [
            ("server_version".to_owned(), "17.0".to_owned()),
            ("TimeZone".to_owned(), "UTC".to_owned()),
        ];
        let out = greeting(hello, &statuses, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let msgs = messages(&out);
        let tags: String = msgs.iter().map(|(t, _)| *t as char).collect();
        assert_eq!(tags, "RRSSKZ");
        let codes: Vec<_> = msgs
            .iter()
            .take(2)
            .map(|(_, b)| b.get(..4).map(<[u8]>::to_vec))
            .collect();
        assert_eq!(codes, [Some(vec![0, 0, 0, 12]), Some(vec![0, 0, 0, 0])]);
        assert_eq!(
            msgs.get(2).map(|(_, b)| b.as_slice()),
            Some(&b"server_version\x0017.0\0"[..])
        );
        assert_eq!(
            msgs.get(4).map(|(_, b)| b.as_slice()),
            Some(&[1, 2, 3, 4, 5, 6, 7, 8][..])
        );
        assert_eq!(msgs.get(5).map(|(_, b)| b.as_slice()), Some(&b"I"[..]));
    }
}
