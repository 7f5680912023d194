//! wirecache's own login to a MySQL/MariaDB origin in pooled mode, with the stored
//! secret: `mysql_native_password` (from a password or the `SHA1(password)` a client
//! revealed) and `caching_sha2_password` (a password: the fast path, and the full
//! authentication in clear over TLS to the origin only; without TLS the RSA exchange
//! is not done and the login fails, saying so), following the origin's
//! AuthSwitchRequests. Produces a pooled [`OriginConn`]; also the commands run on one
//! between sessions (`COM_RESET_CONNECTION`, `COM_INIT_DB`).

use bytes::{Bytes, BytesMut};

use super::client_auth::{NATIVE, SHA2};
use super::codec::{self, Reader};
use super::errors::{MyError, Side};
use super::handshake::{
    CLIENT_CONNECT_ATTRS, CLIENT_CONNECT_WITH_DB, CLIENT_PLUGIN_AUTH, CLIENT_PLUGIN_AUTH_LENENC,
    CLIENT_PROTOCOL_41, CLIENT_SECURE_CONNECTION, Response, STREAM_SHAPING, SUPPORTED,
};
use super::pooled_logins::OriginSecret;
use super::response::ok_status;
use super::scramble;
use super::startup::read_packet;
use super::tls::{self, write};
use crate::engine::CacheCtx;
use crate::pool::Conn;
use crate::protocol::End;
use crate::server::origin_tls::OriginTls;
use crate::server::stream::Stream;

/// An authenticated origin connection at rest.
pub struct OriginConn {
    pub end: End,
    /// The connection id the origin gave it (what `KILL` must name).
    pub thread_id: u32,
    /// Status flags of its last OK.
    pub status: u16,
    /// Its database, settings and prepared statements (transaction pooling).
    pub state: super::pooled_lender::ConnState,
}

impl Conn for OriginConn {
    fn alive(&mut self) -> bool {
        self.end.alive()
    }
}

/// Why an origin login failed: an error of wirecache's, or the origin's own ERR
/// payload (relayed to the client).
pub enum LoginFailure {
    Session(MyError),
    Refused(Bytes),
}

impl From<MyError> for LoginFailure {
    fn from(e: MyError) -> Self {
        LoginFailure::Session(e)
    }
}

/// Who a pooled connection logs in as, and the client-side settings it is opened
/// with (those of the session whose login opened it).
pub struct Target<'a> {
    pub user: &'a str,
    pub database: Option<&'a [u8]>,
    pub charset: u8,
    /// The session's negotiated capabilities.
    pub caps: u32,
    pub max_packet: u32,
    pub attrs: Option<&'a [u8]>,
}

/// The token for `plugin` with `scramble`, and the plugin it is for (a plugin
/// wirecache cannot play is answered as mysql_native_password, which the origin then
/// accepts or switches from).
fn token(plugin: &[u8], secret: &OriginSecret, scramble: &[u8]) -> (Vec<u8>, &'static [u8]) {
    match (plugin, secret) {
        (SHA2, OriginSecret::Password(p)) => (scramble::sha2_token(p.as_bytes(), scramble), SHA2),
        (_, OriginSecret::Password(p)) if p.is_empty() => (Vec::new(), NATIVE),
        (_, OriginSecret::Password(p)) => {
            let key = scramble::native_key(p.as_bytes());
            (scramble::native_token(&key, scramble), NATIVE)
        }
        (_, OriginSecret::NativeKey(key)) => (scramble::native_token(key, scramble), NATIVE),
    }
}

/// Opens and authenticates a connection for `target`.
pub async fn open(
    cache: &CacheCtx,
    tls: Option<&OriginTls>,
    target: &Target<'_>,
    secret: &OriginSecret,
) -> Result<OriginConn, LoginFailure> {
    let login = login(cache, tls, target, secret);
    tokio::time::timeout(cache.connect_timeout, login)
        .await
        .map_err(|_| {
            LoginFailure::Session(crate::protocol::origin::silent(
                cache,
                "the origin did not finish the login",
            ))
        })?
}

async fn login(
    cache: &CacheCtx,
    tls: Option<&OriginTls>,
    target: &Target<'_>,
    secret: &OriginSecret,
) -> Result<OriginConn, LoginFailure> {
    let (mut origin, mut obuf, greeting) = super::startup::connect(cache).await?;
    if target.caps & STREAM_SHAPING & !greeting.capabilities != 0 {
        return Err(MyError::Unsupported("the origin lacks capabilities this client uses").into());
    }
    let mut caps = target.caps & greeting.capabilities & SUPPORTED;
    caps |= CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
    caps &= !(CLIENT_CONNECT_WITH_DB | CLIENT_CONNECT_ATTRS | CLIENT_PLUGIN_AUTH_LENENC);
    caps |= greeting.capabilities & CLIENT_PLUGIN_AUTH_LENENC;
    if target.database.is_some() {
        caps |= CLIENT_CONNECT_WITH_DB;
    }
    if target.attrs.is_some() {
        caps |= greeting.capabilities & CLIENT_CONNECT_ATTRS;
    }
    let (auth, plugin) = token(&greeting.auth_plugin, secret, &greeting.scramble);
    let mut resp = Response {
        capabilities: caps,
        max_packet: target.max_packet,
        charset: target.charset,
        user: target.user.as_bytes().to_vec(),
        auth,
        database: target.database.map(<[u8]>::to_vec),
        auth_plugin: Some(plugin.to_vec()),
        attrs: target.attrs.map(<[u8]>::to_vec),
    };
    origin = tls::origin_upgrade(origin, &greeting, &mut resp, tls, &cache.origin).await?;
    let seq: u8 = if origin.is_tls() { 2 } else { 1 };
    write(
        &mut origin,
        &codec::packet(seq, &resp.build()),
        Side::Origin,
    )
    .await?;
    let status = rounds(&mut origin, &mut obuf, secret).await?;
    Ok(OriginConn {
        end: End::for_origin(origin, obuf),
        thread_id: greeting.connection_id,
        status,
        state: super::pooled_lender::ConnState::at(target.database),
    })
}

