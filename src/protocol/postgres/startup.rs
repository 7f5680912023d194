//! Connection start: TLS (SSLRequest, or PostgreSQL 17's direct TLS start, in `tls`;
//! GSS encryption declined), CancelRequest routing, the StartupMessage, cache-ID
//! resolution, the origin connection with its own TLS, and authentication relayed
//! between client and origin (design §6). Passwords pass through and are never logged;
//! one wirecache must see in clear is accepted only over TLS (or when the operator
//! allows it).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;

use super::PgContext;
use super::auth::Challenge;
use super::codec::{self, Frame, MAX_CLIENT_MESSAGE, MAX_ORIGIN_MESSAGE};
use super::errors::{PgError, Side};
use super::messages::{self, Body};
use super::session::Session;
use super::tls::{connect_origin, direct_tls, upgrade};
use crate::config::{ClientTls, Protocol};
use crate::engine::{CacheCtx, NamespaceMaterial, SessionNamespace};
use crate::protocol::Pipes;
use crate::server::admission::Admitted;
use crate::server::stream::{Stream, send};
use crate::server::tls_context::TlsContext;
use crate::session::{Core, TxnState};

/// What the client asked for first.
pub enum Opening {
    Startup {
        version: i32,
        params: Vec<(String, String)>,
    },
    Cancel {
        key: Bytes,
    },
}

