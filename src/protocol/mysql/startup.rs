//! Connection start (design §6): greet the client, read its HandshakeResponse, resolve
//! the cache from the user name (`CACHEID-dbuser`), connect to that cache's origin and
//! relay authentication. Passwords pass through and are never logged.
//!
//! The cache, and so the origin, is known only from the client's response, which
//! answers a greeting. The client is therefore greeted with the last greeting an origin
//! of this listener sent (server version, capabilities, character set; probed once if
//! there is none yet) but a throw-away scramble and the session's own connection id
//! (`kill`), so an unknown cache ID is refused without any origin connection.
//!
//! The client's first answer was computed with that throw-away scramble, so it is never
//! shown to the origin. Instead the origin gets the response with empty auth data and an
//! auth plugin name no server has ([`ask_for_switch`]): the server then starts the
//! one auth switch itself, naming the plugin the user really has (ed25519, a non-default
//! plugin, …) and a scramble of its own. That switch, and every round after it
//! (caching_sha2_password's fast and full auth, dialog prompts), is relayed between the
//! two unchanged, sequence ids included, so the client sees exactly what a server
//! would have sent: at most one AuthSwitchRequest. COM_CHANGE_USER uses the same
//! mechanism.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::MyContext;
use super::codec::{self, Packet};
use super::errors::{MyError, Side};
use super::handshake::{
    CLIENT_PLUGIN_AUTH, CLIENT_SSL, Greeting, Response, STREAM_SHAPING, SUPPORTED,
};
use super::kill::ClientId;
use super::namespace::base_namespace;
use super::response::ok_status;
use super::session::{Identity, Session, txn_state};
use super::tls::{self, AuthLegs, write};
use crate::config::Protocol;
use crate::engine::{CacheCtx, SessionNamespace};
use crate::protocol::Pipes;
use crate::server::admission::Admitted;
use crate::server::stream::Stream;
use crate::session::Core;

/// How long the greeting probe and origin connects may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads one packet from `stream`.
pub async fn read_packet(
    stream: &mut Stream,
    buf: &mut BytesMut,
    side: Side,
) -> Result<Packet, MyError> {
    loop {
        if let Some(p) = codec::decode(buf)? {
            return Ok(p);
        }
        if stream.read_buf(buf).await.map_err(MyError::io(side))? == 0 {
            return Err(MyError::Closed(side));
        }
    }
}

/// A greeting for a listener none of whose origins answered yet.
fn fallback_greeting(protocol: Protocol) -> Greeting {
    let version: &[u8] = match protocol {
        Protocol::MariaDb => b"5.5.5-10.11.0-MariaDB-wirecache",
        _ => b"8.0.0-wirecache",
    };
    Greeting {
        server_version: version.to_vec(),
        connection_id: 0,
        scramble: Vec::new(),
        capabilities: SUPPORTED,
        charset: 45,
        status: 2,
        auth_plugin: b"mysql_native_password".to_vec(),
    }
}

pub(super) async fn connect(cache: &CacheCtx) -> Result<(Stream, BytesMut, Greeting), MyError> {
    let tcp = crate::protocol::origin::connect_tcp(cache).await?;
    let mut origin = Stream::Plain(tcp);
    let mut obuf = BytesMut::with_capacity(8192);
    let read = read_packet(&mut origin, &mut obuf, Side::Origin);
    let hello = tokio::time::timeout(cache.connect_timeout, read)
        .await
        .map_err(|_| crate::protocol::origin::silent(cache, "no greeting from the origin"))??;
    if hello.first() == Some(0xFF) {
        return Err(MyError::Origin("the origin refused the connection"));
    }
    let greeting = Greeting::parse(hello.payload()).ok_or(MyError::Origin("malformed greeting"))?;
    Ok((origin, obuf, greeting))
}

