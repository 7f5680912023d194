//! Accept loops: a connection limit shared by all listeners, and graceful shutdown
//! (stop accepting, let sessions finish). TLS setup shared by the protocols: the
//! certificate presented to clients (`tls`), the connection to origins (`origin_tls`),
//! and one stream type for either (`stream`).

pub mod admission;
pub mod drain;
pub mod origin_tls;
pub mod stream;
pub mod tls;
pub mod tls_context;
#[cfg(test)]
mod tls_tests;
pub mod workers;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

/// Signals shutdown to every accept loop and session.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
    sessions: Arc<drain::Sessions>,
}

/// The sending side of a [`Shutdown`].
pub struct Stop {
    tx: watch::Sender<bool>,
    sessions: Arc<drain::Sessions>,
}

impl Stop {
    /// Signals shutdown to every receiver and session.
    pub fn stop(&self) {
        let _ = self.tx.send(true);
        self.sessions.signal();
    }
}

impl Shutdown {
    pub fn new() -> (Stop, Shutdown) {
        let (tx, rx) = watch::channel(false);
        let sessions = Arc::new(drain::Sessions::default());
        let stop = Stop {
            tx,
            sessions: Arc::clone(&sessions),
        };
        (stop, Shutdown { rx, sessions })
    }

    pub async fn wait(&mut self) {
        let _ = self.rx.wait_for(|stop| *stop).await;
    }

    /// The wait of one session's loop, polled at every wake-up: cheap to poll
    /// ([`drain::Drain`]).
    pub fn session_wait(&self) -> drain::Drain {
        self.sessions.wait()
    }

    /// Returns once shutdown is signalled, and never if the signal's sender is gone
    /// without signalling (what gives up a login under way: a dropped sender is no
    /// reason to drop a client).
    pub async fn signalled_wait(&mut self) {
        if self.rx.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Whether shutdown has been signalled.
    pub fn signalled(&self) -> bool {
        *self.rx.borrow()
    }
}

/// Accepts connections on `listener` and runs `handle` for each on one of the
/// session threads (`workers`), while fewer than the limit are open; past it a
/// connection waits in the kernel's backlog.
pub fn spawn_accept_loop<F, Fut>(
    name: &'static str,
    listener: TcpListener,
    limit: Arc<Semaphore>,
    workers: Arc<workers::Workers>,
    mut shutdown: Shutdown,
    handle: F,
) -> JoinHandle<()>
where
    F: Fn(TcpStream, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handle = Arc::new(handle);
    tokio::spawn(async move {
        loop {
            let permit = tokio::select! {
                p = limit.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return,
                },
                _ = shutdown.wait() => return,
            };
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = shutdown.wait() => return,
            };
            match accepted {
                Ok((socket, peer)) => {
                    // Moved to the session's thread: its reactor serves the socket.
                    let socket = match socket.into_std() {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!(listener = name, error = %e, "accept failed");
                            continue;
                        }
                    };
                    let handle = handle.clone();
                    workers.spawn(move || async move {
                        match TcpStream::from_std(socket) {
                            Ok(socket) => handle(socket, peer).await,
                            Err(e) => {
                                tracing::warn!(listener = name, error = %e, "accept failed")
                            }
                        }
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!(listener = name, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    })
}
