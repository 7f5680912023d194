//! Connection start (design §6): greet the client, read its HandshakeResponse, resolve
//! the cache from the user name (`CACHEID-dbuser`), connect to that cache's origin and
//! relay authentication. Passwords pass through and are never logged.
//!
//! The cache, and so the origin, is known only from the client's response, which
//! answers a greeting. The client is therefore greeted with the last greeting an origin
//! of this listener sent (server version, capabilities, character set; probed once if
//! there is none yet) but a throw-away scramble, so an unknown cache ID is refused
//! without any origin connection. Once the origin's own greeting is in, the client gets
//! an AuthSwitchRequest carrying the origin's plugin and scramble, and its answer goes
//! to the origin in the HandshakeResponse. Further auth-switch and more-data rounds
//! (ed25519, caching_sha2_password) are relayed with sequence ids shifted by two.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::MyContext;
use super::codec::{self, Packet};
use super::errors::{MyError, Side};
use super::handshake::{CLIENT_PLUGIN_AUTH, Greeting, Response, STREAM_SHAPING, SUPPORTED};
use super::response::ok_status;
use super::session::{Identity, Session};
use crate::config::Protocol;
use crate::engine::CacheCtx;

/// How long the greeting probe and origin connects may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads one packet from `stream`.
pub async fn read_packet(
    stream: &mut TcpStream,
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

async fn write(stream: &mut TcpStream, bytes: &[u8], side: Side) -> Result<(), MyError> {
    stream.write_all(bytes).await.map_err(MyError::io(side))
}

/// A scramble the client signs but nobody checks: printable, no NUL.
fn throwaway_scramble() -> Vec<u8> {
    use std::hash::BuildHasher;
    let state = std::collections::hash_map::RandomState::new();
    (0..20u8)
        .map(|i| 33 + (state.hash_one(i) % 94) as u8)
        .collect()
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

async fn connect(cache: &CacheCtx) -> Result<(TcpStream, BytesMut, Greeting), MyError> {
    let fail = |source| MyError::OriginConnect {
        origin: cache.origin.clone(),
        source,
    };
    let timeout = || std::io::Error::from(std::io::ErrorKind::TimedOut);
    let mut origin = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&cache.origin))
        .await
        .map_err(|_| fail(timeout()))?
        .map_err(fail)?;
    let _ = origin.set_nodelay(true);
    let mut obuf = BytesMut::with_capacity(8192);
    let read = read_packet(&mut origin, &mut obuf, Side::Origin);
    let hello = tokio::time::timeout(CONNECT_TIMEOUT, read)
        .await
        .map_err(|_| fail(timeout()))??;
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
    let caches = ctx.engine.caches.all();
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
pub async fn establish(ctx: &Arc<MyContext>, mut client: TcpStream) -> Result<Session, MyError> {
    let mut greeting = template(ctx).await;
    greeting.scramble = throwaway_scramble();
    greeting.connection_id = 0;
    write(
        &mut client,
        &codec::packet(0, &greeting.build()),
        Side::Client,
    )
    .await?;
    let mut cbuf = BytesMut::with_capacity(1024);
    let first = read_packet(&mut client, &mut cbuf, Side::Client).await?;
    let result = match Response::parse(first.payload()) {
        Some(resp) => authenticate(ctx, &mut client, &mut cbuf, resp, &greeting).await,
        None => Err(MyError::Client("malformed or pre-4.1 handshake response")),
    };
    match result {
        Ok((cache, origin, obuf, identity, status)) => Ok(Session::new(
            ctx.engine.clone(),
            cache,
            identity,
            status,
            (client, cbuf),
            (origin, obuf),
        )),
        Err(e) => {
            if let Some(wire) = super::errors::to_wire(&e, first.seq().wrapping_add(1)) {
                let _ = client.write_all(&wire).await;
            }
            Err(e)
        }
    }
}

type Authenticated = (Arc<CacheCtx>, TcpStream, BytesMut, Identity, u16);

async fn authenticate(
    ctx: &MyContext,
    client: &mut TcpStream,
    cbuf: &mut BytesMut,
    mut resp: Response,
    offered: &Greeting,
) -> Result<Authenticated, MyError> {
    let user = String::from_utf8_lossy(&resp.user).into_owned();
    let Some((cache, origin_user)) = ctx.engine.caches.resolve(ctx.protocol, &user) else {
        return Err(MyError::UnknownCache(format!(
            "no {} cache matches user name '{user}': connect as CACHEID-{user}",
            ctx.protocol
        )));
    };
    let origin_user = origin_user.as_bytes().to_vec();
    let (mut origin, mut obuf, greeting) = connect(&cache).await.inspect_err(|_| {
        cache
            .metrics
            .origin_connect_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })?;
    ctx.remember(&greeting);
    let caps = resp.capabilities & offered.capabilities & SUPPORTED;
    if caps & STREAM_SHAPING & !greeting.capabilities != 0 {
        return Err(MyError::Unsupported(
            "the origin's capabilities changed since this client was greeted",
        ));
    }
    resp.capabilities = caps & greeting.capabilities;
    resp.user = origin_user.clone();
    let mut shift = 0;
    if caps & CLIENT_PLUGIN_AUTH != 0 {
        // Hand the client the origin's plugin and scramble; its answer is the auth data.
        let mut switch = vec![0xFE];
        switch.extend_from_slice(&greeting.auth_plugin);
        switch.push(0);
        switch.extend_from_slice(&greeting.scramble);
        switch.push(0);
        write(client, &codec::packet(2, &switch), Side::Client).await?;
        let answer = read_packet(client, cbuf, Side::Client).await?;
        resp.auth = answer.payload().to_vec();
        resp.auth_plugin = Some(greeting.auth_plugin.clone());
        shift = 2;
    }
    write(&mut origin, &codec::packet(1, &resp.build()), Side::Origin).await?;
    let status = relay_auth(client, &mut origin, cbuf, &mut obuf, shift).await?;
    let identity = Identity {
        user: origin_user,
        database: resp.database.clone().filter(|d| !d.is_empty()),
        charset: resp.charset,
        caps: resp.capabilities,
    };
    Ok((cache, origin, obuf, identity, status))
}

/// Relays auth-switch and more-data rounds until the origin's OK (returns its status
/// flags) or ERR. Origin packets reach the client with their sequence id plus `shift`.
async fn relay_auth(
    client: &mut TcpStream,
    origin: &mut TcpStream,
    cbuf: &mut BytesMut,
    obuf: &mut BytesMut,
    shift: u8,
) -> Result<u16, MyError> {
    loop {
        while let Some(p) = codec::decode(obuf)? {
            let seq = p.seq().wrapping_add(shift);
            write(client, &codec::packet(seq, p.payload()), Side::Client).await?;
            match p.first() {
                Some(0x00) => return Ok(ok_status(p.payload()).map_or(2, |(s, _)| s)),
                Some(0xFF) => return Err(MyError::AuthRejected),
                _ => {}
            }
        }
        while let Some(p) = codec::decode(cbuf)? {
            let seq = p.seq().wrapping_sub(shift);
            write(origin, &codec::packet(seq, p.payload()), Side::Origin).await?;
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
    /// session's cache), and the auth plugin is replaced by one the origin does not
    /// expect, so the origin starts an auth switch with its own scramble: the client's
    /// first answer was computed with the throw-away scramble of our greeting.
    pub fn on_change_user(&mut self, p: Packet) {
        let body = p.payload().get(1..).unwrap_or_default();
        let caps = self.identity.caps;
        let Some(mut req) = Response::parse_change_user(body, caps) else {
            let e = MyError::Client("malformed COM_CHANGE_USER");
            self.reply_error(&e);
            return;
        };
        let user = String::from_utf8_lossy(&req.user).into_owned();
        let same = self
            .engine
            .caches
            .resolve(self.scope.cache.protocol, &user)
            .filter(|(c, _)| c.id == self.scope.cache.id)
            .map(|(_, u)| u.as_bytes().to_vec());
        let Some(origin_user) = same else {
            let e = MyError::UnknownCache(format!(
                "user name '{user}' does not name this connection's cache '{}'",
                self.scope.cache.id
            ));
            self.reply_error(&e);
            return;
        };
        req.user = origin_user;
        if caps & CLIENT_PLUGIN_AUTH != 0 {
            req.auth.clear();
            req.auth_plugin = Some(b"wirecache_switch".to_vec());
        }
        let identity = Identity {
            user: req.user.clone(),
            database: req.database.clone().filter(|d| !d.is_empty()),
            charset: req.charset,
            caps,
        };
        self.io
            .to_origin
            .extend_from_slice(&codec::packet(0, &req.build_change_user()));
        // Until the origin answers, nothing may be shared under the old identity.
        self.taint();
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
            self.pending.push_back(super::session::Pending::Local(wire));
        }
    }
}