/// Reads startup packets until a StartupMessage or CancelRequest. An SSLRequest (or a
/// direct TLS start) upgrades the connection in `slot` when TLS is offered; it is
/// declined with `N` otherwise, as GSS encryption always is. `slot` is empty after a
/// failed TLS handshake (nothing can be said to that client).
pub async fn read_opening(
    slot: &mut Option<Stream>,
    buf: &mut BytesMut,
    tls: &TlsContext,
) -> Result<Opening, PgError> {
    loop {
        let client = slot.as_mut().ok_or(PgError::Closed(Side::Client))?;
        if buf.is_empty() && !client.is_tls() && tls.offered() && direct_tls(client).await? {
            upgrade(slot, tls).await?;
            continue;
        }
        let packet = loop {
            if let Some(p) = codec::decode_startup(buf)? {
                break p;
            }
            if client
                .read_buf(buf)
                .await
                .map_err(PgError::io(Side::Client))?
                == 0
            {
                return Err(PgError::Closed(Side::Client));
            }
        };
        let mut body = Body::new(&packet);
        let code = body.i32().ok_or(PgError::Client("short startup packet"))?;
        match code {
            messages::SSL_REQUEST | messages::GSSENC_REQUEST => {
                if !buf.is_empty() {
                    return Err(PgError::Client("data after SSL request"));
                }
                let accept = code == messages::SSL_REQUEST && tls.offered() && !client.is_tls();
                let answer: &[u8] = if accept { b"S" } else { b"N" };
                send(client, answer)
                    .await
                    .map_err(PgError::io(Side::Client))?;
                if accept {
                    upgrade(slot, tls).await?;
                }
            }
            messages::CANCEL_REQUEST => {
                return Ok(Opening::Cancel {
                    key: Bytes::copy_from_slice(body.rest()),
                });
            }
            v if v >> 16 == 3 => {
                if tls.client == ClientTls::Require && !client.is_tls() {
                    return Err(PgError::TlsRequired);
                }
                let params = messages::startup_params(body.rest())
                    .ok_or(PgError::Client("malformed startup parameters"))?;
                return Ok(Opening::Startup { version: v, params });
            }
            _ => return Err(PgError::Unsupported("protocol version other than 3")),
        }
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The cache a startup selected, and the parameters to send to its origin.
pub type Resolved = (Arc<CacheCtx>, Vec<(String, String)>);

/// Picks the cache for a startup: `CACHEID-user`, `application_name=CACHEID`, or the
/// default cache. Returns the cache and the parameters to send to the origin.
pub fn resolve(ctx: &PgContext, params: &[(String, String)]) -> Result<Resolved, PgError> {
    let user = param(params, "user").ok_or(PgError::Client("no user in startup packet"))?;
    let by_app = param(params, "application_name")
        .and_then(|a| ctx.engine.caches().by_id(a))
        .filter(|c| c.protocol == Protocol::Postgres)
        .map(|c| (c.clone(), user));
    let Some((cache, origin_user)) =
        by_app.or_else(|| ctx.engine.caches().resolve(Protocol::Postgres, user))
    else {
        return Err(PgError::UnknownCache(format!(
            "no cache matches user name \"{user}\": connect as CACHEID-{user} (or set application_name to a cache ID)"
        )));
    };
    let mut out: Vec<(String, String)> = params.to_vec();
    let had_database = param(params, "database").is_some();
    for (k, v) in out.iter_mut() {
        if k == "user" {
            *v = origin_user.to_string();
        }
    }
    if !had_database {
        // PostgreSQL defaults the database to the user name: the origin's user name.
        out.push(("database".to_string(), origin_user.to_string()));
    }
    Ok((cache, out))
}

/// Relays authentication until the origin's first ReadyForQuery. Returns the origin's
/// parameter statuses and its cancel key.
///
/// MD5 hashes the user name into the password hash, so it cannot be relayed when the
/// cache ID was stripped from the name: then the client is asked for its password in
/// clear (over the same connection it would send the hash on) and wirecache hashes it
/// for the origin with the real user name. The password is used once, never kept.
async fn relay_auth(
    client: &mut Stream,
    origin: &mut Stream,
    (cbuf, obuf): (&mut BytesMut, &mut BytesMut),
    renamed_user: Option<&str>,
    cleartext_ok: bool,
) -> Result<(Vec<(String, String)>, Option<Bytes>), PgError> {
    let mut statuses = Vec::new();
    let mut cancel_key = None;
    loop {
        let frame = read_frame(origin, obuf, MAX_ORIGIN_MESSAGE, Side::Origin).await?;
        let mut step = Challenge::relay(&frame);
        match frame.tag() {
            b'R' => step = Challenge::of(&frame, renamed_user, cleartext_ok)?,
            b'S' => {
                if let Some((k, v)) = messages::parse_parameter_status(frame.body()) {
                    statuses.push((k.to_string(), v.to_string()));
                }
            }
            b'K' => cancel_key = Some(Bytes::copy_from_slice(frame.body())),
            _ => {}
        }
        send(client, &step.to_client)
            .await
            .map_err(PgError::io(Side::Client))?;
        match frame.tag() {
            b'Z' => return Ok((statuses, cancel_key)),
            b'E' => return Err(PgError::AuthRejected),
            _ => {}
        }
        if step.needs_answer {
            let answer = read_frame(client, cbuf, MAX_CLIENT_MESSAGE, Side::Client).await?;
            let to_origin = step.answer(answer, origin.is_tls(), renamed_user)?;
            send(origin, &to_origin)
                .await
                .map_err(PgError::io(Side::Origin))?;
        }
    }
}

/// The next whole message `side` sends on `stream`.
pub(super) async fn read_frame(
    stream: &mut Stream,
    buf: &mut BytesMut,
    max: usize,
    side: Side,
) -> Result<Frame, PgError> {
    loop {
        if let Some(f) = codec::decode(buf, max, side)? {
            return Ok(f);
        }
        if stream.read_buf(buf).await.map_err(PgError::io(side))? == 0 {
            return Err(PgError::Closed(side));
        }
    }
}

/// The namespace material of a fresh session: cache, startup parameters and the
/// origin's reported settings (application_name excluded: it cannot change results).
pub(super) fn namespace(
    cache: &str,
    params: &[(String, String)],
    statuses: &[(String, String)],
) -> NamespaceMaterial {
    let mut m = NamespaceMaterial::default();
    m.push(cache.as_bytes());
    let mut fields: Vec<&(String, String)> = params.iter().chain(statuses.iter()).collect();
    fields.sort();
    for (k, v) in fields {
        if k != "application_name" && k != "in_hot_standby" {
            m.push_pair(k, v);
        }
    }
    m
}

/// What authentication through the origin produced.
struct Authenticated {
    admitted: Admitted,
    cache: Arc<CacheCtx>,
    origin: Stream,
    origin_params: Vec<(String, String)>,
    statuses: Vec<(String, String)>,
    cancel_key: Option<Bytes>,
    obuf: BytesMut,
}

async fn authenticate(
    ctx: &PgContext,
    client: &mut Stream,
    cbuf: &mut BytesMut,
    version: i32,
    params: &[(String, String)],
) -> Result<Authenticated, PgError> {
    let (cache, origin_params) = resolve(ctx, params)?;
    let admitted = ctx.admission.admit(&cache).await;
    let admitted = admitted.map_err(PgError::TooManyConnections)?;
    let mut origin = connect_origin(&cache, ctx.tls.origin(&cache.id))
        .await
        .inspect_err(|e| crate::session::connect_failed(&cache, e))?;
    cache.metrics.origin.up();
    let mut startup = BytesMut::from(&messages::startup_message(&origin_params)[..]);
    if let Some(v) = startup.get_mut(4..8) {
        v.copy_from_slice(&version.to_be_bytes());
    }
    send(&mut origin, &startup)
        .await
        .map_err(PgError::io(Side::Origin))?;
    let mut obuf = BytesMut::with_capacity(8192);
    let client_user = param(params, "user").unwrap_or_default();
    let origin_user = param(&origin_params, "user").unwrap_or_default();
    let renamed = (client_user != origin_user).then_some(origin_user);
    let cleartext_ok = ctx.tls.cleartext_password_ok(client.is_tls());
    let (statuses, cancel_key) = relay_auth(
        client,
        &mut origin,
        (cbuf, &mut obuf),
        renamed,
        cleartext_ok,
    )
    .await?;
    Ok(Authenticated {
        admitted,
        cache,
        origin,
        origin_params,
        statuses,
        cancel_key,
        obuf,
    })
}

/// Connects to the origin, authenticates the client through it, and builds the session.
/// A failure is reported to the client here, unless the origin already reported it.
pub async fn establish(
    ctx: &Arc<PgContext>,
    mut client: Stream,
    mut cbuf: BytesMut,
    version: i32,
    params: Vec<(String, String)>,
) -> Result<(Session, Option<Bytes>), PgError> {
    let auth = match authenticate(ctx, &mut client, &mut cbuf, version, &params).await {
        Ok(a) => a,
        Err(e) => {
            if let Some(wire) = super::errors::to_wire(&e) {
                let _ = send(&mut client, &wire).await;
            }
            return Err(e);
        }
    };
    let database = param(&auth.origin_params, "database").unwrap_or_default();
    let namespace = SessionNamespace::new(namespace(
        &auth.cache.id,
        &auth.origin_params,
        &auth.statuses,
    ));
    let io = Pipes::new(client, cbuf, auth.origin, auth.obuf);
    let core = Core::new(
        ctx.engine.clone(),
        auth.cache,
        database,
        namespace,
        io,
        TxnState::Idle,
    );
    let mut session = Session::new(core);
    session.admitted = Some(auth.admitted);
    Ok((session, auth.cancel_key))
}
