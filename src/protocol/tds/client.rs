//! wirecache as a TDS client (MS-TDS 7.4). The origin leg's start — PRELOGIN, then TLS
//! inside PRELOGIN as an origin TLS mode and the server's answer say (`tls`) — is used
//! by `startup` for every session. On top of it, a small standalone client: a LOGIN7
//! built from a login name and password (`client_login`), a SQLBatch sent and its
//! answer read to the end of its message with the token scanner, rows counted and the
//! server's first ERROR kept. `wirecache latency-test` and the TDS benchmark driver use
//! it. The password is obfuscated as LOGIN7 requires, never logged and not kept.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::client_login::{self, Credentials};
use super::codec::{self, Kind};
use super::prelogin;
use super::tls::{self, Encrypt, OriginSide};
use super::tokens::{Env, Scanner, Summary};
use crate::config::OriginTlsMode;
use crate::protocol::{SessionError, Side};
use crate::server::origin_tls::OriginTls;
use crate::server::stream::{Stream, send};

/// The TDS version this client logs in with (7.4).
pub const TDS_74: u32 = 0x7400_0004;

/// The server a client leg connects to.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// `host:port`, as connected to and named in errors.
    pub origin: &'a str,
    /// Its TLS; `None`: no encryption (ENCRYPT_NOT_SUP).
    pub tls: Option<&'a OriginTls>,
    /// Bound on the connect, the PRELOGIN answer and the TLS handshake each.
    pub timeout: Duration,
}

/// Why the standalone client failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The server answered the LOGIN7 with an error (its message) or without LOGINACK.
    #[error("the server refused the login: {0}")]
    LoginRefused(String),
    /// Something this client cannot send (a login field too long, …).
    #[error("{0}")]
    Usage(&'static str),
    #[error("no answer from the server within {0:?}")]
    Timeout(Duration),
}

/// The origin's connection after PRELOGIN, before the LOGIN7.
pub enum OriginLeg {
    Plain(TcpStream),
    /// TLS agreed; `true`: for the LOGIN7 only.
    Tls(Box<OriginSide>, bool),
}

impl OriginLeg {
    /// Sends the LOGIN7 and returns the connection the login answer comes on (in clear
    /// again after login-only encryption).
    pub async fn send_login(
        self,
        wire: &[u8],
        obuf: &mut BytesMut,
    ) -> Result<Stream, SessionError> {
        let io = SessionError::io(Side::Origin);
        match self {
            OriginLeg::Plain(tcp) => {
                let mut s = Stream::Plain(tcp);
                send(&mut s, wire).await.map_err(io)?;
                Ok(s)
            }
            OriginLeg::Tls(mut tls, login_only) => {
                let sent = async {
                    tls.write_all(wire).await?;
                    tls.flush().await
                };
                sent.await.map_err(io)?;
                if !login_only {
                    return Ok(Stream::Layered(tls));
                }
                let (prelogin_io, _) = tls.into_inner();
                Ok(tls::downgrade(prelogin_io, obuf))
            }
        }
    }
}

/// Exchanges PRELOGINs with the server on `tcp` (and runs TLS, as `target`'s mode and
/// the server's answer say); no MARS. Returns the leg and the bytes read past it.
pub async fn prelogin(
    mut tcp: TcpStream,
    target: &Target<'_>,
) -> Result<(OriginLeg, BytesMut), SessionError> {
    let mode = target.tls.map_or(OriginTlsMode::Disable, |t| t.mode);
    let mut obuf = BytesMut::with_capacity(8192);
    let asked = prelogin::request_with(tls::origin_request(mode));
    let hello = codec::message(Kind::PreLogin, &asked, codec::DEFAULT_PACKET);
    tcp.write_all(&hello)
        .await
        .map_err(SessionError::io(Side::Origin))?;
    let read = super::startup::read_message(&mut tcp, &mut obuf, Side::Origin);
    let reply = tokio::time::timeout(target.timeout, read)
        .await
        .map_err(|_| SessionError::OriginConnect {
            origin: target.origin.to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no PRELOGIN answer from the origin",
            ),
        })??;
    let answered = prelogin::encryption(&reply.payload)
        .ok_or(SessionError::Origin("malformed PRELOGIN answer"))?;
    let refused = |reason: &str| SessionError::OriginTls {
        origin: target.origin.to_string(),
        mode: mode.as_str(),
        reason: format!("{reason} (its PRELOGIN said {})", answered.as_str()),
    };
    let plan = tls::origin_plan(mode, answered).map_err(refused)?;
    tracing::debug!(encryption = plan.as_str(), "mssql origin PRELOGIN answered");
    let Some(origin_tls) = target.tls.filter(|_| plan.uses_tls()) else {
        return Ok((OriginLeg::Plain(tcp), obuf));
    };
    let upgraded =
        tls::connect(target.origin, target.timeout, origin_tls, tcp, obuf.split()).await?;
    let leg = OriginLeg::Tls(Box::new(upgraded), plan == Encrypt::LoginOnly);
    Ok((leg, obuf))
}

