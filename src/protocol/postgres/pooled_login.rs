//! A pooled login (`pooled`): the client's password is checked here
//! (`client_login`) against the userlist or `auth_query`, then a connection is leased
//! from the pool of (origin user, database), opened with the stored secret when the
//! pool has none idle, and the client's startup parameters are set on it. Under
//! transaction pooling a login whose greeting is known needs no connection.

use std::sync::Arc;

use bytes::BytesMut;

use super::errors::PgError;
use super::origin_login::{self, LoginFailure, OriginConn};
use super::pooled::{PooledCache, give_back, param};
use super::pooled_params::{self, Params};
use super::startup::Resolved;
use super::{PgContext, client_login};
use crate::config::PoolMode;
use crate::pool::{Lease, LeaseError};
use crate::server::stream::{Stream, send};

/// A session's lease and the startup parameters set on it; with the secret and the
/// pool, for transaction pooling's next leases.
pub(super) struct Leased {
    pub lease: Lease<OriginConn>,
    pub conn: OriginConn,
    pub want: Params,
    pub secret: super::logins::OriginSecret,
    pub pool: crate::pool::Pool<OriginConn>,
    /// SASLFinal and AuthenticationOk, sent with the greeting in one write.
    pub hello: BytesMut,
}

/// A login under transaction pooling that needed no connection: what the client is
/// greeted with came from an earlier login with the same parameters.
pub(super) struct Greeted {
    pub statuses: Params,
    pub want: Params,
    pub secret: super::logins::OriginSecret,
    pub pool: crate::pool::Pool<OriginConn>,
    /// SASLFinal and AuthenticationOk, sent with the greeting in one write.
    pub hello: BytesMut,
}

/// A checked login: with a leased connection, or (transaction pooling) without.
pub(super) enum LoggedIn {
    Leased(Box<Leased>),
    Greeted(Box<Greeted>),
}

/// Checks the login, leases a connection and sets the client's parameters on it
/// (under transaction pooling, only if no earlier login had those parameters).
pub(super) async fn login(
    ctx: &PgContext,
    client: &mut Stream,
    cbuf: &mut BytesMut,
    (cache, params): &Resolved,
    pooled: &PooledCache,
) -> Result<LoggedIn, PgError> {
    let user = param(params, "user");
    let login = lookup(ctx, cache, pooled, (user, param(params, "database"))).await?;
    let (key, hello) = client_login::check(client, cbuf, user, login.as_deref()).await?;
    let Some(login) = login else {
        return Err(PgError::AuthRejected);
    };
    login.learn(key);
    let secret = login
        .secret()
        .ok_or(PgError::Origin("no secret to log in to the origin with"))?;
    let want = pooled_params::settable(params)?;
    let target = (user, param(params, "database"));
    let tls = ctx.tls.origin(&cache.id);
    let pool = pooled
        .pools
        .get(&(target.0.to_owned(), target.1.to_owned()));
    if pooled.mode == PoolMode::Transaction
        && let Some(statuses) = pooled.greetings.get(target, &want)
    {
        let greeted = Greeted {
            statuses,
            want,
            secret,
            pool,
            hello,
        };
        return Ok(LoggedIn::Greeted(Box::new(greeted)));
    }
    let (lease, conn) = lease_first(client, cache, tls, target, &secret, &pool, &want).await?;
    Ok(LoggedIn::Leased(Box::new(Leased {
        lease,
        conn,
        want,
        secret,
        pool,
        hello,
    })))
}

/// Leases the login's connection and sets the client's parameters on it.
async fn lease_first(
    client: &mut Stream,
    cache: &Arc<crate::engine::CacheCtx>,
    tls: Option<&crate::server::origin_tls::OriginTls>,
    target: (&str, &str),
    secret: &super::logins::OriginSecret,
    pool: &crate::pool::Pool<OriginConn>,
    want: &Params,
) -> Result<(Lease<OriginConn>, OriginConn), PgError> {
    let open = || async {
        let conn = origin_login::open(cache, tls, target, secret).await;
        if let Err(LoginFailure::Session(e)) = &conn {
            crate::session::connect_failed(cache, e);
        }
        conn
    };
    let mut lease = match pool.lease(open).await {
        Ok(l) => l,
        Err(LeaseError::QueueTimeout(_)) => {
            return Err(PgError::TooManyConnections(
                crate::stats::Refusal::QueueTimeout,
            ));
        }
        Err(LeaseError::Open(LoginFailure::Session(e))) => return Err(e),
        Err(LeaseError::Open(LoginFailure::Refused(error))) => {
            let _ = send(client, &error).await;
            return Err(PgError::AuthRejected);
        }
    };
    cache.metrics.origin.up();
    let mut conn = lease.take().ok_or(PgError::Origin("empty lease"))?;
    let sets = pooled_params::diff(want, &conn.applied);
    if !sets.is_empty() {
        conn.applied.clear();
        if let Some(error) = origin_login::run(&mut conn, &sets).await? {
            let _ = send(client, &error).await;
            give_back(lease, conn, &[], cache.connect_timeout).await;
            return Err(PgError::AuthRejected);
        }
        conn.applied.clone_from(want);
    }
    Ok((lease, conn))
}

/// The login of `user`: from the userlist, else from `auth_query` if configured.
async fn lookup(
    ctx: &PgContext,
    cache: &Arc<crate::engine::CacheCtx>,
    pooled: &PooledCache,
    (user, database): (&str, &str),
) -> Result<Option<Arc<super::logins::Login>>, PgError> {
    if let Some(login) = pooled.logins.get(user) {
        return Ok(Some(login));
    }
    let Some((query, auth_login)) = &pooled.auth else {
        return Ok(None);
    };
    let at = super::auth_query::Place {
        cache,
        tls: ctx.tls.origin(&cache.id),
        pools: &pooled.pools,
        database,
    };
    let found = query.lookup(&at, auth_login, user).await?;
    Ok(found.map(Arc::new))
}
