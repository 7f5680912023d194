//! Where client sessions run: one single-threaded runtime per core, each on its own
//! thread, and every session on one of them from its first byte to its last.
//!
//! Why not the multi-threaded runtime the rest of the daemon uses: a proxied query
//! is a chain of tiny steps (client readable → forward → origin readable → answer),
//! and a work-stealing scheduler spreads such a chain over threads: the wake-up of
//! one step lands on whichever worker polled the socket, and an idle sibling is
//! woken to steal. Measured on the pass-through path (`scripts/bench/cost.sh`,
//! pgbench `-S` through `mode = "off"`), that costs about a third more context
//! switches and a tenth more CPU per query than one thread serving the session
//! throughout. A session's sockets are registered with its own thread's reactor, so
//! its wake-ups stay on that thread; sessions are spread over the threads in turn.
//!
//! What a session shares with others (the cache, pooled origin connections, the
//! cluster bus, single-flight waits) works across threads as before: tokio's
//! wake-ups and channels do not care which runtime a task runs on.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// The session threads. Dropping the last handle stops them; sessions still
/// running on them are dropped (their connections close), as with the end of a
/// runtime.
pub struct Workers {
    threads: Vec<Worker>,
    next: AtomicUsize,
}

struct Worker {
    handle: Handle,
    /// Dropped to stop the thread.
    _stop: oneshot::Sender<()>,
}

impl Worker {
    /// Thread `i`: its runtime built there, its handle sent back.
    fn start(i: usize) -> io::Result<Worker> {
        let (stop, stopped) = oneshot::channel::<()>();
        let (started, handle) = std::sync::mpsc::sync_channel::<io::Result<Handle>>(1);
        std::thread::Builder::new()
            .name(format!("wirecache-session-{i}"))
            .spawn(move || {
                let runtime = match Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = started.send(Err(e));
                        return;
                    }
                };
                let _ = started.send(Ok(runtime.handle().clone()));
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        let handle = handle
            .recv()
            .map_err(|_| io::Error::other("a session thread ended before it started"))??;
        Ok(Worker {
            handle,
            _stop: stop,
        })
    }
}

impl Workers {
    /// Starts `n` session threads (at least one). Each builds its runtime itself, so
    /// that nothing here owns a runtime that would have to be dropped in an async
    /// context if a later thread failed to start.
    pub fn start(n: usize) -> io::Result<Workers> {
        let threads = (0..n.max(1))
            .map(Worker::start)
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Workers {
            threads,
            next: AtomicUsize::new(0),
        })
    }

    /// One thread per core the process may use.
    pub fn per_core() -> io::Result<Workers> {
        Workers::start(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Runs the future `make` returns on the next thread in turn. `make` runs on that
    /// thread, so what it creates there (a socket taken with `from_std`) belongs to
    /// that thread's reactor.
    pub fn spawn<F, Fut>(&self, make: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static + Send,
    {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.threads.len().max(1);
        if let Some(w) = self.threads.get(i) {
            w.handle.spawn(async move { make().await });
        }
    }

    /// How many session threads there are.
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};

    /// Sessions go to every thread in turn, each runs wholly on its thread, and a
    /// socket made inside works with that thread's reactor.
    #[tokio::test]
    async fn sessions_are_spread_over_the_threads_and_stay_on_theirs() {
        let workers = Workers::start(2).unwrap();
        assert_eq!(workers.len(), 2);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, mut done_rx) = tokio::sync::mpsc::channel(4);
        for _ in 0..4 {
            let std = std::net::TcpStream::connect(addr).unwrap();
            std.set_nonblocking(true).unwrap();
            let (seen, done) = (seen.clone(), done_tx.clone());
            workers.spawn(move || async move {
                let before = std::thread::current().id();
                let socket = tokio::net::TcpStream::from_std(std).unwrap();
                socket.writable().await.unwrap();
                tokio::task::yield_now().await;
                assert_eq!(std::thread::current().id(), before);
                seen.lock().unwrap().push(before);
                done.send(()).await.unwrap();
            });
        }
        for _ in 0..4 {
            done_rx.recv().await.unwrap();
        }
        let seen = seen.lock().unwrap();
        let threads: HashSet<_> = seen.iter().collect();
        assert_eq!(seen.len(), 4);
        assert_eq!(threads.len(), 2, "both threads served sessions");
        assert!(!threads.contains(&std::thread::current().id()));
    }

    /// Dropping the workers ends what still runs on them.
    #[tokio::test]
    async fn dropping_the_workers_ends_their_sessions() {
        let workers = Workers::start(1).unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        workers.spawn(move || async move {
            let _held = tx;
            std::future::pending::<()>().await;
        });
        drop(workers);
        assert!(rx.await.is_err(), "the session's future was dropped");
    }
}
