//! Pools of authenticated origin connections, whatever their protocol: one [`Pool`]
//! per (cache, origin user, database), holding at most `size` connections, of which
//! idle ones are kept for reuse until `idle_timeout` (at least `min_idle` of them),
//! none past `max_lifetime`, and a client waits at most `queue_timeout` for one of a
//! full pool. A connection that is broken (the protocol's [`Conn::alive`] says so)
//! is dropped, never handed out. The protocol opens connections (the `open` closure
//! of [`Pool::lease`]) and resets them before it gives them back.
//!
//! `userlist` reads the logins pooled mode checks itself; `metrics` has the figures
//! `/metrics` shows.

pub mod metrics;
pub mod userlist;

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use metrics::PoolMetrics;

/// A pooled connection, as the pool sees it.
pub trait Conn: Send + 'static {
    /// False when the connection is known to be broken (closed by its peer, or holding
    /// bytes nobody asked for).
    fn alive(&mut self) -> bool;
}

/// A pool's limits (a cache's `pool_*` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub size: usize,
    pub min_idle: usize,
    pub max_lifetime: Duration,
    pub idle_timeout: Duration,
    pub queue_timeout: Duration,
}

/// Why no connection was leased.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError<E> {
    /// The pool stayed full for `queue_timeout`.
    #[error("no origin connection free within pool_queue_timeout ({0:?})")]
    QueueTimeout(Duration),
    /// Opening a new connection failed.
    #[error(transparent)]
    Open(E),
}

struct Idle<C> {
    conn: C,
    born: Instant,
    since: Instant,
}

struct Shared<C> {
    limits: Limits,
    permits: Arc<Semaphore>,
    /// Most recently returned last.
    idle: Mutex<Vec<Idle<C>>>,
    metrics: Arc<PoolMetrics>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One pool of connections to one origin as one user to one database.
pub struct Pool<C> {
    shared: Arc<Shared<C>>,
}

impl<C> Clone for Pool<C> {
    fn clone(&self) -> Self {
        Pool {
            shared: self.shared.clone(),
        }
    }
}

/// A connection lent from a pool, with its place in the pool (held until the lease
/// ends). Dropped without [`Lease::give_back`], its connection is closed.
pub struct Lease<C> {
    conn: Option<C>,
    /// Given back: its connection is in the pool again.
    returned: bool,
    born: Instant,
    shared: Arc<Shared<C>>,
    _permit: OwnedSemaphorePermit,
}

impl<C: Conn> Pool<C> {
    pub fn new(limits: Limits, metrics: Arc<PoolMetrics>) -> Self {
        Pool {
            shared: Arc::new(Shared {
                limits,
                permits: Arc::new(Semaphore::new(limits.size.max(1))),
                idle: Mutex::new(Vec::new()),
                metrics,
            }),
        }
    }

    /// A connection: an idle one that is alive, or one `open` makes, once the pool has
    /// room (waiting up to `queue_timeout`).
    pub async fn lease<F, Fut, E>(&self, open: F) -> Result<Lease<C>, LeaseError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<C, E>>,
    {
        let (shared, m) = (&self.shared, &self.shared.metrics);
        let started = Instant::now();
        m.waiting.up();
        let permit = tokio::time::timeout(
            shared.limits.queue_timeout,
            shared.permits.clone().acquire_owned(),
        )
        .await;
        m.waiting.down();
        m.wait.record(started.elapsed());
        let Ok(Ok(permit)) = permit else {
            m.queue_timeouts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(LeaseError::QueueTimeout(shared.limits.queue_timeout));
        };
        let (conn, born) = match self.take_idle() {
            Some(idle) => (idle.conn, idle.born),
            None => {
                let conn = open().await.map_err(LeaseError::Open)?;
                m.opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                (conn, Instant::now())
            }
        };
        m.active.up();
        Ok(Lease {
            conn: Some(conn),
            returned: false,
            born,
            shared: shared.clone(),
            _permit: permit,
        })
    }

    /// An idle connection at once, or `None`: nothing is opened and nobody waits. For
    /// work worth doing only when it delays no client, such as a refresh ahead of
    /// expiry: waiting there would hold up the session's next request, and opening a
    /// connection would cost the origin a login for a result nobody asked for yet.
    pub fn try_lease_idle(&self) -> Option<Lease<C>> {
        let permit = self.shared.permits.clone().try_acquire_owned().ok()?;
        // No idle connection: the place is freed again (the permit drops).
        let idle = self.take_idle()?;
        self.shared.metrics.active.up();
        Some(Lease {
            conn: Some(idle.conn),
            returned: false,
            born: idle.born,
            shared: self.shared.clone(),
            _permit: permit,
        })
    }

