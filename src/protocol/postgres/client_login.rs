//! A client's login checked by wirecache itself (pooled mode): SCRAM-SHA-256 only,
//! no channel binding, against the user's verifier. An unknown user goes through the
//! same exchange against a verifier nothing matches, so a wrong password and an
//! unknown user look alike (`28P01`, as PostgreSQL answers both). No origin is
//! contacted here. The proof is never logged.

use bytes::{BufMut, BytesMut};

use super::errors::{PgError, Side};
use super::logins::Login;
use super::messages::{self, Body};
use super::scram::{Key, MECHANISM, ScramError, ServerExchange, Verifier, random_b64};
use super::startup::read_frame;
use crate::server::stream::{Stream, send};

/// Largest SASL message accepted from a client not yet logged in (PostgreSQL's
/// `PG_MAX_AUTH_TOKEN_LENGTH`): SCRAM's messages are a few hundred bytes, and a
/// client nobody has authenticated must not make wirecache hold 64 MiB for it.
pub const MAX_SASL_MESSAGE: usize = 65_535;

/// An Authentication message of `code` with `data` after it.
fn auth_message(code: i32, data: &[u8]) -> BytesMut {
    let mut body = BytesMut::with_capacity(data.len() + 4);
    body.put_i32(code);
    body.put_slice(data);
    let mut out = BytesMut::with_capacity(body.len() + 5);
    messages::put_message(&mut out, b'R', &body);
    out
}

/// SASLFinal with the server's signature, then AuthenticationOk.
pub(super) fn success(server_final: &str) -> BytesMut {
    let mut out = auth_message(12, server_final.as_bytes());
    out.extend_from_slice(&auth_message(0, &[]));
    out
}

async fn say(client: &mut Stream, bytes: &[u8]) -> Result<(), PgError> {
    send(client, bytes).await.map_err(PgError::io(Side::Client))
}

/// The SASL payload of a client's answer: `(mechanism, data)` for the initial
/// response, data alone otherwise.
fn sasl_initial(body: &[u8]) -> Option<(&[u8], &str)> {
    let mut b = Body::new(body);
    let mechanism = b.cstr()?;
    let len = usize::try_from(b.i32()?).ok()?;
    let data = b.take(len)?;
    Some((mechanism, std::str::from_utf8(data).ok()?))
}

/// Runs the SCRAM exchange with the client. Returns the ClientKey the proof revealed
/// and, on success, the SASLFinal and AuthenticationOk messages, for the caller to
/// send in one write with the greeting that follows them; a failure has already been
/// reported to the client (`28P01`) and is `AuthRejected`.
pub async fn check(
    client: &mut Stream,
    buf: &mut BytesMut,
    user: &str,
    login: Option<&Login>,
) -> Result<(Key, BytesMut), PgError> {
    let mut mechanisms = MECHANISM.as_bytes().to_vec();
    mechanisms.extend_from_slice(b"\0\0");
    say(client, &auth_message(10, &mechanisms)).await?;
    let answer = read_frame(client, buf, MAX_SASL_MESSAGE, Side::Client).await?;
    if answer.tag() != b'p' {
        return Err(PgError::Client("expected SASLInitialResponse"));
    }
    let (mechanism, first) =
        sasl_initial(answer.body()).ok_or(PgError::Client("malformed SASLInitialResponse"))?;
    if mechanism != MECHANISM.as_bytes() {
        return Err(PgError::Client("a SASL mechanism that was not offered"));
    }
    let verifier = login.map_or_else(|| Verifier::mock(user), |l| l.verifier.clone());
    let (exchange, server_first) = match ServerExchange::start(first, verifier, &random_b64(18)) {
        Ok(started) => started,
        Err(ScramError::ChannelBinding) => {
            return Err(PgError::Unsupported("SCRAM channel binding"));
        }
        Err(_) => return Err(PgError::Client("malformed SCRAM client-first-message")),
    };
    say(client, &auth_message(11, server_first.as_bytes())).await?;
    let answer = read_frame(client, buf, MAX_SASL_MESSAGE, Side::Client).await?;
    if answer.tag() != b'p' {
        return Err(PgError::Client("expected SASLResponse"));
    }
    let last = std::str::from_utf8(answer.body())
        .map_err(|_| PgError::Client("SCRAM message not UTF-8"))?;
    match exchange.finish(last) {
        Ok((server_final, key)) if login.is_some() => Ok((key, success(&server_final))),
        Ok(_) | Err(ScramError::Proof | ScramError::Nonce) => {
            let message = format!("password authentication failed for user \"{user}\"");
            let _ = say(
                client,
                &messages::error_response("FATAL", "28P01", &message),
            )
            .await;
            Err(PgError::AuthRejected)
        }
        Err(_) => Err(PgError::Client("malformed SCRAM client-final-message")),
    }
}