/// The greeting clients of this listener get first.
async fn template(ctx: &MyContext) -> Greeting {
    if let Some(g) = ctx.template() {
        return g;
    }
    let caches = ctx.engine.caches().all();
    let probe = caches.iter().find(|c| c.protocol == ctx.protocol);
    if let Some(cache) = probe
        && let Ok((_, _, g)) = connect(cache).await
    {
        ctx.remember(&g);
        return g;
    }
    fallback_greeting(ctx.protocol)
}

/// Greets the client, authenticates it through its origin, and builds the session.
/// A failure is reported to the client here, unless the origin already reported it.
pub async fn establish(
    ctx: &Arc<MyContext>,
    client: TcpStream,
    id: &ClientId,
) -> Result<Session, MyError> {
    let mut greeting = template(ctx).await;
    // Random: in pooled mode wirecache checks the client's answer to it.
    greeting.scramble = super::scramble::random_scramble();
    greeting.connection_id = id.get();
    if !ctx.pooled.is_empty() {
        greeting.auth_plugin = super::pooled::default_plugin(ctx.protocol).name().to_vec();
    }
    let mut client = Stream::Plain(client);
    let hello = codec::packet(0, &greeting.build(ctx.tls.offered()));
    write(&mut client, &hello, Side::Client).await?;
    let mut cbuf = BytesMut::with_capacity(1024);
    let mut slot = Some(client);
    let first = tls::client_response(&mut slot, &mut cbuf, &ctx.tls).await;
    let Some(mut client) = slot else {
        return Err(MyError::Closed(Side::Client));
    };
    // The client's packets so far: the response (1), or the SSLRequest and it (2).
    let answered = if client.is_tls() { 2 } else { 1 };
    let result = match first {
        Ok(p) => match Response::parse(p.payload()) {
            Some(resp) => {
                if let Some((cache, user, pooled)) = pooled_cache(ctx, &resp) {
                    let hello = super::pooled::Hello {
                        resp: &resp,
                        scramble: &greeting.scramble,
                        offered: greeting.capabilities,
                        seq: answered + 1,
                    };
                    let login = (cache, user.as_str(), pooled);
                    // Its errors are reported to the client by the pooled login itself.
                    return super::pooled::establish(ctx, (client, cbuf), hello, login, id).await;
                }
                authenticate(ctx, &mut client, &mut cbuf, resp, &greeting).await
            }
            None => Err(MyError::Client("malformed or pre-4.1 handshake response")),
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(a) => {
            id.bind(&a.cache.origin, a.origin_id);
            // One set of generation counters per cache: MySQL statements may name
            // tables of any database, and counters are keyed by bare table name anyway.
            let namespace = SessionNamespace::new(base_namespace(&a.cache.id, &a.identity));
            let io = Pipes::new(client, cbuf, a.origin, a.obuf);
            let txn = txn_state(a.status);
            let core = Core::new(ctx.engine.clone(), a.cache, "", namespace, io, txn);
            let mut session = Session::new(core, a.identity, a.status, ctx.ids.clone(), a.auth);
            session.admitted = Some(a.admitted);
            Ok(session)
        }
        Err(e) => {
            if let Some(wire) = super::errors::to_wire(&e, answered + 1) {
                let _ = write(&mut client, &wire, Side::Client).await;
            }
            Err(e)
        }
    }
}

/// The pooled cache a client's user name resolves to, with the origin user name.
fn pooled_cache(
    ctx: &MyContext,
    resp: &Response,
) -> Option<(Arc<CacheCtx>, String, Arc<super::pooled::PooledCache>)> {
    if ctx.pooled.is_empty() {
        return None;
    }
    let user = String::from_utf8_lossy(&resp.user);
    let (cache, origin_user) = ctx.engine.caches().resolve(ctx.protocol, &user)?;
    let pooled = ctx.pooled.get(&cache.id)?.clone();
    Some((cache, origin_user.to_string(), pooled))
}

/// A session authenticated at its origin.
struct Authenticated {
    admitted: Admitted,
    cache: Arc<CacheCtx>,
    origin: Stream,
    obuf: BytesMut,
    identity: Identity,
    /// Status flags of the origin's OK.
    status: u16,
    /// The connection id the origin gave this session.
    origin_id: u32,
    /// What later COM_CHANGE_USER rounds are checked against.
    auth: AuthLegs,
}

/// An auth plugin name no server has.
const NO_SUCH_PLUGIN: &[u8] = b"wirecache_switch";

/// Makes a HandshakeResponse or COM_CHANGE_USER one the origin answers with its own
/// AuthSwitchRequest: empty auth data for a plugin no server has. MySQL and MariaDB
/// then restart authentication with the plugin the user really has, and, since the
/// client named another one, ask the client to switch to it with a fresh scramble
/// (`parse_client_handshake_packet` and `server_mpvio_read_packet` in sql_acl.cc).
/// Without CLIENT_PLUGIN_AUTH no switch can be asked for, and the data is left as sent.
pub fn ask_for_switch(req: &mut Response) {
    if req.capabilities & CLIENT_PLUGIN_AUTH != 0 {
        req.auth.clear();
        req.auth_plugin = Some(NO_SUCH_PLUGIN.to_vec());
    }
}

async fn authenticate(
    ctx: &MyContext,
    client: &mut Stream,
    cbuf: &mut BytesMut,
    mut resp: Response,
    offered: &Greeting,
) -> Result<Authenticated, MyError> {
    let user = String::from_utf8_lossy(&resp.user).into_owned();
    let Some((cache, origin_user)) = ctx.engine.caches().resolve(ctx.protocol, &user) else {
        return Err(MyError::UnknownCache(format!(
            "no {} cache matches user name '{user}': connect as CACHEID-{user}",
            ctx.protocol
        )));
    };
    let origin_user = origin_user.as_bytes().to_vec();
    let admitted = ctx.admission.admit(&cache).await;
    let admitted = admitted.map_err(MyError::TooManyConnections)?;
    let connected = connect(&cache).await;
    let (mut origin, mut obuf, greeting) =
        connected.inspect_err(|e| crate::session::connect_failed(&cache, e))?;
    cache.metrics.origin.up();
    ctx.remember(&greeting);
    let caps = resp.capabilities & offered.capabilities & SUPPORTED;
    if caps & STREAM_SHAPING & !greeting.capabilities != 0 {
        return Err(MyError::Unsupported(
            "the origin's capabilities changed since this client was greeted",
        ));
    }
    resp.capabilities = caps & greeting.capabilities;
    resp.user = origin_user.clone();
    ask_for_switch(&mut resp);
    let origin_tls = ctx.tls.origin(&cache.id);
    origin = tls::origin_upgrade(origin, &greeting, &mut resp, origin_tls, &cache.origin).await?;
    // Sequence ids: each side's HandshakeResponse is packet 1, or 2 after an SSLRequest.
    let origin_seq: u8 = if origin.is_tls() { 2 } else { 1 };
    let client_seq: u8 = if client.is_tls() { 2 } else { 1 };
    let response = codec::packet(origin_seq, &resp.build());
    write(&mut origin, &response, Side::Origin).await?;
    let auth = AuthLegs {
        client_tls: client.is_tls(),
        origin_tls: origin.is_tls(),
        tls: ctx.tls.clone(),
    };
    let legs = Legs {
        shift: client_seq.wrapping_sub(origin_seq),
        auth: &auth,
    };
    let status = relay_auth(client, &mut origin, (cbuf, &mut obuf), legs).await?;
    let identity = Identity {
        user: origin_user,
        database: resp.database.clone().filter(|d| !d.is_empty()),
        charset: resp.charset,
        caps: resp.capabilities & !CLIENT_SSL,
    };
    Ok(Authenticated {
        admitted,
        cache,
        origin,
        obuf,
        identity,
        status,
        origin_id: greeting.connection_id,
        auth,
    })
}

/// How the two legs of a login differ: the client's sequence ids run `shift` ahead of
/// the origin's (one side used TLS, the other not), and which passwords may cross.
struct Legs<'t> {
    shift: u8,
    auth: &'t AuthLegs,
}

