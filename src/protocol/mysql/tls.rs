//! TLS in the MySQL handshake (design §6). Towards the client: the greeting offers
//! CLIENT_SSL, and a client that wants TLS answers with a 32-byte SSLRequest (its
//! capabilities, maximum packet size and character set) before its HandshakeResponse,
//! which then comes over TLS. Towards the origin: the same from the other side, when
//! the origin's greeting offers TLS and the cache's mode wants it. Each side's
//! sequence ids grow by one when it used TLS; `relay_auth` shifts between the two.
//!
//! Passwords: a plugin that makes the client send its password in clear
//! (`mysql_clear_password`, PAM's `dialog`) is relayed only when the client's leg is
//! TLS (or the operator allows it); caching_sha2_password's full authentication,
//! where a TLS client sends its password in clear, is relayed only if the origin's leg
//! is TLS too. The same rule holds for the auth rounds of COM_CHANGE_USER later in the
//! session ([`AuthLegs`] keeps what it needs).

use std::sync::Arc;

use bytes::BytesMut;

use super::codec::{self, Packet};
use super::errors::{MyError, Side};
use super::handshake::{CLIENT_SSL, Greeting, Response};
use super::startup::read_packet;
use crate::config::OriginTlsMode;
use crate::server::origin_tls::OriginTls;
use crate::server::stream::{Stream, send};
use crate::server::tls_context::TlsContext;

/// Length of an SSLRequest payload.
const SSL_REQUEST_LEN: usize = 32;

/// Whether a client's first answer is an SSLRequest rather than its HandshakeResponse.
pub fn is_ssl_request(payload: &[u8]) -> bool {
    payload.len() == SSL_REQUEST_LEN
        && payload
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .is_some_and(|b: [u8; 4]| u32::from_le_bytes(b) & CLIENT_SSL != 0)
}

/// The SSLRequest payload asking for TLS with the capabilities of `resp`.
pub fn ssl_request(resp: &Response) -> Vec<u8> {
    let mut p = Vec::with_capacity(SSL_REQUEST_LEN);
    p.extend_from_slice(&(resp.capabilities | CLIENT_SSL).to_le_bytes());
    p.extend_from_slice(&resp.max_packet.to_le_bytes());
    p.push(resp.charset);
    p.extend_from_slice(&[0; 23]);
    p
}

/// After the greeting: upgrades the client in `slot` if its first packet asks for TLS,
/// and returns its HandshakeResponse packet. Refuses a plaintext client when TLS is
/// required.
pub async fn client_response(
    slot: &mut Option<Stream>,
    cbuf: &mut BytesMut,
    tls: &TlsContext,
) -> Result<Packet, MyError> {
    let client = slot.as_mut().ok_or(MyError::Closed(Side::Client))?;
    // Read exactly one packet: a client that asks for TLS sends its ClientHello right
    // behind the SSLRequest, and those bytes belong to the TLS handshake.
    let first = read_one_packet(client).await?;
    if !(tls.offered() && is_ssl_request(first.payload())) {
        if tls.client == crate::config::ClientTls::Require {
            return Err(MyError::TlsRequired);
        }
        return Ok(first);
    }
    let Some(Stream::Plain(tcp)) = slot.take() else {
        return Err(MyError::Client("TLS requested twice"));
    };
    let mut upgraded = tls
        .accept(tcp, false)
        .await
        .map_err(MyError::io(Side::Client))?;
    let response = read_packet(&mut upgraded, cbuf, Side::Client).await;
    *slot = Some(upgraded);
    response
}

/// Largest first packet accepted from a client (a HandshakeResponse with connection
/// attributes is a few hundred bytes).
const MAX_FIRST_PACKET: usize = 64 * 1024;

/// Reads one packet and not a byte more.
async fn read_one_packet(stream: &mut Stream) -> Result<Packet, MyError> {
    use tokio::io::AsyncReadExt;
    let mut header = [0u8; codec::HEADER];
    stream
        .read_exact(&mut header)
        .await
        .map_err(MyError::io(Side::Client))?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if len > MAX_FIRST_PACKET {
        return Err(MyError::TooLarge {
            side: Side::Client,
            tag: 0,
            len,
        });
    }
    let mut body = vec![0; len];
    stream
        .read_exact(&mut body)
        .await
        .map_err(MyError::io(Side::Client))?;
    let mut buf = BytesMut::with_capacity(codec::HEADER + len);
    buf.extend_from_slice(&header);
    buf.extend_from_slice(&body);
    codec::decode(&mut buf)?.ok_or(MyError::Client("short first packet"))
}

