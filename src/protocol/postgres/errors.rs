//! The one place where session errors become PostgreSQL ErrorResponse messages.

use bytes::Bytes;

use super::messages::error_response;
use crate::protocol::SessionError;
pub use crate::protocol::Side;

/// PostgreSQL sessions end with the shared session errors.
pub type PgError = SessionError;

/// What a transaction-pooled client is told when it prepares more named statements
/// than a session may hold (`54000`, program_limit_exceeded; the session goes on).
pub fn statement_limit(max: usize) -> Bytes {
    let message = format!(
        "wirecache: a session under transaction pooling may hold at most {max} named prepared statements; close one before preparing another"
    );
    error_response("ERROR", "54000", &message)
}

/// The same when the text of its named statements would pass `max` bytes.
pub fn statement_text_limit(max: usize) -> Bytes {
    let message = format!(
        "wirecache: a session under transaction pooling may hold at most {} MiB of named prepared statement text; close one before preparing another",
        max >> 20
    );
    error_response("ERROR", "54000", &message)
}

/// The ErrorResponse the client gets for `e`, if it can still get one.
pub fn to_wire(e: &PgError) -> Option<Bytes> {
    let (code, severity) = match e {
        PgError::Framing { .. } | PgError::Client(_) => ("08P01", "FATAL"),
        PgError::TooLarge { .. } => ("54000", "FATAL"),
        PgError::UnknownCache(_) | PgError::TlsRequired | PgError::CleartextPassword(_) => {
            ("28000", "FATAL")
        }
        PgError::OriginTls { .. } => ("08006", "FATAL"),
        PgError::Unsupported(_) => ("0A000", "FATAL"),
        PgError::OriginConnect { .. } => ("08006", "FATAL"),
        PgError::Origin(_) => ("08P01", "FATAL"),
        // What PostgreSQL itself sends when an administrator shuts it down.
        PgError::ShuttingDown => ("57P01", "FATAL"),
        // PostgreSQL's too_many_connections and idle_session_timeout.
        PgError::TooManyConnections(_) => ("53300", "FATAL"),
        PgError::IdleTimeout => ("57P05", "FATAL"),
        // As a connection lost at commit: the client cannot know the outcome.
        PgError::BusUnavailable => ("08006", "FATAL"),
        // "cannot_connect_now": what PostgreSQL itself answers while it cannot serve
        // (starting up, shutting down, in recovery): retry later. An ERROR, not
        // FATAL: the session stays open for what the cache holds.
        PgError::OriginUnavailable => ("57P03", "ERROR"),
        // "query_canceled", as PostgreSQL's own statement_timeout; the session ends.
        PgError::QueryTimeout(_) => ("57014", "FATAL"),
        PgError::OriginBack
        | PgError::Closed(Side::Origin)
        | PgError::Io {
            side: Side::Origin, ..
        } => ("08006", "FATAL"),
        PgError::AuthRejected
        | PgError::Closed(Side::Client)
        | PgError::Io {
            side: Side::Client, ..
        } => {
            return None;
        }
    };
    Some(error_response(severity, code, &format!("wirecache: {e}")))
}
