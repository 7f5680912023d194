//! The health of one cache's origin as wirecache has seen it: up, or down since a
//! moment and why (a fault kind, never an address, user or message text that could
//! carry a secret). Down is recorded when a connection attempt fails or a session
//! loses its origin connection; up when a connection attempt succeeds (a login, or
//! the cache's prober while it is down). Offline sessions wait on [`OriginHealth::back`].
//!
//! Lock-free: the state is two atomics; waiting uses a `tokio::sync::Notify`.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use strum::{IntoStaticStr, VariantArray};

/// Why the origin was last seen failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum OriginFault {
    /// The connection was refused (nothing listens on the origin's port).
    Refused,
    /// Connecting, or an answer, took longer than allowed.
    TimedOut,
    /// The origin closed a session's connection.
    Closed,
    /// Any other I/O error (reset, unreachable network, …).
    Io,
    /// TLS to the origin could not be set up as configured.
    Tls,
    /// The origin broke its protocol.
    Protocol,
}

impl OriginFault {
    /// Every kind, in declaration order (metric labels).
    pub const ALL: &'static [Self] = <Self as VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The fault an I/O error reports.
    pub fn of_io(e: &std::io::Error) -> OriginFault {
        match e.kind() {
            std::io::ErrorKind::ConnectionRefused => OriginFault::Refused,
            std::io::ErrorKind::TimedOut => OriginFault::TimedOut,
            std::io::ErrorKind::UnexpectedEof => OriginFault::Closed,
            _ => OriginFault::Io,
        }
    }

    fn code(self) -> u8 {
        let i = Self::VARIANTS.iter().position(|f| *f == self).unwrap_or(0);
        u8::try_from(i + 1).unwrap_or(u8::MAX)
    }

    fn from_code(code: u8) -> Option<OriginFault> {
        Self::VARIANTS
            .get(usize::from(code).checked_sub(1)?)
            .copied()
    }
}

/// What `/readyz` and the API say of an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthView {
    /// `None`: up.
    pub down_since: Option<SystemTime>,
    /// The last fault seen, even if the origin is up again.
    pub last_fault: Option<OriginFault>,
}

/// Up or down since when, and the last fault. Starts up (nothing seen yet).
#[derive(Debug, Default)]
pub struct OriginHealth {
    /// Milliseconds since the Unix epoch when it went down; 0: up.
    down_since_ms: AtomicU64,
    /// [`OriginFault::code`] of the last fault; 0: none yet.
    last_fault: AtomicU8,
    /// Woken when it comes back up.
    back: tokio::sync::Notify,
    /// A prober runs for it.
    probing: AtomicBool,
}

fn now_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH);
    let ms = since.map_or(0, |d| d.as_millis());
    u64::try_from(ms).unwrap_or(u64::MAX).max(1)
}

impl OriginHealth {
    /// Records a fault; true if this turned it from up to down (the caller then
    /// starts the prober).
    pub fn down(&self, fault: OriginFault) -> bool {
        self.last_fault.store(fault.code(), Ordering::Relaxed);
        self.down_since_ms
            .compare_exchange(0, now_ms(), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Records a working connection; wakes the sessions waiting for it.
    pub fn up(&self) {
        if self.down_since_ms.swap(0, Ordering::AcqRel) != 0 {
            self.back.notify_waiters();
        }
    }

    /// True if the caller is to run the prober (none runs yet).
    pub fn claim_prober(&self) -> bool {
        !self.probing.swap(true, Ordering::AcqRel)
    }

    pub fn release_prober(&self) {
        self.probing.store(false, Ordering::Release);
    }

    pub fn is_up(&self) -> bool {
        self.down_since_ms.load(Ordering::Acquire) == 0
    }

    /// Waits until the origin is recorded up (at once if it is).
    pub async fn back(&self) {
        loop {
            let notified = self.back.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_up() {
                return;
            }
            notified.await;
        }
    }

    pub fn view(&self) -> HealthView {
        let ms = self.down_since_ms.load(Ordering::Acquire);
        HealthView {
            down_since: (ms != 0).then(|| UNIX_EPOCH + Duration::from_millis(ms)),
            last_fault: OriginFault::from_code(self.last_fault.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_then_up() {
        let h = OriginHealth::default();
        assert_eq!(h.view().last_fault, None);
        assert!(h.is_up());
        assert!(h.down(OriginFault::Refused));
        assert!(!h.down(OriginFault::TimedOut), "already down");
        let v = h.view();
        assert!(v.down_since.is_some());
        assert_eq!(v.last_fault, Some(OriginFault::TimedOut));
        h.up();
        assert!(h.is_up());
        assert_eq!(h.view().down_since, None);
        assert_eq!(h.view().last_fault, Some(OriginFault::TimedOut));
        for f in OriginFault::VARIANTS {
            assert_eq!(OriginFault::from_code(f.code()), Some(*f));
        }
    }

    #[tokio::test]
    async fn back_wakes_waiters() {
        let h = std::sync::Arc::new(OriginHealth::default());
        h.down(OriginFault::Closed);
        let waiter = tokio::spawn({
            let h = h.clone();
            async move { h.back().await }
        });
        tokio::task::yield_now().await;
        h.up();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
    }
}
