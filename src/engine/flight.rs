//! Single-flight: concurrent identical misses cause one origin execution. The first
//! session to miss a key leads; the others wait (bounded) for its fill and then look
//! the key up again. A leader that fails or abandons its fill releases the followers,
//! who then go to the origin themselves.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

/// Longest a follower waits for a leader before going to the origin itself.
pub const FOLLOWER_WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct Flights {
    in_flight: Mutex<crate::hashing::Map<Bytes, watch::Receiver<()>>>,
}

/// This session's role for one key.
pub enum Flight {
    Leader(FlightGuard),
    Follower(watch::Receiver<()>),
}

/// Held by the leader for the duration of its fill; dropping it releases followers.
pub struct FlightGuard {
    flights: Arc<Flights>,
    key: Bytes,
    _done: watch::Sender<()>,
}

impl std::fmt::Debug for FlightGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlightGuard")
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let mut map = self
            .flights
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.remove(&self.key);
    }
}

impl Flights {
    /// Leads the fill of `key`, or follows the session already filling it.
    pub fn begin(self: &Arc<Self>, key: &[u8]) -> Flight {
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rx) = map.get(key) {
            return Flight::Follower(rx.clone());
        }
        let (tx, rx) = watch::channel(());
        let key = Bytes::copy_from_slice(key);
        map.insert(key.clone(), rx);
        Flight::Leader(FlightGuard {
            flights: self.clone(),
            key,
            _done: tx,
        })
    }

    /// Leads the fill of `key` (returns the guard to hold while filling), or, if another
    /// session is filling it already, waits (bounded) until that one is done and
    /// returns `None`: the caller then looks the key up again.
    pub async fn lead_or_wait(self: &Arc<Self>, key: &[u8]) -> Option<FlightGuard> {
        match self.begin(key) {
            Flight::Leader(guard) => Some(guard),
            Flight::Follower(rx) => {
                follow(rx).await;
                None
            }
        }
    }

    /// The leader's completion signal, if a session is filling `key` now.
    pub fn waiting(&self, key: &[u8]) -> Option<watch::Receiver<()>> {
        let map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).cloned()
    }

    pub fn len(&self) -> usize {
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Waits until the leader is done (its guard dropped) or `FOLLOWER_WAIT` passes.
pub async fn follow(mut rx: watch::Receiver<()>) {
    // `changed` errors once the sender (inside the guard) is dropped: that is "done".
    let _ =
        tokio::time::timeout(FOLLOWER_WAIT, async { while rx.changed().await.is_ok() {} }).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_leader_and_followers_released_on_drop() {
        let flights = Arc::new(Flights::default());
        let leader = flights.begin(b"k");
        assert!(matches!(leader, Flight::Leader(_)));
        let Flight::Follower(rx) = flights.begin(b"k") else {
            panic!("second miss must follow");
        };
        assert!(matches!(flights.begin(b"other"), Flight::Leader(_)));
        let waiter = tokio::spawn(follow(rx));
        drop(leader);
        waiter.await.unwrap();
        assert!(matches!(flights.begin(b"k"), Flight::Leader(_)));
    }
}
