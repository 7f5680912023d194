//! The connection-phase packets the proxy looks inside: the server's greeting
//! (Protocol::HandshakeV10), the client's HandshakeResponse41 and COM_CHANGE_USER, and
//! the capability flags the proxy lets through. Parsing and building only; the
//! exchange itself is in `startup`.
//!
//! Capabilities the proxy cannot honour are removed in both directions: from the
//! greeting the client sees and from the response the origin gets (TLS, compression,
//! query attributes, optional metadata, session tracking, and every MariaDB extended
//! capability).

use super::codec::{Reader, put_lenenc};

pub const CLIENT_LONG_PASSWORD: u32 = 1;
pub const CLIENT_CONNECT_WITH_DB: u32 = 1 << 3;
pub const CLIENT_LOCAL_FILES: u32 = 1 << 7;
pub const CLIENT_PROTOCOL_41: u32 = 1 << 9;
/// The client asks for TLS (an SSLRequest) before its HandshakeResponse.
pub const CLIENT_SSL: u32 = 1 << 11;
pub const CLIENT_SECURE_CONNECTION: u32 = 1 << 15;
pub const CLIENT_MULTI_STATEMENTS: u32 = 1 << 16;
pub const CLIENT_PLUGIN_AUTH: u32 = 1 << 19;
pub const CLIENT_CONNECT_ATTRS: u32 = 1 << 20;
pub const CLIENT_PLUGIN_AUTH_LENENC: u32 = 1 << 21;
pub const CLIENT_DEPRECATE_EOF: u32 = 1 << 24;

/// Every capability the proxy implements: the rest (SSL 1<<11, COMPRESS 1<<5,
/// SESSION_TRACK 1<<23, OPTIONAL_RESULTSET_METADATA 1<<25, ZSTD 1<<26,
/// QUERY_ATTRIBUTES 1<<27, MULTI_FACTOR_AUTH 1<<28, CAPABILITY_EXTENSION 1<<29,
/// SSL_VERIFY 1<<30, REMEMBER_OPTIONS 1<<31) is removed.
pub const SUPPORTED: u32 = 0b1
    | 1 << 1 // FOUND_ROWS
    | 1 << 2 // LONG_FLAG
    | CLIENT_CONNECT_WITH_DB
    | 1 << 4 // NO_SCHEMA
    | 1 << 6 // ODBC
    | CLIENT_LOCAL_FILES
    | 1 << 8 // IGNORE_SPACE
    | CLIENT_PROTOCOL_41
    | 1 << 10 // INTERACTIVE
    | 1 << 12 // IGNORE_SIGPIPE
    | 1 << 13 // TRANSACTIONS
    | 1 << 14 // RESERVED
    | CLIENT_SECURE_CONNECTION
    | CLIENT_MULTI_STATEMENTS
    | 1 << 17 // MULTI_RESULTS
    | 1 << 18 // PS_MULTI_RESULTS
    | CLIENT_PLUGIN_AUTH
    | CLIENT_CONNECT_ATTRS
    | CLIENT_PLUGIN_AUTH_LENENC
    | 1 << 22 // CAN_HANDLE_EXPIRED_PASSWORDS
    | CLIENT_DEPRECATE_EOF;

/// Capabilities that change the bytes of results: part of every namespace, and a
/// client must not be given an origin that disagrees on them.
pub const STREAM_SHAPING: u32 = CLIENT_DEPRECATE_EOF | CLIENT_PROTOCOL_41 | 1 << 2;

/// The server's greeting (protocol version 10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    pub server_version: Vec<u8>,
    pub connection_id: u32,
    /// The scramble (auth plugin data), without the trailing NUL.
    pub scramble: Vec<u8>,
    pub capabilities: u32,
    pub charset: u8,
    pub status: u16,
    pub auth_plugin: Vec<u8>,
}

impl Greeting {
    pub fn parse(payload: &[u8]) -> Option<Greeting> {
        let mut r = Reader::new(payload);
        if r.u8()? != 10 {
            return None;
        }
        let server_version = r.cstr().to_vec();
        let connection_id = r.u32()?;
        let mut scramble = r.take(8)?.to_vec();
        r.u8()?;
        let low = u32::from(r.u16()?);
        let charset = r.u8().unwrap_or(0);
        let status = r.u16().unwrap_or(0);
        let high = u32::from(r.u16().unwrap_or(0));
        let capabilities = low | high << 16;
        let data_len = usize::from(r.u8().unwrap_or(0));
        r.take(10);
        if capabilities & CLIENT_SECURE_CONNECTION != 0 {
            let part2 = data_len.saturating_sub(8).max(13);
            let part = r.take(part2).unwrap_or_else(|| r.rest());
            scramble.extend_from_slice(part.strip_suffix(&[0]).unwrap_or(part));
        }
        let auth_plugin = r.cstr().to_vec();
        Some(Greeting {
            server_version,
            connection_id,
            scramble,
            capabilities,
            charset,
            status,
            auth_plugin,
        })
    }

