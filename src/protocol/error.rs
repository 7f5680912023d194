//! The errors a proxied session can end with, and which side caused them. Each protocol
//! turns them into its own wire error in exactly one place (`postgres::errors`,
//! `mysql::errors`); errors from the origin are relayed byte for byte instead.

use super::pipes::{IoFailure, Side};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("client protocol violation: {0}")]
    Framing(&'static str),
    #[error("message of {len} bytes (tag {tag}) exceeds the limit")]
    TooLarge { tag: u8, len: usize },
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
    #[error("connection closed by the {0}")]
    Closed(Side),
    #[error("the proxy is shutting down")]
    ShuttingDown,
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
