//! The shared result tier's figures for `/metrics`: hits, misses by reason, writes,
//! writes dropped by reason, Redis errors by kind, and how long lookups took.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::stats::Histogram;

/// Why a lookup in the tier did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L2Miss {
    /// Redis holds nothing under the key (or it just expired).
    Absent,
    /// Read at other shared generations (or another epoch) than this instance's.
    Stale,
    /// Another key's entry under the same digest.
    Collision,
    /// Not a valid entry (cut, flipped, foreign, over the size bound).
    Corrupt,
    /// An entry of another format version.
    Version,
    /// Not asked: the bus is not up, this instance's own writes are not in its view
    /// yet, the session may not be served from the cache, or Redis was slow a moment ago.
    Unavailable,
    /// Redis did not answer in `l2_timeout`, or answered an error.
    Failed,
}

impl L2Miss {
    pub const ALL: [L2Miss; 7] = [
        L2Miss::Absent,
        L2Miss::Stale,
        L2Miss::Collision,
        L2Miss::Corrupt,
        L2Miss::Version,
        L2Miss::Unavailable,
        L2Miss::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            L2Miss::Absent => "absent",
            L2Miss::Stale => "stale",
            L2Miss::Collision => "collision",
            L2Miss::Corrupt => "corrupt",
            L2Miss::Version => "version",
            L2Miss::Unavailable => "unavailable",
            L2Miss::Failed => "failed",
        }
    }
}

/// Why a result stored locally was not written to the tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L2Drop {
    /// Larger than `l2_max_entry_size` once encoded.
    TooLarge,
    /// Too many writes (or bytes) waiting already.
    QueueFull,
    /// Redis could not be reached, or did not take it in time.
    Failed,
}

impl L2Drop {
    pub const ALL: [L2Drop; 3] = [L2Drop::TooLarge, L2Drop::QueueFull, L2Drop::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            L2Drop::TooLarge => "too_large",
            L2Drop::QueueFull => "queue_full",
            L2Drop::Failed => "failed",
        }
    }
}

/// A Redis error met by the tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L2Error {
    ReadTimeout,
    ReadFailed,
    WriteTimeout,
    WriteFailed,
}

impl L2Error {
    pub const ALL: [L2Error; 4] = [
        L2Error::ReadTimeout,
        L2Error::ReadFailed,
        L2Error::WriteTimeout,
        L2Error::WriteFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            L2Error::ReadTimeout => "read_timeout",
            L2Error::ReadFailed => "read_failed",
            L2Error::WriteTimeout => "write_timeout",
            L2Error::WriteFailed => "write_failed",
        }
    }
}

/// The tier's counters.
#[derive(Debug, Default)]
pub struct L2Figures {
    pub hits: AtomicU64,
    pub misses: [AtomicU64; L2Miss::ALL.len()],
    pub writes: AtomicU64,
    pub dropped: [AtomicU64; L2Drop::ALL.len()],
    pub errors: [AtomicU64; L2Error::ALL.len()],
    /// Writes waiting to be sent.
    pub queued: AtomicU64,
    /// Lookups that reached Redis: request to answer.
    pub lookup: Histogram,
}

fn add(counters: &[AtomicU64], i: usize) {
    if let Some(c) = counters.get(i) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

impl L2Figures {
    pub fn miss(&self, why: L2Miss) {
        add(&self.misses, why as usize);
    }

    pub fn dropped(&self, why: L2Drop) {
        add(&self.dropped, why as usize);
    }

    pub fn error(&self, what: L2Error) {
        add(&self.errors, what as usize);
    }

    pub fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_follow_their_labels() {
        let f = L2Figures::default();
        f.miss(L2Miss::Version);
        f.dropped(L2Drop::QueueFull);
        f.error(L2Error::WriteFailed);
        let at = |c: &[AtomicU64], i: usize| c[i].load(Ordering::Relaxed);
        assert_eq!(at(&f.misses, 4), 1);
        assert_eq!(L2Miss::ALL[4].as_str(), "version");
        assert_eq!(at(&f.dropped, 1), 1);
        assert_eq!(at(&f.errors, 3), 1);
    }
}