    /// The most recently returned idle connection that is young enough and alive;
    /// the others met on the way are closed.
    fn take_idle(&self) -> Option<Idle<C>> {
        let now = Instant::now();
        loop {
            let mut idle = lock(&self.shared.idle).pop()?;
            self.shared.metrics.idle.down();
            let expired = now.duration_since(idle.born) >= self.shared.limits.max_lifetime;
            if !expired && idle.conn.alive() {
                return Some(idle);
            }
            self.shared.metrics.closed();
        }
    }

    /// Closes idle connections unused for `idle_timeout` (keeping `min_idle`) and
    /// those past `max_lifetime`. Returns how many were closed.
    pub fn sweep(&self) -> usize {
        let (limits, now) = (self.shared.limits, Instant::now());
        let closed: Vec<Idle<C>> = {
            let mut idle = lock(&self.shared.idle);
            let mut kept = Vec::with_capacity(idle.len());
            let mut closed = Vec::new();
            // Oldest first: the first ones past the timeout go, down to min_idle.
            let total = idle.len();
            for (i, c) in idle.drain(..).enumerate() {
                let stale = now.duration_since(c.since) >= limits.idle_timeout
                    && total - i > limits.min_idle;
                let old = now.duration_since(c.born) >= limits.max_lifetime;
                if stale || old {
                    closed.push(c);
                } else {
                    kept.push(c);
                }
            }
            *idle = kept;
            closed
        };
        for _ in &closed {
            self.shared.metrics.idle.down();
            self.shared.metrics.closed();
        }
        closed.len()
    }

    /// Idle connections held now.
    pub fn idle_count(&self) -> usize {
        lock(&self.shared.idle).len()
    }

    /// No idle connection, and no lease, waiting client or caller of [`Pools::get`]
    /// holds the pool (the map's is the only handle): it can be forgotten.
    fn unused(&self) -> bool {
        Arc::strong_count(&self.shared) == 1 && self.idle_count() == 0
    }
}

impl<C: Conn> Lease<C> {
    pub fn conn(&mut self) -> Option<&mut C> {
        self.conn.as_mut()
    }

    /// Takes the connection out (to run a session on it); the place stays held.
    pub fn take(&mut self) -> Option<C> {
        self.conn.take()
    }

    /// Ends the lease, keeping `conn` (reset by the protocol) for the next client,
    /// unless it is past its lifetime.
    pub fn give_back(mut self, conn: C) {
        let shared = self.shared.clone();
        self.conn = None;
        let now = Instant::now();
        if now.duration_since(self.born) >= shared.limits.max_lifetime {
            return;
        }
        self.returned = true;
        lock(&shared.idle).push(Idle {
            conn,
            born: self.born,
            since: now,
        });
        shared.metrics.idle.up();
    }
}

impl<C> Drop for Lease<C> {
    /// A lease that ends without its connection going back closes it (dropped here,
    /// or already by whoever took it out).
    fn drop(&mut self) {
        self.shared.metrics.active.down();
        if !self.returned {
            self.shared.metrics.closed();
        }
    }
}

/// The pools of one cache, one per key (origin user, database), made on first use;
/// a background task sweeps them while the set lives.
pub struct Pools<K, C> {
    limits: Limits,
    metrics: Arc<PoolMetrics>,
    map: Mutex<HashMap<K, Pool<C>>>,
}

impl<K: Hash + Eq + Clone + Send + 'static, C: Conn> Pools<K, C> {
    /// Must be called inside a tokio runtime (it starts the sweeper).
    pub fn new(limits: Limits, metrics: Arc<PoolMetrics>) -> Arc<Self> {
        let pools = Arc::new(Pools {
            limits,
            metrics,
            map: Mutex::new(HashMap::new()),
        });
        let every =
            (limits.idle_timeout / 2).clamp(Duration::from_millis(100), Duration::from_secs(30));
        tokio::spawn(sweeper(Arc::downgrade(&pools), every));
        pools
    }

    /// The pool for `key`.
    pub fn get(&self, key: &K) -> Pool<C> {
        let mut map = lock(&self.map);
        if let Some(p) = map.get(key) {
            return p.clone();
        }
        let pool = Pool::new(self.limits, self.metrics.clone());
        map.insert(key.clone(), pool.clone());
        pool
    }

    /// Sweeps every pool, and forgets those left unused (a key a client chose, such
    /// as a database name given to `auth_query`, cannot make the map grow for ever).
    fn sweep(&self) {
        let pools: Vec<Pool<C>> = lock(&self.map).values().cloned().collect();
        for p in pools {
            p.sweep();
        }
        lock(&self.map).retain(|_, p| !p.unused());
    }

    /// Pools held now.
    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

async fn sweeper<K: Hash + Eq + Clone + Send + 'static, C: Conn>(
    pools: Weak<Pools<K, C>>,
    every: Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        let Some(pools) = pools.upgrade() else {
            return;
        };
        pools.sweep();
    }
}

#[cfg(test)]
mod tests;
