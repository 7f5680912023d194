//! Opening a cache's origin connection, the same for every protocol: TCP within the
//! cache's `origin_connect_timeout`, Nagle off, and a failure counted and named.

use std::io::{Error, ErrorKind};

use tokio::net::TcpStream;

use super::SessionError;
use crate::engine::CacheCtx;

/// Connects to `cache`'s origin; a refusal or timeout counts in
/// `origin_connect_errors`.
pub async fn connect_tcp(cache: &CacheCtx) -> Result<TcpStream, SessionError> {
    let connect = tokio::time::timeout(cache.connect_timeout, TcpStream::connect(&cache.origin));
    let connected = connect
        .await
        .unwrap_or_else(|_| Err(Error::new(ErrorKind::TimedOut, "connect timed out")));
    let tcp = connected.map_err(|source| {
        cache
            .metrics
            .origin_connect_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        SessionError::OriginConnect {
            origin: cache.origin.clone(),
            source,
        }
    })?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// An origin that accepted the connection but did not send `what` in time.
pub fn silent(cache: &CacheCtx, what: &'static str) -> SessionError {
    SessionError::OriginConnect {
        origin: cache.origin.clone(),
        source: Error::new(ErrorKind::TimedOut, what),
    }
}