    /// The greeting's payload, offering only `SUPPORTED` capabilities (and TLS if
    /// `tls`) and no MariaDB extended capabilities.
    pub fn build(&self, tls: bool) -> Vec<u8> {
        let caps = self.capabilities & SUPPORTED | if tls { CLIENT_SSL } else { 0 };
        let mut p = Vec::with_capacity(96);
        p.push(10);
        p.extend_from_slice(&self.server_version);
        p.push(0);
        p.extend_from_slice(&self.connection_id.to_le_bytes());
        let (part1, part2) = self.scramble.split_at(self.scramble.len().min(8));
        p.extend_from_slice(part1);
        p.push(0);
        p.extend_from_slice(&(caps as u16).to_le_bytes());
        p.push(self.charset);
        p.extend_from_slice(&self.status.to_le_bytes());
        p.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
        p.push(u8::try_from(self.scramble.len() + 1).unwrap_or(21));
        p.extend_from_slice(&[0; 10]);
        p.extend_from_slice(part2);
        p.push(0);
        p.extend_from_slice(&self.auth_plugin);
        p.push(0);
        p
    }
}

/// The client's HandshakeResponse41, or the body of COM_CHANGE_USER (same fields).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub capabilities: u32,
    pub max_packet: u32,
    pub charset: u8,
    pub user: Vec<u8>,
    pub auth: Vec<u8>,
    pub database: Option<Vec<u8>>,
    pub auth_plugin: Option<Vec<u8>>,
    /// Connection attributes as sent (the length-encoded block's content).
    pub attrs: Option<Vec<u8>>,
}

/// The auth response field, encoded as the capabilities say.
fn read_auth<'a>(r: &mut Reader<'a>, caps: u32) -> Option<&'a [u8]> {
    if caps & CLIENT_PLUGIN_AUTH_LENENC != 0 {
        let len = usize::try_from(r.lenenc()?).ok()?;
        r.take(len)
    } else if caps & CLIENT_SECURE_CONNECTION != 0 {
        let len = usize::from(r.u8()?);
        r.take(len)
    } else {
        Some(r.cstr())
    }
}

fn read_tail(r: &mut Reader<'_>, caps: u32, out: &mut Response) -> Option<()> {
    if caps & CLIENT_PLUGIN_AUTH != 0 && !r.rest().is_empty() {
        out.auth_plugin = Some(r.cstr().to_vec());
    }
    if caps & CLIENT_CONNECT_ATTRS != 0 && !r.rest().is_empty() {
        let len = usize::try_from(r.lenenc()?).ok()?;
        out.attrs = Some(r.take(len)?.to_vec());
    }
    Some(())
}

impl Response {
    /// Parses a HandshakeResponse41 payload. Protocol 320 clients are not supported.
    pub fn parse(payload: &[u8]) -> Option<Response> {
        let mut r = Reader::new(payload);
        let capabilities = r.u32()?;
        if capabilities & CLIENT_PROTOCOL_41 == 0 {
            return None;
        }
        let max_packet = r.u32()?;
        let charset = r.u8()?;
        r.take(23)?;
        let mut out = Response {
            capabilities,
            max_packet,
            charset,
            user: r.cstr().to_vec(),
            ..Response::default()
        };
        out.auth = read_auth(&mut r, capabilities)?.to_vec();
        if capabilities & CLIENT_CONNECT_WITH_DB != 0 && !r.rest().is_empty() {
            out.database = Some(r.cstr().to_vec());
        }
        read_tail(&mut r, capabilities, &mut out)?;
        Some(out)
    }

    /// Parses COM_CHANGE_USER's body (after the command byte); `caps` are the
    /// session's negotiated capabilities.
    pub fn parse_change_user(body: &[u8], caps: u32) -> Option<Response> {
        let mut r = Reader::new(body);
        let mut out = Response {
            capabilities: caps,
            user: r.cstr().to_vec(),
            ..Response::default()
        };
        out.auth = if caps & CLIENT_SECURE_CONNECTION != 0 {
            let len = usize::from(r.u8()?);
            r.take(len)?.to_vec()
        } else {
            r.cstr().to_vec()
        };
        out.database = Some(r.cstr().to_vec());
        if !r.rest().is_empty() {
            out.charset = r.take(2)?.first().copied().unwrap_or(0);
        }
        read_tail(&mut r, caps, &mut out)?;
        Some(out)
    }

