//! Admission of client sessions: the total over every listener
//! (`cache.max_connections`) and each cache's own (`limits.cache_connections`). A
//! client past a limit waits in a bounded queue (`limits.queue`) for at most
//! `limits.queue_timeout`, then is refused with its protocol's "too many connections"
//! error (PostgreSQL 53300, MySQL 1040). A session holds its places until it ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Config;
use crate::engine::CacheCtx;
use crate::stats::Refusal;

/// One limit: places, and a bounded queue of clients waiting for one.
pub struct Gate {
    places: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
    timeout: Duration,
}

impl Gate {
    pub fn new(places: usize, queue: usize, timeout: Duration) -> Self {
        Gate {
            places: Arc::new(Semaphore::new(places)),
            waiting: AtomicUsize::new(0),
            queue,
            timeout,
        }
    }

    /// Clients waiting for a place now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// A place, at once or after waiting in the queue; `on_wait(±1)` follows the
    /// queue's length (a metric).
    pub async fn enter(&self, on_wait: impl Fn(i64)) -> Result<OwnedSemaphorePermit, Refusal> {
        if let Ok(p) = self.places.clone().try_acquire_owned() {
            return Ok(p);
        }
        let queued = self.waiting.fetch_add(1, Ordering::Relaxed);
        if queued >= self.queue {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(Refusal::QueueFull);
        }
        on_wait(1);
        let acquired = tokio::time::timeout(self.timeout, self.places.clone().acquire_owned());
        let place = acquired.await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        on_wait(-1);
        match place {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(_)) | Err(_) => Err(Refusal::QueueTimeout),
        }
    }
}

/// Every gate of the process.
pub struct Admission {
    total: Gate,
    per_cache: HashMap<String, Gate>,
    idle: Option<Duration>,
}

/// The places a session holds until it ends, and how long it may idle.
pub struct Admitted {
    _total: OwnedSemaphorePermit,
    _cache: Option<OwnedSemaphorePermit>,
    pub idle_timeout: Option<Duration>,
}

impl Admission {
    pub fn new(config: &Config) -> Self {
        let l = &config.limits;
        let gate = |places| Gate::new(places, l.queue, l.queue_timeout);
        let per_cache = match l.cache_connections {
            Some(n) => config
                .caches
                .iter()
                .map(|c| (c.id.clone(), gate(n)))
                .collect(),
            None => HashMap::new(),
        };
        Admission {
            total: gate(config.cache.max_connections),
            per_cache,
            idle: Some(l.idle_timeout).filter(|d| !d.is_zero()),
        }
    }

    /// Places for a session of `cache`: the total, then the cache's own. A refusal is
    /// counted on the cache.
    pub async fn admit(&self, cache: &CacheCtx) -> Result<Admitted, Refusal> {
        let m = &cache.metrics;
        let on_wait = |d: i64| {
            m.connection_queue.fetch_add(d, Ordering::Relaxed);
        };
        let result = async {
            let total = self.total.enter(on_wait).await?;
            let own = match self.per_cache.get(&cache.id) {
                Some(gate) => Some(gate.enter(on_wait).await?),
                None => None,
            };
            Ok(Admitted {
                _total: total,
                _cache: own,
                idle_timeout: self.idle,
            })
        }
        .await;
        if let Err(r) = &result {
            m.refused(*r);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_gate_queues_then_refuses() {
        let gate = Gate::new(1, 1, Duration::from_secs(60));
        let first = gate.enter(|_| {}).await.unwrap();
        // The queue holds one waiter; the next is refused at once.
        let waiter = gate.enter(|_| {});
        tokio::pin!(waiter);
        assert!(futures_poll(&mut waiter).await.is_none());
        assert_eq!(gate.waiting(), 1);
        assert_eq!(gate.enter(|_| {}).await.err(), Some(Refusal::QueueFull));
        // A place freed within the timeout goes to the waiter.
        drop(first);
        assert!(waiter.await.is_ok());
        assert_eq!(gate.waiting(), 0);
    }

    #[tokio::test]
    async fn a_waiter_is_refused_after_the_timeout() {
        let gate = Gate::new(1, 4, Duration::from_millis(100));
        let _first = gate.enter(|_| {}).await.unwrap();
        let started = std::time::Instant::now();
        assert_eq!(gate.enter(|_| {}).await.err(), Some(Refusal::QueueTimeout));
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert_eq!(gate.waiting(), 0);
    }

    #[tokio::test]
    async fn a_zero_queue_never_waits() {
        let gate = Gate::new(1, 0, Duration::from_secs(60));
        let _first = gate.enter(|_| {}).await.unwrap();
        assert_eq!(gate.enter(|_| {}).await.err(), Some(Refusal::QueueFull));
    }

    /// Polls a future once.
    async fn futures_poll<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
        tokio::select! {
            biased;
            out = f => Some(out),
            () = std::future::ready(()) => None,
        }
    }
}