/// What one answer held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Rows of every result.
    pub rows: u64,
    /// Result sets (COLMETADATA tokens).
    pub results: u32,
    /// The server's first error: its number and message.
    pub error: Option<(i32, String)>,
}

impl Answer {
    fn of(s: Summary) -> Answer {
        let error = match s.first_error {
            Some(e) => Some(e),
            None if s.error => Some((0, "the server marked its answer as an error".into())),
            None => None,
        };
        Answer {
            rows: s.rows,
            results: s.results,
            error,
        }
    }
}

/// A logged-in connection of the standalone client.
pub struct Connection {
    stream: Stream,
    buf: BytesMut,
    packet_size: usize,
    /// The open transaction's descriptor (0: none), sent in ALL_HEADERS.
    txn: u64,
}

impl Connection {
    /// Connects to `target`, logs in with `creds` and reads the login answer.
    pub async fn login(
        target: &Target<'_>,
        creds: &Credentials<'_>,
    ) -> Result<Connection, ClientError> {
        let payload = client_login::login7(creds, TDS_74, codec::DEFAULT_PACKET)?;
        let connect = tokio::time::timeout(target.timeout, TcpStream::connect(target.origin));
        let tcp = match connect.await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(source)) => return Err(unreachable(target, source)),
            Err(_) => {
                let source = std::io::Error::new(std::io::ErrorKind::TimedOut, "connect");
                return Err(unreachable(target, source));
            }
        };
        let _ = tcp.set_nodelay(true);
        let (leg, mut buf) = prelogin(tcp, target).await?;
        let wire = codec::message(Kind::Login7, &payload, codec::DEFAULT_PACKET);
        let stream = leg.send_login(&wire, &mut buf).await?;
        let mut conn = Connection {
            stream,
            buf,
            packet_size: codec::DEFAULT_PACKET,
            txn: 0,
        };
        let answered = tokio::time::timeout(target.timeout, conn.read_answer()).await;
        let summary = answered.map_err(|_| ClientError::Timeout(target.timeout))??;
        if let Some((_, text)) = &summary.first_error {
            return Err(ClientError::LoginRefused(text.clone()));
        }
        if !summary.login_ack || summary.error {
            return Err(ClientError::LoginRefused("no LOGINACK".into()));
        }
        for env in &summary.envs {
            if let Env::PacketSize(n) = env {
                conn.packet_size = (*n).clamp(codec::MIN_PACKET, codec::MAX_PACKET);
            }
        }
        Ok(conn)
    }

    /// Sends `sql` as a SQLBatch and reads its whole answer.
    pub async fn batch(&mut self, sql: &str) -> Result<Answer, ClientError> {
        let text = super::types::to_utf16(sql);
        let mut payload = Vec::with_capacity(22 + text.len());
        all_headers(&mut payload, self.txn);
        payload.extend_from_slice(&text);
        let wire = codec::message(Kind::SqlBatch, &payload, self.packet_size);
        send(&mut self.stream, &wire)
            .await
            .map_err(SessionError::io(Side::Origin))?;
        Ok(Answer::of(self.read_answer().await?))
    }

    /// Closes the connection (TDS has no goodbye message).
    pub async fn close(mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Reads one tabular-result message packet by packet, each scanned as it comes
    /// (memory stays within a packet and the scanner's bound), and follows the
    /// transaction descriptor through its ENVCHANGEs.
    async fn read_answer(&mut self) -> Result<Summary, SessionError> {
        let mut scan = Scanner::for_version(TDS_74);
        loop {
            while let Some(p) = codec::decode(&mut self.buf, Side::Origin)? {
                if p.kind() != Kind::TabularResult {
                    return Err(SessionError::Origin("expected a tabular result"));
                }
                scan.feed(p.payload()).map_err(SessionError::Origin)?;
                if p.is_eom() {
                    if !scan.at_boundary() {
                        return Err(SessionError::Origin("answer ended inside a token"));
                    }
                    self.follow(&scan.summary.envs);
                    return Ok(scan.summary);
                }
            }
            let n = self.stream.read_buf(&mut self.buf).await;
            if n.map_err(SessionError::io(Side::Origin))? == 0 {
                return Err(SessionError::Closed(Side::Origin));
            }
        }
    }

    fn follow(&mut self, envs: &[Env]) {
        for env in envs {
            match env {
                Env::Begin(d) => self.txn = *d,
                Env::Commit | Env::Rollback => self.txn = 0,
                _ => {}
            }
        }
    }
}