/// Before the HandshakeResponse: asks the origin for TLS when its greeting offers it and
/// the mode wants it (`resp` gains CLIENT_SSL), or fails when the mode needs TLS the
/// origin does not offer. Returns the origin's connection, TLS or not.
pub async fn origin_upgrade(
    origin: Stream,
    greeting: &Greeting,
    resp: &mut Response,
    tls: Option<&OriginTls>,
    origin_addr: &str,
) -> Result<Stream, MyError> {
    let Some((tls, (connector, name))) = tls.and_then(|t| Some((t, t.connector()?))) else {
        return Ok(origin);
    };
    let refused = |reason: String| MyError::OriginTls {
        origin: origin_addr.to_string(),
        mode: tls.mode.as_str(),
        reason,
    };
    if greeting.capabilities & CLIENT_SSL == 0 {
        return match tls.mode {
            OriginTlsMode::Disable | OriginTlsMode::Prefer => Ok(origin),
            _ => Err(refused("the origin does not offer TLS".into())),
        };
    }
    let Stream::Plain(mut tcp) = origin else {
        return Err(MyError::Origin("TLS asked for twice"));
    };
    let request = codec::packet(1, &ssl_request(resp));
    tokio::io::AsyncWriteExt::write_all(&mut tcp, &request)
        .await
        .map_err(MyError::io(Side::Origin))?;
    let upgraded = tokio::time::timeout(
        super::startup::CONNECT_TIMEOUT,
        connector.connect(name, tcp),
    )
    .await
    .map_err(|_| refused("TLS handshake timed out".into()))?
    .map_err(|e| refused(e.to_string()))?;
    resp.capabilities |= CLIENT_SSL;
    Ok(Stream::ClientTls(Box::new(upgraded)))
}

/// Writes `bytes` to a handshake peer and flushes.
pub async fn write(stream: &mut Stream, bytes: &[u8], side: Side) -> Result<(), MyError> {
    send(stream, bytes).await.map_err(MyError::io(side))
}

/// What an auth packet from the origin asks the client for, as far as passwords go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordAsk {
    /// Nothing wirecache or the network could read.
    Safe,
    /// An AuthSwitchRequest to a plugin that sends the password in clear.
    Cleartext,
    /// caching_sha2_password's "perform full authentication": a TLS client answers
    /// with its password in clear.
    FullAuth,
}

/// Classifies an origin's auth packet (AuthSwitchRequest `0xFE`, AuthMoreData `0x01`).
pub fn password_ask(payload: &[u8]) -> PasswordAsk {
    match payload {
        [0xFE, rest @ ..] => {
            let plugin = rest.split(|&b| b == 0).next().unwrap_or_default();
            if plugin == b"mysql_clear_password" || plugin == b"dialog" {
                PasswordAsk::Cleartext
            } else {
                PasswordAsk::Safe
            }
        }
        [0x01, 0x04] => PasswordAsk::FullAuth,
        _ => PasswordAsk::Safe,
    }
}

/// Refuses an auth round that would put a password on a leg without TLS.
pub fn check_password_ask(
    payload: &[u8],
    client_tls: bool,
    origin_tls: bool,
    tls: &TlsContext,
) -> Result<(), MyError> {
    match password_ask(payload) {
        PasswordAsk::Cleartext if !tls.cleartext_password_ok(client_tls) => {
            Err(MyError::CleartextPassword("mysql_clear_password or dialog"))
        }
        PasswordAsk::FullAuth if client_tls && !origin_tls && !tls.allow_cleartext_passwords => {
            Err(MyError::CleartextPassword(
                "caching_sha2_password full authentication, with TLS to wirecache but not to the origin",
            ))
        }
        _ => Ok(()),
    }
}

/// Which legs of a session are encrypted, and what the operator allows: what decides
/// whether an auth round may cross, at login and at every COM_CHANGE_USER after it.
#[derive(Clone)]
pub struct AuthLegs {
    pub client_tls: bool,
    pub origin_tls: bool,
    pub tls: Arc<TlsContext>,
}

impl AuthLegs {
    /// Refuses an auth round that would put a password on a leg without TLS.
    pub fn check(&self, payload: &[u8]) -> Result<(), MyError> {
        check_password_ask(payload, self.client_tls, self.origin_tls, &self.tls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_requests_are_recognised_by_length_and_flag() {
        let resp = Response {
            capabilities: 0x000f_a685,
            max_packet: 1 << 24,
            charset: 45,
            ..Response::default()
        };
        let req = ssl_request(&resp);
        assert_eq!(req.len(), 32);
        assert!(is_ssl_request(&req));
        let mut no_flag = req.clone();
        no_flag[1] &= !0x08;
        assert!(!is_ssl_request(&no_flag));
        assert!(!is_ssl_request(&req[..31]));
    }

    #[test]
    fn password_asks() {
        assert_eq!(
            password_ask(b"\xFEmysql_clear_password\0"),
            PasswordAsk::Cleartext
        );
        assert_eq!(
            password_ask(b"\xFEdialog\0\x04Password: "),
            PasswordAsk::Cleartext
        );
        assert_eq!(password_ask(b"\xFEclient_ed25519\0abc"), PasswordAsk::Safe);
        assert_eq!(password_ask(&[0x01, 0x04]), PasswordAsk::FullAuth);
        assert_eq!(password_ask(&[0x01, 0x03]), PasswordAsk::Safe);
        let strict = TlsContext::none_strict();
        assert!(check_password_ask(b"\xFEmysql_clear_password\0", false, false, &strict).is_err());
        assert!(check_password_ask(b"\xFEmysql_clear_password\0", true, false, &strict).is_ok());
        assert!(check_password_ask(&[0x01, 0x04], true, false, &strict).is_err());
        assert!(check_password_ask(&[0x01, 0x04], true, true, &strict).is_ok());
        assert!(check_password_ask(&[0x01, 0x04], false, false, &strict).is_ok());
    }
}
