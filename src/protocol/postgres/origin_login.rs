//! wirecache's own login to a PostgreSQL origin in pooled mode, with the stored
//! secret: trust, cleartext, MD5 or SCRAM-SHA-256 (no channel binding), as the origin
//! asks. Produces a pooled [`OriginConn`]: its end, the parameter statuses the origin
//! reported (what each client lent it is greeted with) and its cancel key. Also the
//! reset that runs before a connection goes back to its pool.

use bytes::{BufMut, Bytes, BytesMut};

use super::codec::{self, Frame, MAX_ORIGIN_MESSAGE};
use super::errors::{PgError, Side};
use super::logins::OriginSecret;
use super::messages::{self, Body};
use super::scram::MECHANISM;
use super::scram_client::{ClientExchange, check_final};
use super::startup::read_frame;
use super::tls::connect_origin;
use crate::engine::CacheCtx;
use crate::pool::Conn;
use crate::protocol::End;
use crate::server::origin_tls::OriginTls;
use crate::server::stream::{Stream, send};

/// An authenticated origin connection at rest (after ReadyForQuery `I`).
pub struct OriginConn {
    pub end: End,
    /// ParameterStatus name → value, as the origin last reported them.
    pub statuses: Vec<(String, String)>,
    /// Its BackendKeyData body (process ID and secret).
    pub key: Bytes,
    /// The client startup parameters it has (set after its last reset).
    pub applied: super::pooled_params::Params,
    /// What transaction pooling left on it (settings, prepared statements).
    pub txn: super::pooled_state::ConnState,
}

impl Conn for OriginConn {
    fn alive(&mut self) -> bool {
        self.end.alive()
    }
}

impl OriginConn {
    /// Records a ParameterStatus the origin sent.
    pub fn status(&mut self, body: &[u8]) {
        let Some((k, v)) = messages::parse_parameter_status(body) else {
            return;
        };
        match self.statuses.iter_mut().find(|(name, _)| name == k) {
            Some((_, value)) => *value = v.to_owned(),
            None => self.statuses.push((k.to_owned(), v.to_owned())),
        }
    }
}

/// Why an origin login failed: an error of wirecache's, or the origin's own
/// ErrorResponse (relayed to the client as it is).
pub enum LoginFailure {
    Session(PgError),
    Refused(Bytes),
}

impl From<PgError> for LoginFailure {
    fn from(e: PgError) -> Self {
        LoginFailure::Session(e)
    }
}

fn password_message(body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(body.len() + 5);
    messages::put_message(&mut out, b'p', body);
    out.freeze()
}

/// Connects and logs in as `user` to `database`.
pub async fn open(
    cache: &CacheCtx,
    tls: Option<&OriginTls>,
    (user, database): (&str, &str),
    secret: &OriginSecret,
) -> Result<OriginConn, LoginFailure> {
    let mut origin = connect_origin(cache, tls).await?;
    let params =
        [("user", user), ("database", database)].map(|(k, v)| (k.to_owned(), v.to_owned()));
    send(&mut origin, &messages::startup_message(&params))
        .await
        .map_err(PgError::io(Side::Origin))?;
    let mut buf = BytesMut::with_capacity(4096);
    let login = tokio::time::timeout(
        cache.connect_timeout,
        authenticate(&mut origin, &mut buf, user, secret),
    );
    let (statuses, key) = login
        .await
        .map_err(|_| PgError::Origin("the origin did not finish the login in time"))??;
    Ok(OriginConn {
        end: End::for_origin(origin, buf),
        statuses,
        key,
        applied: Vec::new(),
        txn: Default::default(),
    })
}

type Greeting = (Vec<(String, String)>, Bytes);

