//! MySQL-side errors, which side caused them, and their one mapping to the wire: an
//! ERR packet (`0xFF`, error code, `#` SQLSTATE, message). Origin errors are relayed
//! byte for byte and never pass through here.

use bytes::Bytes;

use super::codec;

use crate::protocol::SessionError;
pub use crate::protocol::Side;

/// MySQL sessions end with the shared session errors.
pub type MyError = SessionError;

/// ER_NET_PACKET_TOO_LARGE.
pub const ER_NET_PACKET_TOO_LARGE: u16 = 1153;
/// ER_ACCESS_DENIED_ERROR.
pub const ER_ACCESS_DENIED: u16 = 1045;
/// ER_HANDSHAKE_ERROR ("Bad handshake").
pub const ER_HANDSHAKE: u16 = 1043;
/// ER_NOT_SUPPORTED_YET.
pub const ER_NOT_SUPPORTED: u16 = 1235;
/// ER_CONNECT_TO_FOREIGN_DATA_SOURCE ("Unable to connect to foreign data source"), for
/// an origin that cannot be reached or refuses the TLS its cache asks for. A client
/// library's own codes (2000-2999, such as 2003) must not come from a server: libmariadb
/// reports such an ERR during login as a malformed packet.
pub const ER_ORIGIN_UNREACHABLE: u16 = 1429;
/// ER_SERVER_SHUTDOWN ("Server shutdown in progress").
pub const ER_SERVER_SHUTDOWN: u16 = 1053;
/// ER_QUERY_TIMEOUT ("maximum statement execution time exceeded"), MySQL's own for
/// `max_execution_time`.
pub const ER_QUERY_TIMEOUT: u16 = 3024;
/// ER_NET_READ_ERROR, used for an origin that broke the protocol or vanished.
pub const ER_ORIGIN_FAILED: u16 = 1158;
/// ER_CON_COUNT_ERROR ("Too many connections").
pub const ER_CON_COUNT: u16 = 1040;
/// ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8.0.24+, sent before closing an idle client).
pub const ER_CLIENT_INTERACTION_TIMEOUT: u16 = 4031;
/// ER_SECURE_TRANSPORT_REQUIRED (MySQL's `require_secure_transport`).
pub const ER_SECURE_TRANSPORT_REQUIRED: u16 = 3159;

/// The ERR packet (with sequence id `seq`) the client gets for `e`, if it can still
/// get one.
pub fn to_wire(e: &MyError, seq: u8) -> Option<Bytes> {
    let (code, state) = match e {
        MyError::Client(_) | MyError::Framing { .. } => (ER_HANDSHAKE, "08S01"),
        MyError::TooLarge { .. } => (ER_NET_PACKET_TOO_LARGE, "08S01"),
        MyError::UnknownCache(_) | MyError::CleartextPassword(_) => (ER_ACCESS_DENIED, "28000"),
        MyError::TlsRequired => (ER_SECURE_TRANSPORT_REQUIRED, "HY000"),
        MyError::OriginTls { .. } => (ER_ORIGIN_UNREACHABLE, "HY000"),
        MyError::Unsupported(_) => (ER_NOT_SUPPORTED, "42000"),
        // SQLSTATE class 08 (connection exception): connectors and pools treat it as
        // a connection failure worth retrying, where HY000 says nothing.
        MyError::OriginConnect { .. } => (ER_ORIGIN_UNREACHABLE, "08S01"),
        // What a MySQL server going down answers; SQLSTATE class 08 (connection
        // exception) is what connectors and pools treat as "retry".
        MyError::ShuttingDown | MyError::OriginUnavailable => (ER_SERVER_SHUTDOWN, "08S01"),
        MyError::QueryTimeout(_) => (ER_QUERY_TIMEOUT, "HY000"),
        MyError::BusUnavailable => (ER_ORIGIN_FAILED, "08S01"),
        MyError::TooManyConnections(_) => (ER_CON_COUNT, "08004"),
        MyError::IdleTimeout => (ER_CLIENT_INTERACTION_TIMEOUT, "HY000"),
        MyError::Origin(_)
        | MyError::OriginBack
        | MyError::Closed(Side::Origin)
        | MyError::Io {
            side: Side::Origin, ..
        } => (ER_ORIGIN_FAILED, "08S01"),
        MyError::AuthRejected
        | MyError::Closed(Side::Client)
        | MyError::Io {
            side: Side::Client, ..
        } => return None,
    };
    Some(err_packet(seq, code, state, &format!("wirecache: {e}")))
}

/// An ERR packet.
pub fn err_packet(seq: u8, code: u16, state: &str, message: &str) -> Bytes {
    let mut p = Vec::with_capacity(9 + message.len());
    p.push(0xFF);
    p.extend_from_slice(&code.to_le_bytes());
    p.push(b'#');
    p.extend_from_slice(state.as_bytes().get(..5).unwrap_or(b"HY000"));
    p.extend_from_slice(message.as_bytes());
    codec::packet(seq, &p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_cache_is_access_denied() {
        let e = MyError::UnknownCache("no cache matches user name \"x\"".into());
        let w = to_wire(&e, 2).unwrap();
        assert_eq!(w[3], 2);
        assert_eq!(&w[4..7], &[0xFF, 0x15, 0x04]);
        assert_eq!(&w[7..13], b"#28000");
        assert!(String::from_utf8_lossy(&w[13..]).contains("no cache matches"));
        assert!(to_wire(&MyError::AuthRejected, 1).is_none());
    }
}
