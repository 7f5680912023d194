//! Where the bus stands, and its figures for `/metrics` and `/readyz`.
//!
//! State machine: `Connecting` (never synchronized since start) → `Up` (subscribed,
//! shared generations re-read) → `Down` (subscription lost, Redis unreachable or a
//! health check failed; hits follow the mode's rule) → `Up` again after a re-read.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::stats::Histogram;

/// The bus as this instance sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BusState {
    Connecting = 0,
    Up = 1,
    Down = 2,
}

impl BusState {
    pub const ALL: [BusState; 3] = [BusState::Connecting, BusState::Up, BusState::Down];

    pub fn as_str(self) -> &'static str {
        match self {
            BusState::Connecting => "connecting",
            BusState::Up => "up",
            BusState::Down => "down",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => BusState::Up,
            2 => BusState::Down,
            _ => BusState::Connecting,
        }
    }
}

/// Why the shared generations were re-read instead of trusting the local copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resync {
    /// (Re)subscribed: messages may have been missed while not subscribed.
    Subscribed,
    /// A sequence number was skipped.
    Gap,
    /// Another epoch: Redis lost its data.
    Epoch,
    /// Redis's counter is ahead of what arrived for too long (a stuck subscription).
    Lag,
}

impl Resync {
    pub const ALL: [Resync; 4] = [Resync::Subscribed, Resync::Gap, Resync::Epoch, Resync::Lag];

    pub fn as_str(self) -> &'static str {
        match self {
            Resync::Subscribed => "subscribed",
            Resync::Gap => "gap",
            Resync::Epoch => "epoch",
            Resync::Lag => "lag",
        }
    }
}

/// The bus's state and figures; read on the hit path (bounded mode) with two loads.
#[derive(Debug)]
pub struct Figures {
    state: AtomicU8,
    /// Microseconds since `base` when the bus went down.
    down_since: AtomicU64,
    base: Instant,
    /// Cross-instance invalidation delay: publish → applied here.
    pub lag: Histogram,
    pub published: AtomicU64,
    pub publish_failures: AtomicU64,
    pub received: AtomicU64,
    pub undecodable: AtomicU64,
    pub resyncs: [AtomicU64; Resync::ALL.len()],
    /// Strict mode: hits sent to the origin because the bus could not vouch.
    pub strict_refusals: AtomicU64,
    /// Invalidations waiting to be recorded (Redis unreachable when they happened).
    pub owed: AtomicU64,
}

impl Default for Figures {
    fn default() -> Self {
        Figures {
            state: AtomicU8::new(BusState::Connecting as u8),
            down_since: AtomicU64::new(0),
            base: Instant::now(),
            lag: Histogram::default(),
            published: AtomicU64::new(0),
            publish_failures: AtomicU64::new(0),
            received: AtomicU64::new(0),
            undecodable: AtomicU64::new(0),
            resyncs: Default::default(),
            strict_refusals: AtomicU64::new(0),
            owed: AtomicU64::new(0),
        }
    }
}

impl Figures {
    pub fn state(&self) -> BusState {
        BusState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub fn set_up(&self) {
        self.state.store(BusState::Up as u8, Ordering::Release);
    }

    /// The bus is down (again): the stale window starts now unless already down.
    pub fn set_down(&self) {
        let was = self.state.swap(BusState::Down as u8, Ordering::AcqRel);
        if was == BusState::Up as u8 {
            let now = u64::try_from(self.base.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.down_since.store(now, Ordering::Release);
        }
    }

    /// How long the bus has been down (zero while up or never connected).
    pub fn down_for(&self) -> Duration {
        if self.state() != BusState::Down {
            return Duration::ZERO;
        }
        let since = Duration::from_micros(self.down_since.load(Ordering::Acquire));
        self.base.elapsed().saturating_sub(since)
    }

    pub fn resynced(&self, why: Resync) {
        if let Some(c) = self.resyncs.get(why as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
}