    fn put_auth(&self, p: &mut Vec<u8>) {
        if self.capabilities & CLIENT_PLUGIN_AUTH_LENENC != 0 {
            put_lenenc(p, self.auth.len() as u64);
            p.extend_from_slice(&self.auth);
        } else if self.capabilities & CLIENT_SECURE_CONNECTION != 0 {
            let len = self.auth.len().min(255);
            p.push(len as u8);
            p.extend_from_slice(self.auth.get(..len).unwrap_or_default());
        } else {
            p.extend_from_slice(&self.auth);
            p.push(0);
        }
    }

    fn put_tail(&self, p: &mut Vec<u8>) {
        if self.capabilities & CLIENT_PLUGIN_AUTH != 0
            && let Some(plugin) = &self.auth_plugin
        {
            p.extend_from_slice(plugin);
            p.push(0);
        }
        if self.capabilities & CLIENT_CONNECT_ATTRS != 0
            && let Some(attrs) = &self.attrs
        {
            put_lenenc(p, attrs.len() as u64);
            p.extend_from_slice(attrs);
        }
    }

    /// The HandshakeResponse41 payload (no MariaDB extended capabilities).
    pub fn build(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(64 + self.auth.len());
        p.extend_from_slice(&self.capabilities.to_le_bytes());
        p.extend_from_slice(&self.max_packet.to_le_bytes());
        p.push(self.charset);
        p.extend_from_slice(&[0; 23]);
        p.extend_from_slice(&self.user);
        p.push(0);
        self.put_auth(&mut p);
        if self.capabilities & CLIENT_CONNECT_WITH_DB != 0 {
            p.extend_from_slice(self.database.as_deref().unwrap_or_default());
            p.push(0);
        }
        self.put_tail(&mut p);
        p
    }

    /// COM_CHANGE_USER's payload, command byte included.
    pub fn build_change_user(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(64 + self.auth.len());
        p.push(super::command::COM_CHANGE_USER);
        p.extend_from_slice(&self.user);
        p.push(0);
        let len = self.auth.len().min(255);
        p.push(len as u8);
        p.extend_from_slice(self.auth.get(..len).unwrap_or_default());
        p.extend_from_slice(self.database.as_deref().unwrap_or_default());
        p.push(0);
        p.extend_from_slice(&[self.charset, 0]);
        self.put_tail(&mut p);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greeting() -> Greeting {
        Greeting {
            server_version: b"5.5.5-10.11.19-MariaDB".to_vec(),
            connection_id: 7,
            scramble: b"abcdefghijklmnopqrst".to_vec(),
            capabilities: 0xF7FE_FFFF,
            charset: 45,
            status: 2,
            auth_plugin: b"mysql_native_password".to_vec(),
        }
    }

    #[test]
    fn greeting_round_trip_drops_unsupported_capabilities() {
        let g = greeting();
        let parsed = Greeting::parse(&g.build(false)).unwrap();
        assert_eq!(parsed.scramble, g.scramble);
        assert_eq!(parsed.auth_plugin, g.auth_plugin);
        assert_eq!(parsed.capabilities, g.capabilities & SUPPORTED);
        assert_eq!(parsed.capabilities & (1 << 11 | 1 << 5 | 1 << 27), 0);
        for cut in 0..20 {
            let _ = Greeting::parse(&g.build(false)[..cut]);
        }
    }

    #[test]
    fn response_round_trip() {
        let r = Response {
            capabilities: SUPPORTED,
            max_packet: 1 << 24,
            charset: 45,
            user: b"demo-root".to_vec(),
            auth: vec![1; 20],
            database: Some(b"shop".to_vec()),
            auth_plugin: Some(b"mysql_native_password".to_vec()),
            attrs: Some(vec![3, b'a', b'b', b'c', 1, b'x']),
        };
        let bytes = r.build();
        assert_eq!(Response::parse(&bytes), Some(r.clone()));
        for cut in 0..bytes.len() {
            let _ = Response::parse(&bytes[..cut]);
        }
        let cu = r.build_change_user();
        let parsed = Response::parse_change_user(&cu[1..], SUPPORTED).unwrap();
        assert_eq!(parsed.user, r.user);
        assert_eq!(parsed.database, r.database);
        assert_eq!(parsed.attrs, r.attrs);
        assert_eq!(parsed.charset, 45);
    }
}
