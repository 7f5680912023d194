//! The test TDS origin's connection start: its PRELOGIN answer and, when it has a
//! certificate, TLS inside PRELOGIN packets as SQL Server does it. Written apart from
//! wirecache's own TLS layer (rustls driven by hand, without I/O, one PRELOGIN message
//! per handshake flight), so the origin leg is checked against a second
//! implementation.
//!
//! The origin is set up as a SQL Server is: no certificate (answers ENCRYPT_NOT_SUP),
//! a certificate without forced encryption (answers ENCRYPT_OFF to a client's OFF:
//! only the LOGIN7 inside TLS; ENCRYPT_ON to a client's ON: everything), or forced
//! encryption (answers ENCRYPT_REQ; a client that cannot encrypt is dropped). What
//! each connection ended with is recorded, so tests see what the origin saw.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use rustls::ServerConnection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wirecache::protocol::Side;
use wirecache::protocol::tds::codec::{self, Assembler, Kind, Message};
use wirecache::protocol::tds::prelogin::{self, Encryption};

use super::tls::Pki;

/// How the test origin is set up for encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginEncryption {
    /// No certificate: ENCRYPT_NOT_SUP.
    NotSupported,
    /// A certificate, encryption not forced.
    Off,
    /// Forced encryption: ENCRYPT_REQ.
    Required,
}

/// How one connection to the test origin was encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    None,
    LoginOnly,
    Full,
    /// The client could not encrypt and encryption is required: dropped.
    Refused,
}

/// The test origin's TLS: its setting, its certificate, and what each connection saw.
pub struct OriginTls {
    pub setting: OriginEncryption,
    config: Option<Arc<rustls::ServerConfig>>,
    seen: Mutex<Vec<Seen>>,
}

impl OriginTls {
    /// `setting`, presenting `pki`'s certificate (for `localhost`, signed by its CA).
    pub fn new(setting: OriginEncryption, pki: &Pki) -> Arc<OriginTls> {
        let chain = wirecache::server::tls::read_chain(pki.dir.join("wc.pem").as_path()).unwrap();
        let key = std::fs::read(pki.dir.join("wc.key")).unwrap();
        let key = rustls::pki_types::pem::PemObject::from_pem_slice(&key).unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        // A ticket after the handshake would land on the plaintext stream of a
        // login-only connection; SQL Server sends none.
        config.send_tls13_tickets = 0;
        Arc::new(OriginTls {
            setting,
            config: Some(Arc::new(config)),
            seen: Mutex::new(Vec::new()),
        })
    }

    /// No certificate: ENCRYPT_NOT_SUP to everyone.
    pub fn plain() -> Arc<OriginTls> {
        Arc::new(OriginTls {
            setting: OriginEncryption::NotSupported,
            config: None,
            seen: Mutex::new(Vec::new()),
        })
    }

    /// How each connection so far was encrypted, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The answer to a client's ENCRYPTION, and what follows (SQL Server's table).
    fn plan(&self, client: Encryption) -> (Encryption, Seen) {
        use Encryption as E;
        match (self.setting, client) {
            (OriginEncryption::NotSupported, _) => (E::NotSupported, Seen::None),
            (OriginEncryption::Off, E::Off) => (E::Off, Seen::LoginOnly),
            (OriginEncryption::Off, E::NotSupported) => (E::NotSupported, Seen::None),
            (OriginEncryption::Off, _) => (E::On, Seen::Full),
            (OriginEncryption::Required, E::NotSupported) => (E::Required, Seen::Refused),
            (OriginEncryption::Required, _) => (E::Required, Seen::Full),
        }
    }
}

/// The origin's side of a connection: plaintext, or TLS driven by hand.
pub enum OriginSocket {
    Plain(TcpStream),
    Tls(Box<TlsSocket>),
}

pub struct TlsSocket {
    tcp: TcpStream,
    conn: ServerConnection,
}