fn unreachable(target: &Target<'_>, source: std::io::Error) -> ClientError {
    ClientError::Session(SessionError::OriginConnect {
        origin: target.origin.to_string(),
        source,
    })
}

/// ALL_HEADERS (MS-TDS 2.2.5.3) with the transaction descriptor `txn` and one
/// outstanding request.
fn all_headers(out: &mut Vec<u8>, txn: u64) {
    out.extend_from_slice(&22u32.to_le_bytes());
    out.extend_from_slice(&18u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&txn.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;

    use super::*;
    use crate::protocol::tds::errors::{done_token, error_token};
    use crate::protocol::tds::tokens::{DONE_COUNT, DONE_ERROR, DONE_MORE};

    /// One INT4 column, `n` rows, a DONE with more to come, then an ERROR.
    fn stream(n: u32) -> BytesMut {
        let mut out = BytesMut::new();
        out.put_u8(0x81);
        out.put_u16_le(1);
        out.put_u32_le(0);
        out.put_u16_le(0);
        out.put_u8(0x38);
        out.put_u8(2);
        out.put_slice(&super::super::types::to_utf16("id"));
        for i in 0..n {
            out.put_u8(0xD1);
            out.put_i32_le(i as i32);
        }
        done_token(&mut out, DONE_COUNT | DONE_MORE, false);
        error_token(&mut out, 208, 16, "Invalid object name 'nope'.", false);
        error_token(&mut out, 1, 16, "second", false);
        done_token(&mut out, DONE_ERROR, false);
        out
    }

    #[test]
    fn answers_count_rows_and_keep_the_first_error_at_any_split() {
        let whole = stream(3);
        for cut in 0..=whole.len() {
            let mut scan = Scanner::for_version(TDS_74);
            scan.feed(&whole[..cut]).unwrap();
            scan.feed(&whole[cut..]).unwrap();
            assert!(scan.at_boundary());
            let a = Answer::of(scan.summary);
            assert_eq!(a.rows, 3, "cut at {cut}");
            assert_eq!(a.results, 1);
            assert_eq!(a.error, Some((208, "Invalid object name 'nope'.".into())));
        }
        let mut clean = Scanner::for_version(TDS_74);
        let mut ok = BytesMut::new();
        done_token(&mut ok, DONE_COUNT, false);
        clean.feed(&ok).unwrap();
        assert_eq!(Answer::of(clean.summary).error, None);
    }

    #[test]
    fn all_headers_carry_the_transaction() {
        let mut out = Vec::new();
        all_headers(&mut out, 0x0102_0304_0506_0708);
        assert_eq!(out.len(), 22);
        assert_eq!(&out[10..18], &0x0102_0304_0506_0708u64.to_le_bytes());
    }
}