/// Answers the origin's authentication requests until its first ReadyForQuery.
async fn authenticate(
    origin: &mut Stream,
    buf: &mut BytesMut,
    user: &str,
    secret: &OriginSecret,
) -> Result<Greeting, LoginFailure> {
    let (mut statuses, mut key) = (Vec::new(), Bytes::new());
    let mut scram: Option<ClientExchange> = None;
    let mut expected = None;
    loop {
        let frame = read_frame(origin, buf, MAX_ORIGIN_MESSAGE, Side::Origin).await?;
        match frame.tag() {
            b'R' => {
                let step = Step {
                    user,
                    secret,
                    scram: &mut scram,
                    expected: &mut expected,
                };
                if let Some(answer) = step.on_auth(&frame)? {
                    send(origin, &answer)
                        .await
                        .map_err(PgError::io(Side::Origin))?;
                }
            }
            b'S' => {
                if let Some((k, v)) = messages::parse_parameter_status(frame.body()) {
                    statuses.push((k.to_owned(), v.to_owned()));
                }
            }
            b'K' => key = Bytes::copy_from_slice(frame.body()),
            b'Z' => return Ok((statuses, key)),
            b'E' => return Err(LoginFailure::Refused(frame.bytes)),
            _ => {}
        }
    }
}

/// One authentication request and the state it may advance.
struct Step<'a> {
    user: &'a str,
    secret: &'a OriginSecret,
    scram: &'a mut Option<ClientExchange>,
    expected: &'a mut Option<super::scram::Key>,
}

impl Step<'_> {
    fn on_auth(self, frame: &Frame) -> Result<Option<Bytes>, PgError> {
        let mut body = Body::new(frame.body());
        let code = body
            .i32()
            .ok_or(PgError::Origin("short authentication request"))?;
        let need_password = || {
            self.secret.password().ok_or(PgError::Unsupported(
                "an origin asking for a password when the userlist holds a SCRAM verifier",
            ))
        };
        Ok(Some(match code {
            // AuthenticationOk in the middle of SCRAM: the origin never proved (with
            // its server signature) that it holds the verifier.
            0 if self.scram.is_some() || self.expected.is_some() => {
                return Err(PgError::Origin(
                    "the origin ended SCRAM without its server signature",
                ));
            }
            0 => return Ok(None),
            3 => {
                let mut body = need_password()?.as_bytes().to_vec();
                body.push(0);
                password_message(&body)
            }
            5 => {
                let salt = body.take(4).ok_or(PgError::Origin("short MD5 request"))?;
                super::auth::md5_password_message(
                    need_password()?.as_bytes(),
                    self.user.as_bytes(),
                    salt,
                )
            }
            10 => self.sasl_start(body)?,
            11 => self.sasl_continue(body.rest())?,
            12 => {
                let expected = self
                    .expected
                    .take()
                    .ok_or(PgError::Origin("unexpected SASLFinal"))?;
                check_final(utf8(body.rest())?, &expected).map_err(scram_failed)?;
                return Ok(None);
            }
            _ => {
                return Err(PgError::Unsupported(
                    "an authentication method of the origin's",
                ));
            }
        }))
    }

    /// AuthenticationSASL: the SASLInitialResponse, if SCRAM-SHA-256 is offered.
    fn sasl_start(self, mut body: Body) -> Result<Bytes, PgError> {
        let offered = std::iter::from_fn(|| body.cstr().filter(|m| !m.is_empty()));
        if !offered.into_iter().any(|m| m == MECHANISM.as_bytes()) {
            return Err(PgError::Unsupported(
                "an origin that does not offer SCRAM-SHA-256",
            ));
        }
        let (exchange, first) = ClientExchange::new();
        *self.scram = Some(exchange);
        let mut body = BytesMut::new();
        body.put_slice(MECHANISM.as_bytes());
        body.put_u8(0);
        body.put_i32(i32::try_from(first.len()).unwrap_or(i32::MAX));
        body.put_slice(first.as_bytes());
        Ok(password_message(&body))
    }

    /// AuthenticationSASLContinue: the client-final-message.
    fn sasl_continue(self, server_first: &[u8]) -> Result<Bytes, PgError> {
        let exchange = self
            .scram
            .take()
            .ok_or(PgError::Origin("unexpected SASLContinue"))?;
        let (last, signature) = exchange
            .respond(utf8(server_first)?, self.secret.proof())
            .map_err(scram_failed)?;
        *self.expected = Some(signature);
        Ok(password_message(last.as_bytes()))
    }
}

