//! CancelRequests to the origin: a client's own (forwarded to the backend whose key it
//! names) and wirecache's, for a query past `query_timeout` or one a client left
//! running when it went away. A CancelRequest is its own short connection carrying the
//! backend's key; the origin answers it with nothing, and the cancelled query's own
//! error (57014) arrives on the session's connection.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::errors::{PgError, Side};
use super::messages;
use super::session::Session;
use crate::engine::CacheCtx;
use crate::session::Overdue;

/// The backend a session's origin connection runs on: where to send its cancel.
#[derive(Clone)]
pub struct CancelTarget {
    pub cache: Arc<CacheCtx>,
    pub key: Bytes,
}

/// Sends a CancelRequest for backend `key` to `origin`, within `timeout`.
pub async fn send(origin: &str, key: &[u8], timeout: Duration) -> Result<(), PgError> {
    let mut packet = BytesMut::with_capacity(16);
    let len = i32::try_from(8 + key.len()).unwrap_or(i32::MAX);
    packet.extend_from_slice(&len.to_be_bytes());
    packet.extend_from_slice(&messages::CANCEL_REQUEST.to_be_bytes());
    packet.extend_from_slice(key);
    let fail = |source| PgError::OriginConnect {
        origin: origin.to_owned(),
        source,
    };
    let connect = tokio::time::timeout(timeout, TcpStream::connect(origin)).await;
    let mut conn = connect
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
        .map_err(fail)?;
    conn.write_all(&packet)
        .await
        .map_err(PgError::io(Side::Origin))?;
    Ok(())
}

impl CancelTarget {
    /// Sends the cancel in the background: the session goes on reading its origin,
    /// whose answer to the cancelled query ends it.
    fn spawn(&self) {
        let target = self.clone();
        target
            .cache
            .metrics
            .cancellations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::spawn(async move {
            let (cache, key) = (&target.cache, &target.key);
            if let Err(e) = send(&cache.origin, key, cache.connect_timeout).await {
                tracing::debug!(cache = %cache.id, error = %e, "cancel request failed");
            }
        });
    }
}

impl Session {
    /// `query_timeout` passed for the oldest owed answer: cancel the origin query
    /// (once), then give up on the session.
    pub fn overdue(&mut self) -> Result<(), PgError> {
        if self.core.overdue()? == Overdue::Cancel {
            match self.cancel_target() {
                Some(target) => target.spawn(),
                // No key from the origin: nothing to cancel with.
                None => return Err(PgError::QueryTimeout(self.core.cache().query_timeout)),
            }
        }
        Ok(())
    }

    /// The client went away: a query it left running at the origin is cancelled
    /// (the origin connection is then closed with the session, never reused).
    pub fn cancel_left_behind(&mut self) {
        if !self.core.idle()
            && let Some(target) = self.cancel_target()
        {
            target.spawn();
        }
    }

    /// Where a cancel for this session's query goes now: under transaction pooling,
    /// the backend leased at the moment (none between transactions).
    fn cancel_target(&mut self) -> Option<CancelTarget> {
        let key = self.backend_key()?;
        let cache = self.cancel.as_ref()?.cache.clone();
        Some(CancelTarget { cache, key })
    }
}
