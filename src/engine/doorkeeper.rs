//! The doorkeeper in front of the result store for templates whose calls mostly miss
//! ([`super::Storing::Admitting`]): a result is stored only for a key that missed
//! before, recently. It remembers the hashes of keys that missed, one per slot of a
//! fixed table (so it never grows): a key whose slot still holds its hash missed
//! before; any other overwrites the slot. Forgetting (another key took the slot) only
//! delays a store to the key's next miss; a false "seen before" (two keys with one
//! 64-bit hash) only stores one result early. Neither can serve a wrong row: it
//! decides whether to store, never what.
//!
//! Lock-free (one atomic swap per fill judged) and allocated at its first use, so a
//! daemon whose templates all repeat never pays for its memory.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Slots: 1 MiB of hashes, the last 131,072 keys that missed (less collisions).
const SLOTS: usize = 1 << 17;

#[derive(Default)]
pub struct Doorkeeper {
    slots: OnceLock<Box<[AtomicU64]>>,
}

impl Doorkeeper {
    /// Whether the key with hash `key_hash` missed before (then it is admitted);
    /// either way, it is remembered as having missed now.
    pub fn admit(&self, key_hash: u64) -> bool {
        let slots = self
            .slots
            .get_or_init(|| (0..SLOTS).map(|_| AtomicU64::new(0)).collect());
        // Zero marks an empty slot: a hash of zero is remembered as one.
        let mark = key_hash.max(1);
        // The mask keeps the index inside the table: `get` never misses.
        slots
            .get((key_hash as usize) & (SLOTS - 1))
            .is_some_and(|slot| slot.swap(mark, Ordering::Relaxed) == mark)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_admitted_at_its_second_miss_and_after() {
        let d = Doorkeeper::default();
        assert!(!d.admit(42));
        assert!(d.admit(42));
        assert!(d.admit(42));
        assert!(!d.admit(43), "another key is new");
        assert!(!d.admit(0), "a zero hash is remembered too");
        assert!(d.admit(0));
    }

    #[test]
    fn a_key_whose_slot_was_taken_is_new_again() {
        let d = Doorkeeper::default();
        let a = 7_u64;
        let b = a + SLOTS as u64; // the same slot
        assert!(!d.admit(a));
        assert!(!d.admit(b));
        assert!(!d.admit(a), "b took a's slot: a is new again");
        assert!(d.admit(a));
    }

    #[test]
    fn keys_in_other_slots_do_not_disturb_each_other() {
        let d = Doorkeeper::default();
        for k in 0..1000_u64 {
            assert!(!d.admit(k.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        }
        for k in 0..1000_u64 {
            assert!(d.admit(k.wrapping_mul(0x9E37_79B9_7F4A_7C15)), "key {k}");
        }
    }
}
