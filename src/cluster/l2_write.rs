//! The shared result tier's writer: one task that connects the tier's own Redis
//! connection (with backoff) and sends the queue of results stored locally, in
//! pipelines of up to [`BATCH`] `SET … PX` commands, until the cluster is dropped.
//! A batch Redis refuses or does not take in time is dropped and counted: the tier
//! is a cache, nothing depends on a write arriving.

use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::aio::ConnectionManagerConfig;
use tokio::sync::mpsc;

use super::Cluster;
use super::l2::{L2, Write};
use super::l2_codec;
use super::l2_figures::{L2Drop, L2Error};

/// Most writes sent in one pipeline.
const BATCH: usize = 32;
/// How long connecting, or a batch of writes, may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Connects the tier and sends its queue until the cluster is dropped.
pub(super) async fn run(c: Weak<Cluster>, mut rx: mpsc::Receiver<Write>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some(cl) = c.upgrade() else { return };
        let Some(l2) = cl.l2.as_ref() else { return };
        if l2.connection().is_some() {
            break;
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(WRITE_TIMEOUT))
            .set_response_timeout(Some(WRITE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(MAX_BACKOFF);
        let made = cl.client.get_connection_manager_with_config(config);
        if let Ok(Ok(conn)) = tokio::time::timeout(WRITE_TIMEOUT, made).await {
            *l2.conn.write().unwrap_or_else(|e| e.into_inner()) = Some(conn);
            break;
        }
        drop(cl);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let Some(cl) = c.upgrade() else { return };
        if let Some(l2) = cl.l2.as_ref() {
            send(l2, &mut batch).await;
        }
    }
}

/// Sends one batch of writes in one pipeline.
async fn send(l2: &L2, batch: &mut Vec<Write>) {
    let mut pipe = redis::pipe();
    let mut n = 0;
    for w in batch.drain(..) {
        l2.queued_bytes.fetch_sub(w.bytes(), Ordering::Relaxed);
        l2.figures.queued.fetch_sub(1, Ordering::Relaxed);
        let Some(value) = l2_codec::encode(&w.key, &w.stamp, &w.payload) else {
            l2.figures.dropped(L2Drop::TooLarge);
            continue;
        };
        let ms = u64::try_from(w.ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        pipe.cmd("SET")
            .arg(l2.redis_key(&w.key))
            .arg(value)
            .arg("PX")
            .arg(ms)
            .ignore();
        n += 1;
    }
    let Some(mut conn) = l2.connection().filter(|_| n > 0) else {
        return;
    };
    let sent = pipe.query_async::<()>(&mut conn);
    match tokio::time::timeout(WRITE_TIMEOUT, sent).await {
        Ok(Ok(())) => {
            l2.figures.writes.fetch_add(n, Ordering::Relaxed);
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "cluster: shared tier write failed");
            l2.figures.error(L2Error::WriteFailed);
            for _ in 0..n {
                l2.figures.dropped(L2Drop::Failed);
            }
        }
        Err(_) => {
            l2.figures.error(L2Error::WriteTimeout);
            for _ in 0..n {
                l2.figures.dropped(L2Drop::Failed);
            }
        }
    }
}