/// Relays auth-switch and more-data rounds until the origin's OK (returns its status
/// flags) or ERR, sequence ids shifted between the legs; refuses a round that would
/// put a password on a leg without TLS.
async fn relay_auth(
    client: &mut Stream,
    origin: &mut Stream,
    (cbuf, obuf): (&mut BytesMut, &mut BytesMut),
    legs: Legs<'_>,
) -> Result<u16, MyError> {
    let shifted = |p: &Packet, by: u8| {
        if by == 0 {
            p.bytes.clone()
        } else {
            codec::packet(p.seq().wrapping_add(by), p.payload())
        }
    };
    loop {
        while let Some(p) = codec::decode(obuf)? {
            legs.auth.check(p.payload())?;
            write(client, &shifted(&p, legs.shift), Side::Client).await?;
            match p.first() {
                Some(0x00) => return Ok(ok_status(p.payload()).map_or(2, |(s, _)| s)),
                Some(0xFF) => return Err(MyError::AuthRejected),
                _ => {}
            }
        }
        while let Some(p) = codec::decode(cbuf)? {
            let back = 0u8.wrapping_sub(legs.shift);
            write(origin, &shifted(&p, back), Side::Origin).await?;
        }
        tokio::select! {
            n = origin.read_buf(obuf) => {
                if n.map_err(MyError::io(Side::Origin))? == 0 {
                    return Err(MyError::Closed(Side::Origin));
                }
            }
            n = client.read_buf(cbuf) => {
                if n.map_err(MyError::io(Side::Client))? == 0 {
                    return Err(MyError::Closed(Side::Client));
                }
            }
        }
    }
}