/// The origin's auth rounds until its OK (its status flags) or ERR.
async fn rounds(
    origin: &mut Stream,
    obuf: &mut BytesMut,
    secret: &OriginSecret,
) -> Result<u16, LoginFailure> {
    // A server asks for a switch at most once, and for more data a few times.
    for _ in 0..8 {
        let p = read_packet(origin, obuf, Side::Origin).await?;
        let next = p.seq().wrapping_add(1);
        let payload = p.payload();
        let answer = match payload.first() {
            Some(0x00) => return Ok(ok_status(payload).map_or(2, |(s, _)| s)),
            Some(0xFF) => return Err(LoginFailure::Refused(Bytes::copy_from_slice(payload))),
            Some(0xFE) => {
                let mut r = Reader::new(payload.get(1..).unwrap_or_default());
                let plugin = r.cstr();
                let data = r.rest();
                let nonce = data.strip_suffix(&[0]).unwrap_or(data);
                if plugin != NATIVE && plugin != SHA2 {
                    return Err(MyError::Unsupported(
                        "the origin asks for an auth plugin pooled mode cannot log in with (only mysql_native_password and caching_sha2_password)",
                    )
                    .into());
                }
                let (auth, used) = token(plugin, secret, nonce);
                if used != plugin {
                    return Err(MyError::Unsupported(
                        "the origin asks for caching_sha2_password, and only a mysql_native_password hash is stored: store the password",
                    )
                    .into());
                }
                auth
            }
            Some(0x01) => match payload.get(1) {
                Some(3) => continue,
                Some(4) => full_auth(origin.is_tls(), secret)?,
                _ => return Err(MyError::Origin("unexpected AuthMoreData from the origin").into()),
            },
            _ => return Err(MyError::Origin("unexpected packet during the origin login").into()),
        };
        write(origin, &codec::packet(next, &answer), Side::Origin).await?;
    }
    Err(MyError::Origin("the origin login does not end").into())
}

/// caching_sha2_password's full authentication: the password in clear, over TLS only.
fn full_auth(origin_tls: bool, secret: &OriginSecret) -> Result<Vec<u8>, LoginFailure> {
    match secret {
        OriginSecret::Password(p) if origin_tls => {
            let mut out = p.as_bytes().to_vec();
            out.push(0);
            Ok(out)
        }
        OriginSecret::Password(_) => Err(MyError::Unsupported(
            "the origin asks for caching_sha2_password full authentication, which pooled mode does only over TLS to the origin (set origin_tls)",
        )
        .into()),
        OriginSecret::NativeKey(_) => Err(MyError::Unsupported(
            "the origin asks for caching_sha2_password full authentication, and only a mysql_native_password hash is stored: store the password",
        )
        .into()),
    }
}

/// Sends each command (a payload, command byte first) and reads its one-packet
/// answer; `Some(ERR payload)` for the first command refused. Every answer is read.
pub async fn run(conn: &mut OriginConn, commands: &[Vec<u8>]) -> Result<Option<Bytes>, MyError> {
    let mut out = Vec::new();
    for c in commands {
        out.extend_from_slice(&codec::packet(0, c));
    }
    conn.end.send(&out).await?;
    let mut refused = None;
    for _ in commands {
        let p = loop {
            if let Some(p) = codec::decode(&mut conn.end.inbox)? {
                break p;
            }
            if conn.end.read().await? == 0 {
                return Err(MyError::Closed(Side::Origin));
            }
        };
        match p.first() {
            Some(0x00) => {
                if let Some((status, _)) = ok_status(p.payload()) {
                    conn.status = status;
                }
            }
            Some(0xFF) if refused.is_none() => {
                refused = Some(Bytes::copy_from_slice(p.payload()));
            }
            Some(0xFF) => {}
            _ => return Err(MyError::Origin("a reset command got more than OK or ERR")),
        }
    }
    Ok(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_the_plugin_and_the_secret() {
        let s = scramble::random_scramble();
        let pw = OriginSecret::Password("pw".into());
        let (t, used) = token(SHA2, &pw, &s);
        assert_eq!(used, SHA2);
        assert!(scramble::sha2_check(&scramble::sha2_hash(b"pw"), &s, &t));
        let (t, used) = token(b"client_ed25519", &pw, &s);
        assert_eq!(used, NATIVE);
        let stored = scramble::native_hash(&scramble::native_key(b"pw"));
        assert!(scramble::native_check(&stored, &s, &t).is_some());
        let key = OriginSecret::NativeKey(scramble::native_key(b"pw"));
        assert_eq!(token(SHA2, &key, &s).1, NATIVE);
        assert!(full_auth(false, &pw).is_err());
        assert!(matches!(full_auth(true, &pw), Ok(v) if v == b"pw\0"));
    }
}
