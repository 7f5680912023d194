//! Learned time-to-live per query template (design §5), as a pure function: the
//! state after an event, given the bounds. The engine feeds it what it observes:
//!
//! - `Unchanged`: a result fetched again after its entry expired came back identical
//!   (same hash): the TTL doubles, up to `max`.
//! - `ChangedExplained`: it changed, but a write seen through wirecache explains it:
//!   nothing learned about the TTL.
//! - `ChangedUnexplained`: it changed with no write seen (someone wrote straight to
//!   the origin): the TTL drops to a quarter, down to `min`, and the change is counted.
//! - `WriteSeen`: a write through wirecache touched a table the template reads: the
//!   TTL shrinks by a quarter (writes there suggest the data is live).
//!
//! A template whose results change unexplained in more than half of at least
//! `MIN_OBSERVATIONS` observations stops being cached for `max` (then it is tried
//! again from `initial`). Counters decay so old behaviour is forgotten.

use std::time::{Duration, Instant};

/// Observations needed before a template can be judged too volatile to cache.
pub const MIN_OBSERVATIONS: u32 = 4;
/// Counters are halved when observations reach this, so the judgement follows recent
/// behaviour.
const DECAY_AT: u32 = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlBounds {
    pub min: Duration,
    pub initial: Duration,
    pub max: Duration,
}

impl TtlBounds {
    /// Bounds from configuration: the initial TTL is the default TTL clamped.
    pub fn new(min: Duration, default: Duration, max: Duration) -> Self {
        let max = max.max(min);
        Self {
            min,
            initial: default.clamp(min, max),
            max,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlEvent {
    Unchanged,
    ChangedExplained,
    ChangedUnexplained,
    WriteSeen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlState {
    pub ttl: Duration,
    pub observations: u32,
    pub unexplained: u32,
    /// Not cached until then (too volatile).
    pub paused_until: Option<Instant>,
}

impl TtlState {
    pub fn new(bounds: &TtlBounds) -> Self {
        Self {
            ttl: bounds.initial,
            observations: 0,
            unexplained: 0,
            paused_until: None,
        }
    }

    /// Whether results of the template may be cached at `now`.
    pub fn cacheable(&self, now: Instant) -> bool {
        self.paused_until.is_none_or(|until| now >= until)
    }
}

/// The state after `event` at `now`.
pub fn next(state: TtlState, event: TtlEvent, bounds: &TtlBounds, now: Instant) -> TtlState {
    let mut s = state;
    if s.paused_until.is_some_and(|until| now >= until) {
        s = TtlState::new(bounds);
    }
    match event {
        TtlEvent::Unchanged => {
            s.ttl = (s.ttl * 2).min(bounds.max);
            s.observations += 1;
        }
        TtlEvent::ChangedExplained => s.observations += 1,
        TtlEvent::ChangedUnexplained => {
            s.ttl = (s.ttl / 4).max(bounds.min);
            s.observations += 1;
            s.unexplained += 1;
        }
        TtlEvent::WriteSeen => s.ttl = (s.ttl * 3 / 4).max(bounds.min),
    }
    if s.observations >= MIN_OBSERVATIONS && s.unexplained * 2 > s.observations {
        s.paused_until = Some(now + bounds.max);
        s.observations = 0;
        s.unexplained = 0;
        s.ttl = bounds.min;
    } else if s.observations >= DECAY_AT {
        s.observations /= 2;
        s.unexplained /= 2;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use TtlEvent::*;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn bounds() -> TtlBounds {
        TtlBounds::new(secs(1), secs(4), secs(64))
    }

    /// (events from a fresh state, expected TTL in seconds after them, cacheable?)
    #[test]
    fn table_of_cases() {
        let cases: &[(&[TtlEvent], u64, bool)] = &[
            (&[], 4, true),
            (&[Unchanged], 8, true),
            (&[Unchanged, Unchanged], 16, true),
            (&[Unchanged; 10], 64, true),
            (&[ChangedExplained], 4, true),
            (&[ChangedExplained; 10], 4, true),
            (&[ChangedUnexplained], 1, true),
            (&[Unchanged, Unchanged, ChangedUnexplained], 4, true),
            (&[WriteSeen], 3, true),
            (&[WriteSeen; 10], 1, true),
            // Two unexplained out of four is not more than half: still cached.
            (
                &[ChangedUnexplained, Unchanged, ChangedUnexplained, Unchanged],
                2,
                true,
            ),
            // Three of four: paused, TTL at the minimum.
            (
                &[
                    ChangedUnexplained,
                    ChangedUnexplained,
                    Unchanged,
                    ChangedUnexplained,
                ],
                1,
                false,
            ),
            (&[ChangedUnexplained; 4], 1, false),
            // Explained changes dilute nothing away but do not count as unexplained.
            (
                &[
                    ChangedExplained,
                    ChangedExplained,
                    ChangedUnexplained,
                    ChangedUnexplained,
                ],
                1,
                true,
            ),
        ];
        let now = Instant::now();
        for (events, ttl, cacheable) in cases {
            let b = bounds();
            let s = events
                .iter()
                .fold(TtlState::new(&b), |s, e| next(s, *e, &b, now));
            assert_eq!(s.ttl, secs(*ttl), "{events:?}");
            assert_eq!(s.cacheable(now), *cacheable, "{events:?}");
        }
    }

    #[test]
    fn a_pause_ends_after_max_and_learning_restarts() {
        let b = bounds();
        let now = Instant::now();
        let paused = [ChangedUnexplained; 4]
            .iter()
            .fold(TtlState::new(&b), |s, e| next(s, *e, &b, now));
        assert!(!paused.cacheable(now + secs(63)));
        assert!(paused.cacheable(now + b.max));
        let resumed = next(paused, Unchanged, &b, now + b.max);
        assert_eq!(resumed.ttl, secs(8));
        assert_eq!(resumed.paused_until, None);
    }

    #[test]
    fn counters_decay() {
        let b = bounds();
        let now = Instant::now();
        let s = (0..DECAY_AT).fold(TtlState::new(&b), |s, _| next(s, Unchanged, &b, now));
        assert_eq!(s.observations, DECAY_AT / 2);
    }

    #[test]
    fn bounds_clamp_the_initial_ttl() {
        assert_eq!(
            TtlBounds::new(secs(1), secs(100), secs(10)).initial,
            secs(10)
        );
        assert_eq!(TtlBounds::new(secs(5), secs(1), secs(10)).initial, secs(5));
        assert_eq!(TtlBounds::new(secs(5), secs(1), secs(2)).max, secs(5));
    }
}
