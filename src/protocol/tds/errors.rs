//! The one place a session's errors become TDS: an ERROR token and a DONE marked as
//! an error, in a tabular-result message. Errors from the origin are relayed byte for
//! byte instead.

use bytes::{BufMut, Bytes, BytesMut};

use super::codec::{self, Kind};
use super::tokens::{DONE_ERROR, DONE_SRVERROR};
use super::types::to_utf16;
use crate::protocol::SessionError;

pub type TdsError = SessionError;

/// SQL Server's "Login failed" error number.
pub const LOGIN_FAILED: i32 = 18456;
/// A general error number for failures of wirecache itself.
const GENERAL: i32 = 50000;
/// Severity of a login failure, and of a failure that ends the connection.
const CLASS_LOGIN: u8 = 14;
const CLASS_FATAL: u8 = 20;

/// An ERROR token (MS-TDS 2.2.7.10); `narrow`: TDS 7.0/7.1, whose line number is two
/// bytes, not four.
pub fn error_token(out: &mut BytesMut, number: i32, class: u8, text: &str, narrow: bool) {
    let msg = to_utf16(text);
    let msg_units = u16::try_from(msg.len() / 2).unwrap_or(u16::MAX);
    let msg = msg.get(..usize::from(msg_units) * 2).unwrap_or_default();
    let server = to_utf16("wirecache");
    let line = if narrow { 2 } else { 4 };
    let body = 4 + 1 + 1 + 2 + msg.len() + 1 + server.len() + 1 + line;
    out.put_u8(0xAA);
    out.put_u16_le(u16::try_from(body).unwrap_or(u16::MAX));
    out.put_i32_le(number);
    out.put_u8(1);
    out.put_u8(class);
    out.put_u16_le(msg_units);
    out.put_slice(msg);
    out.put_u8(u8::try_from(server.len() / 2).unwrap_or(0));
    out.put_slice(&server);
    out.put_u8(0);
    out.put_bytes(0, line);
}

/// A DONE token with `status` (its row count four bytes wide when `narrow`).
pub fn done_token(out: &mut BytesMut, status: u16, narrow: bool) {
    out.put_u8(0xFD);
    out.put_u16_le(status);
    out.put_u16_le(0);
    out.put_bytes(0, if narrow { 4 } else { 8 });
}

/// A whole tabular-result message reporting `text` as an error.
pub fn error_message(number: i32, class: u8, text: &str, narrow: bool) -> Bytes {
    let mut tokens = BytesMut::new();
    error_token(&mut tokens, number, class, text, narrow);
    done_token(&mut tokens, DONE_ERROR | DONE_SRVERROR, narrow);
    codec::message(Kind::TabularResult, &tokens, codec::DEFAULT_PACKET)
}

/// What a client is told when its session fails with `e`: an origin that cannot be
/// reached at login as 40613 (not available, retry), other login errors as "Login
/// failed", the rest as a fatal error, for a client of `tds_version`. Origin errors
/// were relayed already.
pub fn to_wire(e: &SessionError, login: bool, tds_version: u32) -> Option<Bytes> {
    let narrow = tds_version < super::login::TDS_72;
    let text = match e {
        SessionError::Closed(_) | SessionError::ShuttingDown | SessionError::Io { .. } => {
            return None;
        }
        SessionError::AuthRejected => return None,
        other => format!("wirecache: {other}"),
    };
    let unreachable = matches!(
        e,
        SessionError::OriginConnect { .. } | SessionError::OriginTls { .. }
    );
    Some(if login && unreachable {
        // Transient for SqlClient and Entity Framework: retried, not a bad password.
        error_message(super::offline::UNAVAILABLE, CLASS_LOGIN, &text, narrow)
    } else if login {
        error_message(LOGIN_FAILED, CLASS_LOGIN, &text, narrow)
    } else {
        error_message(GENERAL, CLASS_FATAL, &text, narrow)
    })
}
