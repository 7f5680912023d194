//! Connection start (design §6): answer the client's PRELOGIN, read its LOGIN7,
//! resolve the cache from the login name (`CACHEID-login`), connect to that cache's
//! origin, send it wirecache's own PRELOGIN and the LOGIN7 with the login name
//! rewritten, and relay the origin's answer. The password passes through and is
//! never logged. This slice speaks plaintext TDS on both legs.

use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::TdsContext;
use super::codec::{self, Assembler, Kind, Message};
use super::login::Login;
use super::prelogin::{self, Encryption};
use super::session::Session;
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
async fn read_message(
    stream: &mut Stream,
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
/// reported to the client here, unless the origin already reported it.
pub async fn establish(ctx: &Arc<TdsContext>, client: TcpStream) -> Result<Session, SessionError> {
    let mut client = Stream::Plain(client);
    let mut cbuf = BytesMut::with_capacity(4096);
    // The client's TDS version once its LOGIN7 is read: errors are written for it.
    let mut version = super::login::TDS_72;
    let result = login(ctx, &mut client, &mut cbuf, &mut version).await;
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

/// Answers the client's PRELOGIN and reads its LOGIN7.
async fn greet(
    ctx: &TdsContext,
    client: &mut Stream,
    cbuf: &mut BytesMut,
) -> Result<Login, SessionError> {
    let hello = read_message(client, cbuf, Side::Client).await?;
    if hello.kind != Kind::PreLogin {
        return Err(SessionError::Client("expected PRELOGIN"));
    }
    if ctx.tls.client == ClientTls::Require {
        // Refused before the client sends its password in the clear.
        return Err(SessionError::TlsRequired);
    }
    let answer = codec::message(
        Kind::TabularResult,
        &prelogin::answer(),
        codec::DEFAULT_PACKET,
    );
    send(client, &answer)
        .await
        .map_err(SessionError::io(Side::Client))?;
    let m = read_message(client, cbuf, Side::Client).await?;
    if m.kind != Kind::Login7 {
        return Err(SessionError::Client(
            "expected LOGIN7 (TLS is not supported for SQL Server yet)",
        ));
    }
    Login::parse(&m.payload).map_err(|r| SessionError::Unsupported(r.as_str()))
}

async fn login(
    ctx: &TdsContext,
    client: &mut Stream,
    cbuf: &mut BytesMut,
    version: &mut u32,
) -> Result<Authenticated, SessionError> {
    let login = greet(ctx, client, cbuf).await?;
    *version = login.tds_version;
    let resolved = ctx.engine.caches().resolve(Protocol::MsSql, &login.user);
    let Some((cache, origin_user)) = resolved else {
        return Err(SessionError::UnknownCache(format!(
            "no mssql cache matches login name '{}': connect as CACHEID-{}",
            login.user, login.user
        )));
    };
    let origin_tls = ctx.tls.origin(&cache.id).map(|t| t.mode);
    if !origin_tls.unwrap_or_default().allows_plaintext() {
        return Err(SessionError::Unsupported(
            "TLS towards a SQL Server origin is not supported yet: set the cache's tls to disable or prefer",
        ));
    }
    let rewritten = login
        .with_user(origin_user)
        .map_err(|r| SessionError::Unsupported(r.as_str()))?;
    let admitted = ctx.admission.admit(&cache).await;
    let admitted = admitted.map_err(SessionError::TooManyConnections)?;
    let connected = connect(&cache).await;
    let (mut origin, mut obuf) =
        connected.inspect_err(|e| crate::session::connect_failed(&cache, e))?;
    cache.metrics.origin.up();
    let wire = codec::message(Kind::Login7, &rewritten, codec::DEFAULT_PACKET);
    send(&mut origin, &wire)
        .await
        .map_err(SessionError::io(Side::Origin))?;
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

/// Connects to the origin and exchanges PRELOGINs: plaintext, no MARS.
async fn connect(cache: &CacheCtx) -> Result<(Stream, BytesMut), SessionError> {
    let tcp = crate::protocol::origin::connect_tcp(cache).await?;
    let mut origin = Stream::Plain(tcp);
    let mut obuf = BytesMut::with_capacity(8192);
    let hello = codec::message(Kind::PreLogin, &prelogin::request(), codec::DEFAULT_PACKET);
    send(&mut origin, &hello)
        .await
        .map_err(SessionError::io(Side::Origin))?;
    let read = read_message(&mut origin, &mut obuf, Side::Origin);
    let reply = tokio::time::timeout(cache.connect_timeout, read)
        .await
        .map_err(|_| {
            crate::protocol::origin::silent(cache, "no PRELOGIN answer from the origin")
        })??;
    match prelogin::encryption(&reply.payload) {
        Some(Encryption::Off | Encryption::NotSupported) => Ok((origin, obuf)),
        Some(_) => Err(SessionError::Unsupported(
            "the origin requires encryption, and TLS towards a SQL Server origin is not supported yet",
        )),
        None => Err(SessionError::Origin("malformed PRELOGIN answer")),
    }
}
