//! Connection start (design §6): answer the client's PRELOGIN (and run its TLS
//! handshake inside PRELOGIN packets when encryption is agreed, `tls`), read its
//! LOGIN7, resolve the cache from the login name (`CACHEID-login`), connect to that
//! cache's origin, exchange PRELOGINs (and TLS, as the cache's mode says), send the
//! LOGIN7 with the login name rewritten, and relay the origin's answer. The password
//! passes through and is never logged.

use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::TdsContext;
use super::client::{self, OriginLeg, Target};
use super::codec::{self, Assembler, Kind, Message};
use super::login::Login;
use super::prelogin::{self, Encryption};
use super::session::Session;
use super::tls::{self, Encrypt};
use super::tokens::{Env, Scanner};
use crate::classify::Isolation;
use crate::config::{ClientTls, Protocol};
use crate::engine::{CacheCtx, NamespaceMaterial, SessionNamespace};
use crate::protocol::{Pipes, SessionError, Side};
use crate::server::admission::Admitted;
use crate::server::stream::{Stream, send};
use crate::session::{Core, TxnState};

/// The largest login-phase message (PRELOGIN, LOGIN7, the origin's login answer).
const MAX_LOGIN_MESSAGE: usize = 1 << 20;

/// Reads one whole message from `stream`.
pub(super) async fn read_message<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    side: Side,
) -> Result<Message, SessionError> {
    let mut asm = Assembler::new(side, MAX_LOGIN_MESSAGE);
    loop {
        if side == Side::Client && !matches!(buf.first(), None | Some(0x10 | 0x12)) {
            // Not PRELOGIN nor LOGIN7: no TDS client; refused at its first byte.
            return Err(SessionError::Client("not a TDS login"));
        }
        if let Some(m) = asm.next(buf)? {
            return Ok(m);
        }
        if stream.read_buf(buf).await.map_err(SessionError::io(side))? == 0 {
            return Err(SessionError::Closed(side));
        }
    }
}