impl OriginSocket {
    /// Reads what the peer sent (decrypted); 0 at its end.
    pub async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        let s = match self {
            OriginSocket::Plain(tcp) => return tcp.read_buf(buf).await,
            OriginSocket::Tls(s) => s,
        };
        loop {
            let mut plain = [0u8; 16384];
            match s.conn.reader().read(&mut plain) {
                Ok(n) => {
                    buf.extend_from_slice(&plain[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            let mut raw = vec![0u8; 16384];
            let n = s.tcp.read(&mut raw).await?;
            if n == 0 {
                return Ok(0);
            }
            feed(&mut s.conn, &raw[..n])?;
        }
    }

    /// Writes `data` (encrypted on a TLS connection).
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            OriginSocket::Plain(tcp) => tcp.write_all(data).await,
            OriginSocket::Tls(s) => {
                s.conn.writer().write_all(data)?;
                let mut out = Vec::new();
                while s.conn.wants_write() {
                    s.conn.write_tls(&mut out)?;
                }
                s.tcp.write_all(&out).await
            }
        }
    }
}

/// Hands bytes from the peer to rustls.
fn feed(conn: &mut ServerConnection, mut raw: &[u8]) -> io::Result<()> {
    while !raw.is_empty() {
        conn.read_tls(&mut raw)?;
        conn.process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    }
    Ok(())
}

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Reads one message from `tcp` in clear.
async fn read_plain(tcp: &mut TcpStream, buf: &mut BytesMut) -> Res<Option<Message>> {
    let mut asm = Assembler::new(Side::Client, 1 << 20);
    loop {
        if let Some(m) = asm.next(buf)? {
            return Ok(Some(m));
        }
        if tcp.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}

/// Answers the client's PRELOGIN, runs TLS as `tls` says, and reads the LOGIN7.
/// Returns the connection as the session goes on (TLS, or clear again after a
/// login-only handshake), the bytes read ahead of it, and the LOGIN7; `None` when the
/// client went away or was refused.
pub async fn greet(
    mut tcp: TcpStream,
    tls: &OriginTls,
) -> Res<Option<(OriginSocket, BytesMut, Message)>> {
    let mut buf = BytesMut::new();
    let Some(hello) = read_plain(&mut tcp, &mut buf).await? else {
        return Ok(None);
    };
    assert_eq!(hello.kind, Kind::PreLogin);
    let asked = prelogin::encryption(&hello.payload).ok_or("malformed PRELOGIN")?;
    let (answer, seen) = tls.plan(asked);
    let wire = codec::message(
        Kind::TabularResult,
        &prelogin::answer_with(answer),
        codec::DEFAULT_PACKET,
    );
    // Recorded before the answer goes out: a refused client may look before this
    // task runs again.
    tls.seen.lock().unwrap().push(seen);
    tcp.write_all(&wire).await?;
    let config = match (seen, &tls.config) {
        (Seen::Refused, _) => return Ok(None),
        (Seen::LoginOnly | Seen::Full, Some(config)) => config.clone(),
        _ => {
            let Some(login) = read_plain(&mut tcp, &mut buf).await? else {
                return Ok(None);
            };
            return Ok(Some((OriginSocket::Plain(tcp), buf, login)));
        }
    };
    let mut conn = ServerConnection::new(config)?;
    handshake(&mut tcp, &mut buf, &mut conn).await?;
    let mut socket = OriginSocket::Tls(Box::new(TlsSocket { tcp, conn }));
    if let OriginSocket::Tls(s) = &mut socket {
        // Bytes that came behind the client's last handshake packet are TLS records.
        feed(&mut s.conn, &buf.split())?;
    }
    let mut asm = Assembler::new(Side::Client, 1 << 20);
    let login = loop {
        if let Some(m) = asm.next(&mut buf)? {
            break m;
        }
        if socket.read_buf(&mut buf).await? == 0 {
            return Ok(None);
        }
    };
    assert_eq!(login.kind, Kind::Login7, "the LOGIN7 comes inside TLS");
    if seen == Seen::LoginOnly
        && let OriginSocket::Tls(s) = socket
    {
        // SQL Server drops TLS after the login message: everything after is in clear.
        return Ok(Some((OriginSocket::Plain(s.tcp), buf, login)));
    }
    Ok(Some((socket, buf, login)))
}

/// The TLS handshake, each flight one PRELOGIN message each way.
async fn handshake(
    tcp: &mut TcpStream,
    buf: &mut BytesMut,
    conn: &mut ServerConnection,
) -> Res<()> {
    let mut asm = Assembler::new(Side::Client, 1 << 20);
    loop {
        if conn.wants_write() {
            let mut flight = Vec::new();
            while conn.wants_write() {
                conn.write_tls(&mut flight)?;
            }
            let wire = codec::message(Kind::PreLogin, &flight, codec::DEFAULT_PACKET);
            tcp.write_all(&wire).await?;
            continue;
        }
        if !conn.is_handshaking() {
            return Ok(());
        }
        let m = loop {
            if let Some(m) = asm.next(buf)? {
                break m;
            }
            if tcp.read_buf(buf).await? == 0 {
                return Err("closed during the TLS handshake".into());
            }
        };
        if m.kind != Kind::PreLogin {
            return Err(format!("a {:?} packet during the TLS handshake", m.kind).into());
        }
        feed(conn, &m.payload)?;
    }
}
