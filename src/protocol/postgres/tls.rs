//! TLS at a PostgreSQL connection's start (design §6): the client's direct TLS start
//! and the upgrade after an SSLRequest; the origin connection with its cache's TLS mode
//! (an SSLRequest answered `S` or `N`); and SCRAM channel binding, which cannot pass
//! through a proxy whose two legs are both TLS.

use super::errors::{PgError, Side};
use super::messages::{self, Body};
use crate::engine::CacheCtx;
use crate::server::origin_tls::OriginTls;
use crate::server::stream::{Stream, send};
use crate::server::tls_context::TlsContext;

/// The first byte of a TLS handshake record: a direct TLS start.
const TLS_HANDSHAKE: u8 = 0x16;

/// Whether the client's first byte starts a TLS handshake (PostgreSQL 17's
/// `sslnegotiation=direct`), looked at without consuming it.
pub async fn direct_tls(client: &Stream) -> Result<bool, PgError> {
    let mut first = [0u8; 1];
    let n = client
        .tcp()
        .peek(&mut first)
        .await
        .map_err(PgError::io(Side::Client))?;
    Ok(n == 1 && first[0] == TLS_HANDSHAKE)
}

/// Replaces the plaintext connection in `slot` with its TLS upgrade.
pub async fn upgrade(slot: &mut Option<Stream>, tls: &TlsContext) -> Result<(), PgError> {
    let Some(Stream::Plain(tcp)) = slot.take() else {
        return Err(PgError::Client("TLS requested twice"));
    };
    let upgraded = tls
        .accept(tcp, true)
        .await
        .map_err(PgError::io(Side::Client))?;
    *slot = Some(upgraded);
    Ok(())
}

/// Connects to `cache`'s origin and, unless its TLS mode is `disable`, asks for TLS
/// with an SSLRequest: `S` upgrades the connection, `N` leaves it plaintext where the
/// mode allows that (`prefer`) and fails otherwise.
pub async fn connect_origin(cache: &CacheCtx, tls: Option<&OriginTls>) -> Result<Stream, PgError> {
    let tcp = crate::protocol::origin::connect_tcp(cache).await?;
    let Some((tls, (connector, name))) = tls.and_then(|t| Some((t, t.connector()?))) else {
        return Ok(Stream::Plain(tcp));
    };
    let refused = |reason: String| PgError::OriginTls {
        origin: cache.origin.clone(),
        mode: tls.mode.as_str(),
        reason,
    };
    let mut plain = Stream::Plain(tcp);
    send(&mut plain, &messages::ssl_request())
        .await
        .map_err(PgError::io(Side::Origin))?;
    let mut answer = [0u8; 1];
    let Stream::Plain(tcp) = &mut plain else {
        return Err(PgError::Origin("unexpected stream"));
    };
    // An origin that accepts the connection but never answers must not hang the login.
    let read = tokio::io::AsyncReadExt::read_exact(tcp, &mut answer);
    tokio::time::timeout(cache.connect_timeout, read)
        .await
        .map_err(|_| crate::protocol::origin::silent(cache, "no answer to the SSLRequest"))?
        .map_err(PgError::io(Side::Origin))?;
    match answer[0] {
        b'S' => {
            let Stream::Plain(tcp) = plain else {
                return Err(PgError::Origin("unexpected stream"));
            };
            let upgraded =
                tokio::time::timeout(cache.connect_timeout, connector.connect(name, tcp))
                    .await
                    .map_err(|_| refused("TLS handshake timed out".into()))?
                    .map_err(|e| refused(e.to_string()))?;
            Ok(Stream::ClientTls(Box::new(upgraded)))
        }
        b'N' if tls.mode.allows_plaintext() => Ok(plain),
        b'N' => Err(refused("the origin does not offer TLS".into())),
        _ => Err(refused(
            "the origin answered the SSLRequest with an error".into(),
        )),
    }
}

/// Why a SCRAM login that offers channel binding cannot pass through.
pub const CHANNEL_BINDING: &str = "SCRAM channel binding cannot pass through wirecache while both \
     connections use TLS (each has its own certificate): set channel_binding=disable in the \
     client's connection string, or tls = \"disable\" for this cache's origin";

/// Whether a SASLInitialResponse's GS2 header says `y`: the client supports channel
/// binding and believes the server does not. An origin whose own connection is TLS
/// refuses that as a downgrade; wirecache hides `-PLUS` because binding to its own
/// certificate could not satisfy the origin.
pub fn wants_channel_binding(body: &[u8]) -> bool {
    let mut b = Body::new(body);
    let _mechanism = b.cstr();
    let _len = b.i32();
    b.rest().first() == Some(&b'y')
}