/// Logs the client in through its origin and builds the session. A failure is
/// reported to the client here, unless the origin already reported it or the
/// client's connection is no longer usable (a failed TLS handshake).
pub async fn establish(ctx: &Arc<TdsContext>, tcp: TcpStream) -> Result<Session, SessionError> {
    let mut cbuf = BytesMut::with_capacity(4096);
    let (mut client, greeted) = greet(ctx, tcp, &mut cbuf).await?;
    // The client's TDS version once its LOGIN7 is read: errors are written for it.
    let mut version = super::login::TDS_72;
    let result = match greeted {
        Ok(login) => {
            version = login.tds_version;
            login_at_origin(ctx, &mut client, login).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(a) => {
            let namespace = SessionNamespace::new(a.base.clone());
            let io = Pipes::new(client, cbuf, a.origin, a.obuf);
            // One set of generation counters per cache, as for MySQL: statements may
            // name tables of any database.
            let mut core = Core::new(
                ctx.engine.clone(),
                a.cache,
                "",
                namespace,
                io,
                TxnState::Idle,
            );
            core.default_isolation_known(Isolation::ReadCommitted);
            let mut session = Session::new(core, a.packet_size, a.base, a.tds_version);
            session.admitted = Some(a.admitted);
            Ok(session)
        }
        Err(e) => {
            if let Some(wire) = super::errors::to_wire(&e, true, version) {
                let _ = send(&mut client, &wire).await;
            }
            Err(e)
        }
    }
}

/// A session logged in at its origin.
struct Authenticated {
    admitted: Admitted,
    cache: Arc<CacheCtx>,
    origin: Stream,
    obuf: BytesMut,
    packet_size: usize,
    base: NamespaceMaterial,
    /// The TDS version the client logged in with.
    tds_version: u32,
}

/// Answers the client's PRELOGIN, runs its TLS handshake if one was agreed, and reads
/// its LOGIN7. Returns the client's connection as the session goes on with it (TLS,
/// or plaintext again after a login-only handshake) and the login or the error to
/// report on it; `Err` when the connection is lost (a failed handshake).
async fn greet(
    ctx: &TdsContext,
    mut tcp: TcpStream,
    cbuf: &mut BytesMut,
) -> Result<(Stream, Result<Login, SessionError>), SessionError> {
    let mut first = [0u8; 1];
    let peeked = tcp
        .peek(&mut first)
        .await
        .map_err(SessionError::io(Side::Client))?;
    if peeked == 1 && first[0] == tls::TLS_HANDSHAKE {
        let mut client = Stream::ServerTls(Box::new(tls::accept_strict(ctx, tcp).await?));
        let login = match answer_prelogin(ctx, &mut client, cbuf, true).await {
            Ok(_) => read_login(&mut client, cbuf).await,
            Err(e) => Err(e),
        };
        return Ok((client, login));
    }
    let plan = match answer_prelogin(ctx, &mut tcp, cbuf, false).await {
        Ok(plan) => plan,
        Err(e) => return Ok((Stream::Plain(tcp), Err(e))),
    };
    if !plan.uses_tls() {
        let mut client = Stream::Plain(tcp);
        let login = read_login(&mut client, cbuf).await;
        if plan == Encrypt::Refused {
            // Told that TLS is required, the client went on in clear anyway.
            return Ok((client, login.and(Err(SessionError::TlsRequired))));
        }
        return Ok((client, login));
    }
    let mut tls = tls::accept(ctx, tcp, cbuf.split()).await?;
    let login = read_login(&mut tls, cbuf).await;
    if plan == Encrypt::Full {
        return Ok((Stream::Layered(Box::new(tls)), login));
    }
    let (io, _) = tls.into_inner();
    Ok((tls::downgrade(io, cbuf), login))
}

/// Reads the client's PRELOGIN and answers its ENCRYPTION as `tls.client` says; in
/// TDS 8.0 strict (`strict`: TLS is already up) with ENCRYPT_NOT_SUP.
async fn answer_prelogin<S: AsyncRead + AsyncWrite + Unpin>(
    ctx: &TdsContext,
    client: &mut S,
    cbuf: &mut BytesMut,
    strict: bool,
) -> Result<Encrypt, SessionError> {
    let hello = read_message(client, cbuf, Side::Client).await?;
    if hello.kind != Kind::PreLogin {
        return Err(SessionError::Client("expected PRELOGIN"));
    }
    let asked =
        prelogin::encryption(&hello.payload).ok_or(SessionError::Client("malformed PRELOGIN"))?;
    let setting = if ctx.tls.offered() {
        ctx.tls.client
    } else {
        ClientTls::Off
    };
    let (answer, plan) = if strict {
        (Encryption::NotSupported, Encrypt::Strict)
    } else {
        tls::client_plan(setting, asked)
    };
    tracing::debug!(encryption = plan.as_str(), "mssql client PRELOGIN answered");
    let wire = codec::message(
        Kind::TabularResult,
        &prelogin::answer_with(answer),
        codec::DEFAULT_PACKET,
    );
    let sent = async {
        client.write_all(&wire).await?;
        client.flush().await
    };
    sent.await.map_err(SessionError::io(Side::Client))?;
    Ok(plan)
}

/// Reads and parses the client's LOGIN7.
async fn read_login<S: AsyncRead + Unpin>(
    client: &mut S,
    cbuf: &mut BytesMut,
) -> Result<Login, SessionError> {
    let m = read_message(client, cbuf, Side::Client).await?;
    if m.kind != Kind::Login7 {
        return Err(SessionError::Client("expected LOGIN7"));
    }
    Login::parse(&m.payload).map_err(|r| SessionError::Unsupported(r.as_str()))
}

async fn login_at_origin(
    ctx: &TdsContext,
    client: &mut Stream,
    login: Login,
) -> Result<Authenticated, SessionError> {
    let resolved = ctx.engine.caches().resolve(Protocol::MsSql, &login.user);
    let Some((cache, origin_user)) = resolved else {
        return Err(SessionError::UnknownCache(format!(
            "no mssql cache matches login name '{}': connect as CACHEID-{}",
            login.user, login.user
        )));
    };
    let rewritten = login
        .with_user(origin_user)
        .map_err(|r| SessionError::Unsupported(r.as_str()))?;
    let admitted = ctx.admission.admit(&cache).await;
    let admitted = admitted.map_err(SessionError::TooManyConnections)?;
    let connected = connect(ctx, &cache).await;
    let (leg, mut obuf) = connected.inspect_err(|e| crate::session::connect_failed(&cache, e))?;
    cache.metrics.origin.up();
    let wire = codec::message(Kind::Login7, &rewritten, codec::DEFAULT_PACKET);
    let mut origin = leg.send_login(&wire, &mut obuf).await?;
    let reply = read_message(&mut origin, &mut obuf, Side::Origin).await?;
    send(client, &reply.raw)
        .await
        .map_err(SessionError::io(Side::Client))?;
    let mut scan = Scanner::for_version(login.tds_version);
    scan.feed(&reply.payload).map_err(SessionError::Origin)?;
    if !scan.summary.login_ack || scan.summary.error {
        return Err(SessionError::AuthRejected);
    }
    let (base, packet_size) = namespace(&cache.id, origin_user, &login, &scan.summary.envs);
    Ok(Authenticated {
        admitted,
        cache,
        origin,
        obuf,
        packet_size,
        base,
        tds_version: login.tds_version,
    })
}

/// The namespace material fixed at login (cache, login, TDS version, client options,
/// and the database, language and collation the origin reported) and the packet size.
fn namespace(cache: &str, user: &str, login: &Login, envs: &[Env]) -> (NamespaceMaterial, usize) {
    let mut base = NamespaceMaterial::default();
    base.push(cache.as_bytes());
    base.push(user.as_bytes());
    base.push(&login.tds_version.to_le_bytes());
    base.push(&login.options);
    base.push(&login.lcid.to_le_bytes());
    let mut packet_size = codec::DEFAULT_PACKET;
    for env in envs {
        match env {
            Env::Database(v) | Env::Language(v) | Env::Collation(v) => base.push(v),
            Env::PacketSize(n) => packet_size = (*n).clamp(codec::MIN_PACKET, codec::MAX_PACKET),
            _ => {}
        }
    }
    (base, packet_size)
}

/// Connects to the origin and exchanges PRELOGINs (and TLS, as the cache's mode and
/// the origin's answer say); no MARS.
async fn connect(
    ctx: &TdsContext,
    cache: &CacheCtx,
) -> Result<(OriginLeg, BytesMut), SessionError> {
    let tcp = crate::protocol::origin::connect_tcp(cache).await?;
    let target = Target {
        origin: &cache.origin,
        tls: ctx.tls.origin(&cache.id),
        timeout: cache.connect_timeout,
    };
    client::prelogin(tcp, &target).await
}
