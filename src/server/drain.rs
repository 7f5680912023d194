//! The shutdown signal as a session waits for it: a flag and one waker per open
//! session, so the wait costs a session two atomic loads per wake-up. (A
//! `watch::Receiver::changed` future, polled by every session at every wake-up, took
//! a lock shared by all sessions each time, and about 5 % of a relayed query's
//! instructions.)

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

/// The sessions waiting for shutdown, and whether it has come.
#[derive(Default)]
pub struct Sessions {
    signalled: AtomicBool,
    next: AtomicU64,
    wakers: Mutex<HashMap<u64, Arc<AtomicWaker>>>,
}

impl Sessions {
    /// Sets the flag and wakes every waiting session.
    pub fn signal(&self) {
        self.signalled.store(true, Ordering::SeqCst);
        let wakers = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        for w in wakers.values() {
            w.wake();
        }
    }

    pub fn signalled(&self) -> bool {
        self.signalled.load(Ordering::SeqCst)
    }

    /// A future that resolves once the flag is set, registered from now on.
    pub fn wait(self: &Arc<Self>) -> Drain {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let waker = Arc::new(AtomicWaker::new());
        self.wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::clone(&waker));
        Drain {
            sessions: Arc::clone(self),
            id,
            waker,
        }
    }
}

/// One session's wait for shutdown (see [`Sessions::wait`]); unregistered on drop.
pub struct Drain {
    sessions: Arc<Sessions>,
    id: u64,
    waker: Arc<AtomicWaker>,
}

impl Future for Drain {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.sessions.signalled() {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        // Signalled between the first check and the registration: its wake-up may
        // have found the old waker.
        if self.sessions.signalled() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Drain {
    fn drop(&mut self) {
        self.sessions
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiting_session_wakes_when_signalled() {
        let sessions = Arc::new(Sessions::default());
        let waiting = tokio::spawn(sessions.wait());
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        sessions.signal();
        tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
            .await
            .expect("woken")
            .expect("joined");
    }

    #[tokio::test]
    async fn a_wait_begun_after_the_signal_is_ready_and_a_dropped_one_unregisters() {
        let sessions = Arc::new(Sessions::default());
        let early = sessions.wait();
        sessions.signal();
        sessions.wait().await;
        drop(early);
        assert!(sessions.wakers.lock().unwrap().is_empty());
    }
}