impl Session {
    /// COM_CHANGE_USER: the cache ID is stripped from the user name (it must name this
    /// session's cache), and, as at login, the origin is made to start the one auth
    /// switch with its own scramble ([`ask_for_switch`]): the client's first answer was
    /// computed with the throw-away scramble of our greeting. The origin's auth rounds
    /// are checked as at login before they are relayed (`on_origin`).
    pub fn on_change_user(&mut self, p: Packet) {
        let body = p.payload().get(1..).unwrap_or_default();
        let caps = self.identity.caps;
        let Some(mut req) = Response::parse_change_user(body, caps) else {
            let e = MyError::Client("malformed COM_CHANGE_USER");
            self.reply_error(&e);
            return;
        };
        let user = String::from_utf8_lossy(&req.user).into_owned();
        let cache = self.core.cache();
        let same = self
            .core
            .engine()
            .caches()
            .resolve(cache.protocol, &user)
            .filter(|(c, _)| c.id == cache.id)
            .map(|(_, u)| u.as_bytes().to_vec());
        let Some(origin_user) = same else {
            let e = MyError::UnknownCache(format!(
                "user name '{user}' does not name this connection's cache '{}'",
                self.core.cache().id
            ));
            self.reply_error(&e);
            return;
        };
        req.user = origin_user;
        ask_for_switch(&mut req);
        let identity = Identity {
            user: req.user.clone(),
            database: req.database.clone().filter(|d| !d.is_empty()),
            charset: req.charset,
            caps,
        };
        self.core
            .to_origin(&codec::packet(0, &req.build_change_user()));
        // Until the origin answers, nothing may be shared under the old identity.
        self.core.taint();
        self.expect(
            super::response::Shape::Auth,
            crate::engine::Effects::default(),
            false,
            super::session::After::ChangeUser(identity),
        );
    }

    /// Queues an ERR made here as the answer to the current command.
    pub fn reply_error(&mut self, e: &MyError) {
        if let Some(wire) = super::errors::to_wire(e, 1) {
            self.core.local(wire, false);
        }
    }
}
