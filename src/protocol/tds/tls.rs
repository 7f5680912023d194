//! TLS inside PRELOGIN (design §6; MS-TDS 2.2.6.5): what each leg's ENCRYPTION
//! values lead to, and the handshakes. Both legs are independent.
//!
//! Client leg (`tls.client`; wirecache is the TLS server):
//!
//! | `tls.client` | client OFF        | client ON / REQ | client NOT_SUP          |
//! |--------------|-------------------|-----------------|-------------------------|
//! | `off`        | NOT_SUP: none     | NOT_SUP (¹)     | NOT_SUP: none           |
//! | `allow`      | OFF: login only   | ON: everything  | NOT_SUP: none           |
//! | `require`    | REQ: everything   | REQ: everything | REQ: refused (²)        |
//!
//! (¹) the client ends the connection with its own error ("encryption not supported
//! by the server"), as against a SQL Server without a certificate. (²) the client
//! ends it; one that sends its LOGIN7 in clear anyway gets a login error.
//!
//! Origin leg (the cache's `tls`; wirecache is the TLS client):
//!
//! | mode                         | sends   | origin OFF | origin ON / REQ | origin NOT_SUP |
//! |------------------------------|---------|------------|-----------------|----------------|
//! | `disable`                    | NOT_SUP | none       | error           | none           |
//! | `prefer`                     | OFF     | login only | everything      | none           |
//! | `require`, `verify-ca/-full` | ON      | everything | everything      | error          |
//!
//! "Login only": the handshake, then the LOGIN7 inside TLS, then TLS is dropped and
//! the connection goes on in clear (the login answer included), as SQL Server does.
//!
//! TDS 8.0 strict (client leg only): a client whose first byte starts a TLS record
//! (0x16) gets TLS at once (TLS 1.2 or 1.3, ALPN `tds/8.0`), then sends its PRELOGIN
//! inside it; wirecache answers ENCRYPT_NOT_SUP there (no second handshake), as the
//! client expects. Refused when `tls.client = "off"`.

use std::time::Duration;

use bytes::BytesMut;
use tokio::net::TcpStream;
use tokio_rustls::{client, server};

use super::TdsContext;
use super::prelogin::Encryption;
use super::tls_io::PreloginIo;
use crate::config::{ClientTls, OriginTlsMode};
use crate::protocol::{SessionError, Side};
use crate::server::origin_tls::OriginTls;
use crate::server::stream::{Layered, Stream};

/// The ALPN name of TDS 8.0 strict.
pub const STRICT_ALPN: &[u8] = b"tds/8.0";
/// The first byte of a TLS handshake record: a strict client's first byte.
pub const TLS_HANDSHAKE: u8 = 0x16;

/// Packet types a client wraps its handshake in.
const FROM_CLIENT: &[u8] = &[0x12];
/// Packet types a server wraps its handshake in (SQL Server: PRELOGIN; some servers
/// answer in tabular-result packets).
const FROM_ORIGIN: &[u8] = &[0x12, 0x04];

/// How a leg is encrypted once PRELOGIN is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encrypt {
    None,
    /// Only the LOGIN7 message travels inside TLS.
    LoginOnly,
    Full,
    /// wirecache requires TLS and the client cannot do it.
    Refused,
    /// TDS 8.0 strict: TLS came first.
    Strict,
}

impl Encrypt {
    pub fn as_str(self) -> &'static str {
        match self {
            Encrypt::None => "none",
            Encrypt::LoginOnly => "login only",
            Encrypt::Full => "full",
            Encrypt::Refused => "refused",
            Encrypt::Strict => "strict (TDS 8.0)",
        }
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, Encrypt::LoginOnly | Encrypt::Full)
    }
}

/// What wirecache answers a client's ENCRYPTION under `setting`, and what follows.
pub fn client_plan(setting: ClientTls, client: Encryption) -> (Encryption, Encrypt) {
    use Encryption as E;
    match (setting, client) {
        (ClientTls::Off, _) => (E::NotSupported, Encrypt::None),
        (ClientTls::Allow, E::Off) => (E::Off, Encrypt::LoginOnly),
        (ClientTls::Allow, E::NotSupported) => (E::NotSupported, Encrypt::None),
        (ClientTls::Allow, _) => (E::On, Encrypt::Full),
        (ClientTls::Require, E::NotSupported) => (E::Required, Encrypt::Refused),
        (ClientTls::Require, _) => (E::Required, Encrypt::Full),
    }
}

/// What wirecache sends an origin under `mode`.
pub fn origin_request(mode: OriginTlsMode) -> Encryption {
    match mode {
        OriginTlsMode::Disable => Encryption::NotSupported,
        OriginTlsMode::Prefer => Encryption::Off,
        _ => Encryption::On,
    }
}

/// What follows the origin's ENCRYPTION answer under `mode`; `Err` names why the
/// connection cannot go on.
pub fn origin_plan(mode: OriginTlsMode, origin: Encryption) -> Result<Encrypt, &'static str> {
    use Encryption as E;
    match (mode, origin) {
        (_, E::Other(_)) => Err("the origin answered an unknown ENCRYPTION value"),
        (OriginTlsMode::Disable, E::Off | E::NotSupported) => Ok(Encrypt::None),
        (OriginTlsMode::Disable, _) => Err("the origin requires encryption"),
        (OriginTlsMode::Prefer, E::Off) => Ok(Encrypt::LoginOnly),
        (OriginTlsMode::Prefer, E::NotSupported) => Ok(Encrypt::None),
        (OriginTlsMode::Prefer, _) => Ok(Encrypt::Full),
        (_, E::NotSupported) => Err("the origin does not support encryption"),
        (_, _) => Ok(Encrypt::Full),
    }
}

