//! The checker's own small PRNG (splitmix64): seeded, deterministic, no crate.
//! Each client connection draws from its own stream, derived from the run seed.

/// A splitmix64 generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The stream of connection `conn` (and `round`) of a run seeded with `seed`.
    pub fn for_stream(seed: u64, conn: usize, round: u64) -> Rng {
        let mut mix = Rng(seed ^ (conn as u64).wrapping_mul(0xA24B_AED4_963E_E407));
        let salt = mix.next_u64() ^ round.wrapping_mul(0x9FB2_1C65_1E98_DF25);
        Rng(salt)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; 0 when `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items`, by weight (weights need not sum to 100).
    pub fn weighted<T: Copy>(&mut self, items: &[(u64, T)]) -> T {
        let total: u64 = items.iter().map(|(w, _)| w).sum();
        let mut pick = self.below(total);
        for (w, item) in items {
            if pick < *w {
                return *item;
            }
            pick -= w;
        }
        items[items.len() - 1].1
    }

    /// One of `items`, uniformly (`items` non-empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn streams_are_deterministic_and_distinct() {
        let a: Vec<u64> = (0..4)
            .map(|_| Rng::for_stream(7, 1, 0).next_u64())
            .collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Rng::for_stream(7, 1, 0).next_u64(),
            Rng::for_stream(7, 2, 0).next_u64()
        );
        assert_ne!(
            Rng::for_stream(7, 1, 0).next_u64(),
            Rng::for_stream(7, 1, 1).next_u64()
        );
    }
}
