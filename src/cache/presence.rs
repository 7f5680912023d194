//! Which keys the store may hold: a counting filter in front of moka, so a lookup of a
//! key that is not there (every miss) costs a hash and one atomic load instead of
//! moka's probe, which also records the miss for its admission policy (about 700
//! instructions, the largest single cost of a miss). An insert counts its key's slot
//! up before the entry is visible; a removal (moka's eviction listener: evicted,
//! expired, replaced, invalidated) counts it down after. A slot at zero therefore
//! proves the key absent; a slot above zero only says "look". A slot that reaches
//! its maximum stays there (it no longer knows its count), which can only cost a
//! probe, never a hit.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU8, Ordering};

/// Slots per byte of the store's budget: results and keys of a few hundred bytes
/// each leave most slots empty.
const BYTES_PER_SLOT: u64 = 64;
const MIN_SLOTS: u64 = 1 << 10;
const MAX_SLOTS: u64 = 1 << 23;

pub struct Presence {
    slots: Box<[AtomicU8]>,
    mask: usize,
    hasher: crate::hashing::Hasher,
}

impl Presence {
    /// A filter sized for a store of `max_bytes`.
    pub fn for_budget(max_bytes: u64) -> Self {
        let wanted = (max_bytes / BYTES_PER_SLOT).clamp(MIN_SLOTS, MAX_SLOTS);
        let n = usize::try_from(wanted.next_power_of_two()).unwrap_or(1 << 23);
        Self {
            slots: (0..n).map(|_| AtomicU8::new(0)).collect(),
            mask: n - 1,
            hasher: crate::hashing::Hasher::default(),
        }
    }

    /// The slot of `key` (`None` never happens: the index is masked to the slice's
    /// length, a power of two).
    fn slot(&self, key: &[u8]) -> Option<&AtomicU8> {
        // Truncating the hash to usize keeps its low bits, which the mask takes.
        let at = self.hasher.hash_one(key) as usize & self.mask;
        self.slots.get(at)
    }

    /// False only if no entry under `key` is in the store.
    pub fn may_hold(&self, key: &[u8]) -> bool {
        self.slot(key)
            .is_none_or(|s| s.load(Ordering::Acquire) != 0)
    }

    /// Before an entry under `key` is inserted.
    pub fn added(&self, key: &[u8]) {
        if let Some(s) = self.slot(key) {
            let _ = s.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_add(1));
        }
    }

    /// After an entry under `key` left the store.
    pub fn removed(&self, key: &[u8]) {
        if let Some(s) = self.slot(key) {
            let _ = s.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| match n {
                // Saturated: its count is lost, so it stays.
                u8::MAX | 0 => None,
                n => Some(n - 1),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_keys_in_and_out() {
        let p = Presence::for_budget(0);
        assert!(!p.may_hold(b"a"));
        p.added(b"a");
        p.added(b"a");
        assert!(p.may_hold(b"a"));
        p.removed(b"a");
        assert!(p.may_hold(b"a"));
        p.removed(b"a");
        assert!(!p.may_hold(b"a"));
    }

    #[test]
    fn a_saturated_slot_stays_set() {
        let p = Presence::for_budget(0);
        for _ in 0..300 {
            p.added(b"k");
        }
        for _ in 0..300 {
            p.removed(b"k");
        }
        assert!(p.may_hold(b"k"));
    }
}