fn scram_failed(_: super::scram::ScramError) -> PgError {
    PgError::Origin("SCRAM exchange with the origin failed")
}

fn utf8(bytes: &[u8]) -> Result<&str, PgError> {
    std::str::from_utf8(bytes).map_err(|_| PgError::Origin("SCRAM message not UTF-8"))
}

/// Runs `sql` (a simple query of wirecache's own) on a pooled connection at rest and
/// reads its answer to ReadyForQuery, recording parameter statuses. Returns the
/// origin's ErrorResponse, if it sent one. The connection must be idle (`I`) after.
pub async fn run(conn: &mut OriginConn, sql: &str) -> Result<Option<Bytes>, PgError> {
    run_for_row(conn, sql).await.map(|(error, _)| error)
}

/// [`run`], also returning the body of the first DataRow, if any.
pub async fn run_for_row(
    conn: &mut OriginConn,
    sql: &str,
) -> Result<(Option<Bytes>, Option<Bytes>), PgError> {
    conn.end.send(&messages::query(sql)).await?;
    answers(conn, 1).await
}

/// Sends every query of `sqls` at once (each its own transaction) and reads their
/// answers: true if none failed.
pub async fn run_all(conn: &mut OriginConn, sqls: &[&str]) -> Result<bool, PgError> {
    let mut out = BytesMut::new();
    for sql in sqls {
        out.extend_from_slice(&messages::query(sql));
    }
    conn.end.send(&out).await?;
    let (error, _) = answers(conn, sqls.len()).await?;
    Ok(error.is_none())
}

/// Reads the answers of `queries` simple queries: the first error and the first
/// DataRow's body.
async fn answers(
    conn: &mut OriginConn,
    mut queries: usize,
) -> Result<(Option<Bytes>, Option<Bytes>), PgError> {
    let (mut error, mut row) = (None, None);
    loop {
        let frame = loop {
            let inbox = &mut conn.end.inbox;
            if let Some(f) = codec::decode(inbox, MAX_ORIGIN_MESSAGE, Side::Origin)? {
                break f;
            }
            if conn.end.read().await? == 0 {
                return Err(PgError::Closed(Side::Origin));
            }
        };
        match frame.tag() {
            b'S' => conn.status(frame.body()),
            b'E' => error = error.or(Some(frame.bytes)),
            b'D' if row.is_none() => row = Some(Bytes::copy_from_slice(frame.body())),
            b'Z' if frame.body() != b"I" => {
                return Err(PgError::Origin("not idle after wirecache's own query"));
            }
            b'Z' if queries <= 1 => return Ok((error, row)),
            b'Z' => queries -= 1,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(code: i32) -> Frame {
        let mut out = BytesMut::new();
        messages::put_message(&mut out, b'R', &code.to_be_bytes());
        Frame {
            bytes: out.freeze(),
        }
    }

    /// An origin (or whoever answers in its place) that skips SASLFinal and says
    /// AuthenticationOk is refused, as libpq refuses it.
    #[test]
    fn authentication_ok_before_the_server_signature_is_refused() {
        let secret = OriginSecret::Password("pw".to_owned());
        let (mut scram, mut expected) = (None, Some([0; 32]));
        let step = Step {
            user: "app",
            secret: &secret,
            scram: &mut scram,
            expected: &mut expected,
        };
        assert!(step.on_auth(&auth(0)).is_err());
        let (mut scram, mut expected) = (Some(ClientExchange::new().0), None);
        let step = Step {
            user: "app",
            secret: &secret,
            scram: &mut scram,
            expected: &mut expected,
        };
        assert!(step.on_auth(&auth(0)).is_err());
        let (mut scram, mut expected) = (None, None);
        let step = Step {
            user: "app",
            secret: &secret,
            scram: &mut scram,
            expected: &mut expected,
        };
        assert!(matches!(step.on_auth(&auth(0)), Ok(None)), "trust");
    }
}