/// A client connection with TLS inside PRELOGIN.
pub type ClientSide = server::TlsStream<PreloginIo>;
/// An origin connection with TLS inside PRELOGIN.
pub type OriginSide = client::TlsStream<PreloginIo>;

impl Layered for ClientSide {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0.tcp()
    }
}

impl Layered for OriginSide {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0.tcp()
    }
}

/// Runs the client's handshake (wirecache serves its certificate); `read_ahead`: bytes
/// the client sent behind its PRELOGIN. TLS records pass directly afterwards. TLS 1.2
/// and full handshakes only, as SQL Server before TDS 8.0: the server's Finished ends
/// the handshake, so no client (FreeTDS among them) leaves its last handshake bytes
/// behind to be sent in the packet of its LOGIN7.
pub async fn accept(
    ctx: &TdsContext,
    tcp: TcpStream,
    read_ahead: BytesMut,
) -> Result<ClientSide, SessionError> {
    let acceptor = ctx
        .tls
        .acceptor_tls12()
        .ok_or(SessionError::Client("TLS asked for while it is off"))?;
    let io = PreloginIo::new(tcp, read_ahead, FROM_CLIENT);
    let mut tls = acceptor
        .accept(io)
        .await
        .map_err(SessionError::io(Side::Client))?;
    tls.get_mut().0.passthrough();
    Ok(tls)
}

/// Runs a TDS 8.0 strict client's handshake, before any TDS.
pub async fn accept_strict(
    ctx: &TdsContext,
    tcp: TcpStream,
) -> Result<server::TlsStream<TcpStream>, SessionError> {
    let acceptor = ctx.strict.as_ref().ok_or(SessionError::Client(
        "TLS first (TDS 8.0 strict) while tls.client is off",
    ))?;
    acceptor
        .accept(tcp)
        .await
        .map_err(SessionError::io(Side::Client))
}

/// Runs the handshake with `origin` as `tls`'s mode says, within `timeout`. TLS
/// records pass directly afterwards.
pub async fn connect(
    origin: &str,
    timeout: Duration,
    tls: &OriginTls,
    tcp: TcpStream,
    read_ahead: BytesMut,
) -> Result<OriginSide, SessionError> {
    let refused = |reason: String| SessionError::OriginTls {
        origin: origin.to_string(),
        mode: tls.mode.as_str(),
        reason,
    };
    let (connector, name) = tls
        .connector()
        .ok_or_else(|| refused("no TLS connector for this mode".into()))?;
    let io = PreloginIo::new(tcp, read_ahead, FROM_ORIGIN);
    let mut tls = tokio::time::timeout(timeout, connector.connect(name, io))
        .await
        .map_err(|_| refused("TLS handshake timed out".into()))?
        .map_err(|e| refused(e.to_string()))?;
    tls.get_mut().0.passthrough();
    Ok(tls)
}

/// Drops TLS after the login message (login-only encryption): the socket, and any
/// bytes read from it that TLS had not consumed, go on in clear.
pub fn downgrade(io: PreloginIo, buf: &mut BytesMut) -> Stream {
    let (tcp, rest) = io.into_parts();
    if !rest.is_empty() {
        let tail = buf.split();
        buf.extend_from_slice(&rest);
        buf.extend_from_slice(&tail);
    }
    Stream::Plain(tcp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Encryption as E;

    #[test]
    fn client_leg_table() {
        let cases = [
            (ClientTls::Off, E::Off, E::NotSupported, Encrypt::None),
            (ClientTls::Off, E::On, E::NotSupported, Encrypt::None),
            (ClientTls::Allow, E::Off, E::Off, Encrypt::LoginOnly),
            (ClientTls::Allow, E::On, E::On, Encrypt::Full),
            (ClientTls::Allow, E::Required, E::On, Encrypt::Full),
            (
                ClientTls::Allow,
                E::NotSupported,
                E::NotSupported,
                Encrypt::None,
            ),
            (ClientTls::Require, E::Off, E::Required, Encrypt::Full),
            (ClientTls::Require, E::On, E::Required, Encrypt::Full),
            (
                ClientTls::Require,
                E::NotSupported,
                E::Required,
                Encrypt::Refused,
            ),
        ];
        for (setting, client, answer, outcome) in cases {
            assert_eq!(
                client_plan(setting, client),
                (answer, outcome),
                "{setting:?} {client:?}"
            );
        }
    }

    #[test]
    fn origin_leg_table() {
        use OriginTlsMode as M;
        assert_eq!(origin_request(M::Disable), E::NotSupported);
        assert_eq!(origin_request(M::Prefer), E::Off);
        assert_eq!(origin_request(M::VerifyFull), E::On);
        assert_eq!(origin_plan(M::Disable, E::Off), Ok(Encrypt::None));
        assert!(origin_plan(M::Disable, E::Required).is_err());
        assert_eq!(origin_plan(M::Prefer, E::Off), Ok(Encrypt::LoginOnly));
        assert_eq!(origin_plan(M::Prefer, E::Required), Ok(Encrypt::Full));
        assert_eq!(origin_plan(M::Prefer, E::NotSupported), Ok(Encrypt::None));
        assert_eq!(origin_plan(M::Require, E::Off), Ok(Encrypt::Full));
        assert!(origin_plan(M::VerifyCa, E::NotSupported).is_err());
        assert!(origin_plan(M::Require, E::Other(9)).is_err());
    }
}
