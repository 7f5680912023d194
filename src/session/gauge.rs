//! What marks one live session: its connection gauges (counted when it starts, given
//! back when it ends, however it ends) and its tracing span (every log line of the
//! session names its protocol, cache and peer).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use crate::config::Protocol;
use crate::engine::CacheCtx;

/// The span a session's log lines are recorded in.
pub fn span(
    protocol: Protocol,
    cache: &CacheCtx,
    peer: Option<std::net::SocketAddr>,
) -> tracing::Span {
    let peer = peer.map(|p| p.to_string()).unwrap_or_default();
    tracing::info_span!("session", protocol = protocol.as_str(), cache = %cache.id, peer)
}

/// Holds one client connection and one origin connection in the cache's gauges.
pub struct Gauge {
    cache: Arc<CacheCtx>,
}

impl Gauge {
    pub fn open(cache: &Arc<CacheCtx>) -> Gauge {
        let m = &cache.metrics;
        m.client_connections.fetch_add(1, Relaxed);
        m.client_connections_total.fetch_add(1, Relaxed);
        m.origin_connections.fetch_add(1, Relaxed);
        Gauge {
            cache: cache.clone(),
        }
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        let m = &self.cache.metrics;
        m.client_connections.fetch_sub(1, Relaxed);
        m.origin_connections.fetch_sub(1, Relaxed);
    }
}
