//! The few PostgreSQL messages the proxy builds or looks inside. Parsers take a
//! message body and return `None` on anything malformed; they never panic.

use bytes::{BufMut, Bytes, BytesMut};

pub const SSL_REQUEST: i32 = 80877103;
pub const GSSENC_REQUEST: i32 = 80877104;
pub const CANCEL_REQUEST: i32 = 80877102;
pub const PROTOCOL_3: i32 = 196608;

pub const PARSE_COMPLETE: [u8; 5] = [b'1', 0, 0, 0, 4];
pub const BIND_COMPLETE: [u8; 5] = [b'2', 0, 0, 0, 4];

/// A reader over a message body.
pub struct Body<'a> {
    rest: &'a [u8],
}

impl<'a> Body<'a> {
    pub fn new(body: &'a [u8]) -> Self {
        Self { rest: body }
    }

    /// A NUL-terminated string (without the NUL).
    pub fn cstr(&mut self) -> Option<&'a [u8]> {
        let end = self.rest.iter().position(|b| *b == 0)?;
        let (s, rest) = self.rest.split_at(end);
        self.rest = rest.get(1..)?;
        Some(s)
    }

    pub fn utf8(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.cstr()?).ok()
    }

    pub fn u8(&mut self) -> Option<u8> {
        let (b, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(*b)
    }

    pub fn i16(&mut self) -> Option<i16> {
        let b = self.take(2)?;
        Some(i16::from_be_bytes([b[0], b[1]]))
    }

    pub fn i32(&mut self) -> Option<i32> {
        let b = self.take(4)?;
        Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.rest.len() < n {
            return None;
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        Some(a)
    }

    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }
}

/// Terminate, as a client ends its session.
pub const TERMINATE: &[u8] = &[b'X', 0, 0, 0, 4];

/// Appends one tagged message with `body` to `out`.
pub fn put_message(out: &mut BytesMut, tag: u8, body: &[u8]) {
    out.put_u8(tag);
    out.put_i32(i32::try_from(body.len() + 4).unwrap_or(i32::MAX));
    out.put_slice(body);
}

pub fn ready_for_query(status: u8) -> [u8; 6] {
    [b'Z', 0, 0, 0, 5, status]
}

/// An ErrorResponse with severity, SQLSTATE and message.
pub fn error_response(severity: &str, code: &str, message: &str) -> Bytes {
    let mut body = BytesMut::new();
    for (field, value) in [
        (b'S', severity),
        (b'V', severity),
        (b'C', code),
        (b'M', message),
    ] {
        body.put_u8(field);
        body.put_slice(value.as_bytes());
        body.put_u8(0);
    }
    body.put_u8(0);
    let mut out = BytesMut::with_capacity(body.len() + 5);
    put_message(&mut out, b'E', &body);
    out.freeze()
}

/// A simple query: `Q` with the SQL text.
pub fn query(sql: &str) -> Bytes {
    let mut body = Vec::with_capacity(sql.len() + 1);
    body.extend_from_slice(sql.as_bytes());
    body.push(0);
    let mut out = BytesMut::with_capacity(body.len() + 5);
    put_message(&mut out, b'Q', &body);
    out.freeze()
}

/// The parameters of a StartupMessage body (after the protocol version).
pub fn startup_params(body: &[u8]) -> Option<Vec<(String, String)>> {
    let mut b = Body::new(body);
    let mut params = Vec::new();
    loop {
        let key = b.utf8()?;
        if key.is_empty() {
            return Some(params);
        }
        let value = b.utf8()?;
        params.push((key.to_string(), value.to_string()));
    }
}

/// Encodes a StartupMessage packet (untagged) with the given parameters.
/// SSLRequest: asks a server for TLS before the StartupMessage.
pub fn ssl_request() -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&8i32.to_be_bytes());
    out[4..].copy_from_slice(&SSL_REQUEST.to_be_bytes());
    out
}

pub fn startup_message(params: &[(String, String)]) -> Bytes {
    let mut body = BytesMut::new();
    body.put_i32(PROTOCOL_3);
    for (k, v) in params {
        body.put_slice(k.as_bytes());
        body.put_u8(0);
        body.put_slice(v.as_bytes());
        body.put_u8(0);
    }
    body.put_u8(0);
    let mut out = BytesMut::with_capacity(body.len() + 4);
    out.put_i32(i32::try_from(body.len() + 4).unwrap_or(i32::MAX));
    out.put_slice(&body);
    out.freeze()
}

/// Rewrites an AuthenticationSASL body, dropping `-PLUS` mechanisms (channel binding
/// cannot survive a proxy that ends the client's TLS). Returns the new whole message.
pub fn sasl_without_plus(body: &[u8]) -> Option<Bytes> {
    let mut b = Body::new(body);
    let code = b.i32()?;
    let mut out_body = BytesMut::new();
    out_body.put_i32(code);
    loop {
        let mech = b.cstr()?;
        if mech.is_empty() {
            break;
        }
        if !mech.ends_with(b"-PLUS") {
            out_body.put_slice(mech);
            out_body.put_u8(0);
        }
    }
    out_body.put_u8(0);
    let mut out = BytesMut::new();
    put_message(&mut out, b'R', &out_body);
    Some(out.freeze())
}

/// Parse: (statement name, SQL, parameter type bytes).
pub fn parse_parse(body: &[u8]) -> Option<(&[u8], &str, &[u8])> {
    let mut b = Body::new(body);
    let name = b.cstr()?;
    let sql = b.utf8()?;
    Some((name, sql, b.rest()))
}

/// Bind: (portal, statement, the rest: formats, values, result formats).
pub fn parse_bind(body: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let mut b = Body::new(body);
    let portal = b.cstr()?;
    let stmt = b.cstr()?;
    Some((portal, stmt, b.rest()))
}

/// Execute: (portal, row limit).
pub fn parse_execute(body: &[u8]) -> Option<(&[u8], i32)> {
    let mut b = Body::new(body);
    let portal = b.cstr()?;
    Some((portal, b.i32()?))
}

/// Describe or Close: (`S` or `P`, name).
pub fn parse_target(body: &[u8]) -> Option<(u8, &[u8])> {
    let mut b = Body::new(body);
    let kind = b.u8()?;
    Some((kind, b.cstr()?))
}

/// ParameterStatus: (name, value).
pub fn parse_parameter_status(body: &[u8]) -> Option<(&str, &str)> {
    let mut b = Body::new(body);
    Some((b.utf8()?, b.utf8()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_round_trip() {
        let params = vec![
            ("user".to_string(), "a".to_string()),
            ("database".to_string(), "d".to_string()),
        ];
        let packet = startup_message(&params);
        assert_eq!(startup_params(&packet[8..]).unwrap(), params);
        assert!(startup_params(b"user\0a").is_none());
    }

    #[test]
    fn sasl_plus_hidden() {
        let mut body = 10i32.to_be_bytes().to_vec();
        body.extend_from_slice(b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0");
        let msg = sasl_without_plus(&body).unwrap();
        assert_eq!(&msg[5..], b"\0\0\0\x0aSCRAM-SHA-256\0\0");
        assert!(sasl_without_plus(b"\0\0\0\x0aSCRAM").is_none());
    }

    #[test]
    fn malformed_bodies_are_none() {
        assert!(parse_bind(b"p\0s").is_none());
        assert!(parse_execute(b"p\0\0\0").is_none());
        assert!(parse_target(b"").is_none());
        assert!(parse_parse(b"\0sel\xff\0").is_none());
        assert_eq!(parse_execute(b"\0\0\0\0\x05"), Some((&b""[..], 5)));
    }
}
