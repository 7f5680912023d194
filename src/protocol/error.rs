//! The errors a proxied session can end with, and which side caused them. Each protocol
//! turns them into its own wire error in exactly one place (`postgres::errors`,
//! `mysql::errors`, `tds::errors`); errors from the origin are relayed byte for byte instead.

use super::pipes::{IoFailure, Side};
use crate::stats::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Bytes that do not frame as the protocol says, and whose they were.
    #[error("{side} protocol violation: {what}")]
    Framing { side: Side, what: &'static str },
    #[error("message of {len} bytes (tag {tag}) from the {side} exceeds the limit")]
    TooLarge { side: Side, tag: u8, len: usize },
    #[error("client sent an invalid message: {0}")]
    Client(&'static str),
    #[error("{0}")]
    UnknownCache(String),
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    #[error("origin {origin} unreachable: {source}")]
    OriginConnect {
        origin: String,
        source: std::io::Error,
    },
    #[error("origin protocol violation: {0}")]
    Origin(&'static str),
    #[error("the origin refused the login")]
    AuthRejected,
    /// `tls.client = "require"` and the client did not start TLS.
    #[error(
        "this wirecache requires TLS (tls.client = \"require\"): connect with TLS (PostgreSQL sslmode=require, MySQL --ssl, SQL Server Encrypt=true)"
    )]
    TlsRequired,
    /// A password wirecache must see in clear, over a connection without TLS.
    #[error(
        "the origin asks for a password wirecache must see in clear ({0}), and this connection is not encrypted: connect with TLS (sslmode=require), or set tls.allow_cleartext_passwords = true (unsafe: the password crosses the network in clear)"
    )]
    CleartextPassword(&'static str),
    /// The origin's TLS could not be set up as the cache's `tls` mode requires.
    #[error("TLS to origin {origin} ({mode}): {reason}")]
    OriginTls {
        origin: String,
        mode: &'static str,
        reason: String,
    },
    #[error("connection closed by the {0}")]
    Closed(Side),
    /// Strict cluster mode: a write reached the origin but its invalidation could not
    /// be recorded on the cluster bus in time, so its acknowledgement is withheld.
    #[error(
        "the cluster bus (Redis) did not record this write's invalidation in time; the write reached the origin and its outcome is unknown to this connection"
    )]
    BusUnavailable,
    /// A request that needs the origin, in a session whose origin connection was lost:
    /// the session stays open and answers what the cache holds.
    #[error(
        "the origin is unavailable (this session's connection to it was lost): only cached reads are answered; retry later"
    )]
    OriginUnavailable,
    /// A session that went on without its origin ends once the origin is reachable
    /// again, so that the client logs in anew.
    #[error("the connection to the origin was lost and the origin is reachable again: reconnect")]
    OriginBack,
    /// An origin query ran past `query_timeout` and was cancelled.
    #[error("the query ran longer than query_timeout ({0:?}) and was cancelled")]
    QueryTimeout(std::time::Duration),
    #[error("the proxy is shutting down")]
    ShuttingDown,
    /// No place for this session within `cache.max_connections` or the cache's
    /// `limits.cache_connections`, and the queue was full or the wait timed out.
    #[error("too many connections ({})", .0.as_str())]
    TooManyConnections(Refusal),
    /// The client was idle past `limits.idle_timeout`.
    #[error("closed after limits.idle_timeout without a request")]
    IdleTimeout,
    #[error("i/o error on the {side} connection: {source}")]
    Io { side: Side, source: std::io::Error },
}

impl From<IoFailure> for SessionError {
    fn from(f: IoFailure) -> Self {
        SessionError::Io {
            side: f.side,
            source: f.source,
        }
    }
}

impl SessionError {
    /// Maps an I/O error on `side` (for `map_err`).
    pub fn io(side: Side) -> impl FnOnce(std::io::Error) -> SessionError {
        move |source| SessionError::Io { side, source }
    }
}
