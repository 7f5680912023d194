//! A template's cacheability: whether its results repeat often enough to be worth
//! storing. A template whose calls almost never hit (its key space far larger than
//! what repeats while entries live: a lookup by a unique key, a timestamp in the text)
//! pays for a fill on every call (single flight, copying the answer, inserting and
//! evicting entries) and gets nothing back, so it stops being filled. Its calls are
//! still looked up (the key is looked up before the template is known), so hits on
//! entries it still has keep counting, and it is probed again now and then: one miss
//! in [`Thresholds::probe_every`] is still filled, and after
//! [`Thresholds::probe_after`] it is filled again for a whole window. Whichever window
//! sees hits again turns filling back on.
//!
//! Between the two, a template most of whose calls miss (fewer hits than one in
//! [`Thresholds::admit_one_in`]: a key space larger than the cache holds at once,
//! read at random) is filled but stores a result only for a key that missed before,
//! recently ([`Storing::Admitting`], through the engine's doorkeeper): the keys seen
//! once, most of them, cost no insert, no eviction and no entry's memory, and a key
//! that repeats is stored at its second miss instead of its first. That costs one
//! origin round trip per repeating key, so it is done only where the origin answers
//! fast ([`Thresholds::admit_below_origin`], the template's mean fill time): in front
//! of a far origin, a hit is worth far more than the fill it costs. While admitting,
//! a miss the doorkeeper admitted counts as the hit it would have been when every
//! miss was stored, so admitting never makes a template look as if it did not repeat.
//!
//! Never a correctness matter: a template that is not filled is still classified, and
//! its writes (and the writes to the tables it reads) invalidate exactly as before;
//! not storing a result is always safe.
//!
//! The judgement reads the template's own counters (hits, misses and the calls this
//! skipped): a hit costs nothing extra. It runs on the miss path, once per window.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{BypassReason, Decision, Effects, Engine, QueryRequest, Scope};
use crate::classify::{Analysis, Classification, StatementKind};

/// When a template is judged and probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Looked-up calls (hits, misses, skipped) per judgement.
    pub window: u64,
    /// Looked-up calls before filling can first be turned off.
    pub min_calls: u64,
    /// A window with fewer hits than one in this many calls turns filling off; one
    /// with at least as many turns it back on.
    pub min_hit_one_in: u64,
    /// A window with fewer hits than one in this many calls (but not too few to
    /// fill at all) stores only keys that missed before.
    pub admit_one_in: u64,
    /// Only a template whose fills took less than this (mean) stores on second misses.
    pub admit_below_origin: Duration,
    /// While not filling, one miss in this many is still filled.
    pub probe_every: u64,
    /// While not filling, after this long a whole window is filled again.
    pub probe_after: Duration,
}

impl Thresholds {
    /// What the engine uses.
    pub const DEFAULT: Thresholds = Thresholds {
        window: 2048,
        min_calls: 8192,
        min_hit_one_in: 64,
        admit_one_in: 2,
        admit_below_origin: Duration::from_millis(5),
        probe_every: 64,
        probe_after: Duration::from_secs(60),
    };

    /// Whether `hits` of `calls` are too few to be worth filling.
    fn too_few(&self, hits: u64, calls: u64) -> bool {
        hits.saturating_mul(self.min_hit_one_in) < calls
    }

    /// Whether `hits` of `calls` are too few to store every miss.
    fn mostly_missing(&self, hits: u64, calls: u64) -> bool {
        hits.saturating_mul(self.admit_one_in) < calls
    }
}

/// Whether a template is being filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Storing {
    /// Misses are filled and stored.
    Filling,
    /// Most calls miss: misses are filled, and stored only for a key that missed
    /// before (the engine's doorkeeper).
    Admitting,
    /// Its results do not repeat: misses are forwarded unfilled (but probed).
    Skipping,
}

impl Storing {
    pub fn as_str(self) -> &'static str {
        match self {
            Storing::Filling => "filling",
            Storing::Admitting => "admitting",
            Storing::Skipping => "skipping",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => Storing::Admitting,
            2 => Storing::Skipping,
            _ => Storing::Filling,
        }
    }
}

/// The counters of a template, as the judgement reads them (running totals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Calls {
    /// Hits, misses and calls skipped: every call that was looked up.
    pub looked_up: u64,
    pub hits: u64,
    /// Misses the doorkeeper admitted: hits, had every miss been stored.
    pub admitted: u64,
    /// The origin's mean time for a fill of the template.
    pub origin: Duration,
}

/// The judgement's state, touched once per window (or per time probe).
#[derive(Debug)]
struct Judge {
    /// The counters when the current window started.
    mark: Calls,
    /// Skipping since then, if skipping.
    skipping_since: Option<Instant>,
}

/// One template's cacheability.
#[derive(Debug)]
pub struct Cacheability {
    /// A [`Storing`], as its `u8`.
    state: AtomicU8,
    /// `looked_up` at which the current window ends.
    window_end: AtomicU64,
    /// Misses seen while skipping (which of them are probes).
    skipped: AtomicU64,
    judge: Mutex<Judge>,
}

impl Default for Cacheability {
    fn default() -> Self {
        Self {
            state: AtomicU8::new(Storing::Filling as u8),
            window_end: AtomicU64::new(Thresholds::DEFAULT.window),
            skipped: AtomicU64::new(0),
            judge: Mutex::new(Judge {
                mark: Calls::default(),
                skipping_since: None,
            }),
        }
    }
}

impl Cacheability {
    pub fn storing(&self) -> Storing {
        Storing::from_u8(self.state.load(Ordering::Relaxed))
    }

    fn set(&self, storing: Storing) {
        self.state.store(storing as u8, Ordering::Relaxed);
    }

    /// Whether the miss at hand is filled, given the template's counters before it.
    pub fn fill(&self, calls: Calls, now: Instant, t: &Thresholds) -> bool {
        if calls.looked_up >= self.window_end.load(Ordering::Relaxed) {
            self.judge(calls, now, t);
        }
        if self.storing() != Storing::Skipping {
            return true;
        }
        if !self
            .skipped
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(t.probe_every)
        {
            return false;
        }
        // A sampled probe; the time probe is looked at only then (one lock per
        // `probe_every` skipped misses).
        self.time_probe(calls, now, t);
        true
    }

    /// Ends the window that `calls` completed: turns filling off or on, and chooses
    /// whether every miss filled is stored or only a repeated one.
    fn judge(&self, calls: Calls, now: Instant, t: &Thresholds) {
        let mut j = self.judge.lock().unwrap_or_else(|e| e.into_inner());
        if calls.looked_up < self.window_end.load(Ordering::Relaxed) {
            return; // another session judged this window
        }
        let seen = calls.looked_up.saturating_sub(j.mark.looked_up);
        let worth = |c: &Calls| c.hits.saturating_add(c.admitted);
        let hits = worth(&calls).saturating_sub(worth(&j.mark));
        let too_few = t.too_few(hits, seen);
        let judged = calls.looked_up >= t.min_calls;
        match j.skipping_since {
            None if too_few && judged => j.skipping_since = Some(now),
            Some(_) if !too_few => j.skipping_since = None,
            _ => {}
        }
        j.mark = calls;
        self.set(if j.skipping_since.is_some() {
            Storing::Skipping
        } else if judged && t.mostly_missing(hits, seen) && calls.origin < t.admit_below_origin {
            Storing::Admitting
        } else {
            Storing::Filling
        });
        self.window_end
            .store(calls.looked_up.saturating_add(t.window), Ordering::Relaxed);
    }

    /// Skipping for `probe_after` already: fill a whole window again.
    fn time_probe(&self, calls: Calls, now: Instant, t: &Thresholds) {
        let mut j = self.judge.lock().unwrap_or_else(|e| e.into_inner());
        let due = j
            .skipping_since
            .is_some_and(|since| now.saturating_duration_since(since) >= t.probe_after);
        if due {
            j.skipping_since = None;
            j.mark = calls;
            self.set(Storing::Filling);
            self.window_end
                .store(calls.looked_up.saturating_add(t.window), Ordering::Relaxed);
        }
    }
}

impl Engine {
    /// A miss of a plain read whose template is skipped, judged on its
    /// classification alone: nothing of it would be stored, and a plain read (no
    /// write, no function the catalog must judge, no locking) has no effects beyond
    /// its session's, so the catalog facts, rules and TTL policy a fill needs are not
    /// looked at. `Err(probe)` when it must be planned in full; `probe`: this miss
    /// was already chosen as a probe (to be filled, not judged again).
    ///
    /// Only while no rule is configured: a rule may pin a TTL, which is the
    /// operator's word and is never skipped.
    pub(super) fn skip_unrepeating(
        &self,
        scope: &Scope,
        req: QueryRequest<'_>,
        analysis: &Arc<Analysis>,
    ) -> Result<Decision, bool> {
        if !plain_read(&analysis.classification)
            || req.blocked.is_some()
            || !self.rules.list().is_empty()
        {
            return Err(false);
        }
        let stats = self.templates.get_or_register(
            &scope.cache.key,
            &analysis.template,
            &scope.cache.bounds,
        );
        if stats.storing() == Storing::Filling {
            return Err(false);
        }
        if stats.worth_filling(Instant::now()) {
            return Err(true);
        }
        let reason = BypassReason::NotRepeating;
        scope.cache.metrics.bypass(reason);
        stats.on_bypass(reason);
        // A plain read has no session effects: what `session_control` looks for
        // (transaction ends, DEALLOCATE / DISCARD, isolation changes, `set_config`,
        // MySQL's SET forms and temporary tables) is never a plain read
        // (`plain_reads_have_no_session_effects`), so its scan is skipped here, on the
        // path of every call of a template that does not repeat.
        Ok(Decision::Forward {
            reason,
            effects: Effects::default(),
        })
    }
}

/// A read that may be cached as far as its text goes: no write, no function of
/// unknown or non-immutable volatility, nothing that makes it uncacheable.
pub(super) fn plain_read(c: &Classification) -> bool {
    c.kind == StatementKind::Read
        && c.uncacheable.is_none()
        && c.writes.is_empty()
        && !c.writes_unknown
        && c.unknown_functions.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Classifier, Dialect};

    /// What lets `skip_unrepeating` leave out `session_control`: no text that is a
    /// plain read has session effects, in any dialect. The texts are the ones
    /// `session_control` looks for, written as reads where a read can hold them.
    #[test]
    fn plain_reads_have_no_session_effects() {
        let texts = [
            "SELECT abalance FROM pgbench_accounts WHERE aid = 7",
            "select * from t where a = 1;",
            "SELECT set_config('search_path', 'x', false)",
            "SELECT pg_catalog.set_config('search_path', 'x', false) FROM t",
            "SELECT * FROM t WHERE v = (SELECT set_config('a', 'b', true))",
            "SELECT 1 FROM t; COMMIT",
            "SELECT 1 FROM t; ROLLBACK",
            "SELECT 1 FROM t; DISCARD ALL",
            "SELECT 1 FROM t; DEALLOCATE ALL",
            "SELECT 1 FROM t; SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "SELECT 1 FROM t; BEGIN ISOLATION LEVEL SERIALIZABLE",
            "SELECT 1 FROM t; START TRANSACTION",
            "SELECT 1 FROM t; SET @x = 1",
            "SELECT @x := 1 FROM t",
            "SELECT 1 FROM t; SET STATEMENT max_statement_time=1 FOR SELECT 1",
            "SELECT 1 FROM t; CREATE TEMPORARY TABLE t (a int)",
            "SELECT 1 FROM t; SET autocommit = 0",
            "COMMIT",
            "BEGIN",
            "START TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "DISCARD ALL",
            "SET search_path = x",
            "WITH a AS (SELECT 1 AS v FROM t) SELECT v FROM a",
            "SELECT name FROM items WHERE name = 'temporary isolation set_config'",
            "SELECT * FROM t FOR UPDATE",
        ];
        let mut plain = 0;
        for dialect in [
            Dialect::Postgres,
            Dialect::MySql,
            Dialect::MariaDb,
            Dialect::MsSql,
        ] {
            let classifier = Classifier::new(dialect);
            for sql in texts {
                let c = classifier.classify(sql);
                if !plain_read(&c.classification) {
                    continue;
                }
                plain += 1;
                let mut effects = Effects::default();
                crate::engine::effects::session_control_in(dialect, sql, &mut effects);
                // A literal that names a control word is harmless to leave out (it
                // changes nothing), but must be the only difference.
                let harmless = sql.contains("'temporary isolation set_config'");
                assert!(
                    effects.is_none() || harmless,
                    "{dialect:?}: {sql}: {effects:?}"
                );
            }
        }
        assert!(
            plain >= 8,
            "the corpus holds plain reads in every dialect: {plain}"
        );
    }

    const T: Thresholds = Thresholds {
        window: 100,
        min_calls: 400,
        min_hit_one_in: 20,
        admit_one_in: 2,
        admit_below_origin: Duration::from_millis(5),
        probe_every: 10,
        probe_after: Duration::from_secs(60),
    };

    /// Drives `n` calls; `hit(i)` says whether call `i` hits (hits are not planned,
    /// so only misses ask). Returns how many misses were filled.
    fn run(
        c: &Cacheability,
        calls: &mut Calls,
        n: u64,
        now: Instant,
        hit: impl Fn(u64) -> bool,
    ) -> u64 {
        let mut filled = 0;
        for i in 0..n {
            if hit(i) {
                calls.hits += 1;
            } else if c.fill(*calls, now, &T) {
                filled += 1;
            }
            calls.looked_up += 1;
        }
        filled
    }

    fn cacheability() -> Cacheability {
        let c = Cacheability::default();
        c.window_end.store(T.window, Ordering::Relaxed);
        c
    }

    #[test]
    fn unique_keys_stop_filling_after_min_calls_and_are_probed() {
        let c = cacheability();
        let now = Instant::now();
        let mut calls = Calls::default();
        assert_eq!(
            run(&c, &mut calls, T.min_calls, now, |_| false),
            T.min_calls
        );
        assert_eq!(c.storing(), Storing::Filling, "judged only past min_calls");
        let filled = run(&c, &mut calls, 1000, now, |_| false);
        assert_eq!(c.storing(), Storing::Skipping);
        // One miss in probe_every is still filled once skipping (after call 400).
        assert!((100..=110).contains(&filled), "{filled}");
    }

    #[test]
    fn mostly_missing_keys_are_admitted_on_a_second_miss() {
        let c = cacheability();
        let now = Instant::now();
        let mut calls = Calls::default();
        // One call in ten hits: above one in twenty, below one in two. Every miss is
        // still filled (the doorkeeper decides what is stored).
        assert_eq!(run(&c, &mut calls, T.min_calls, now, |i| i % 10 == 0), 360);
        assert_eq!(c.storing(), Storing::Filling, "judged only past min_calls");
        assert_eq!(run(&c, &mut calls, 5000, now, |i| i % 10 == 0), 4500);
        assert_eq!(c.storing(), Storing::Admitting);
    }

    #[test]
    fn a_far_origin_keeps_storing_every_miss() {
        let c = cacheability();
        let now = Instant::now();
        let mut calls = Calls {
            origin: T.admit_below_origin,
            ..Calls::default()
        };
        // One call in ten hits, as above; but each fill took the origin 5 ms.
        run(&c, &mut calls, 5000, now, |i| i % 10 == 0);
        assert_eq!(c.storing(), Storing::Filling);
    }

    #[test]
    fn admitted_misses_count_as_the_hits_they_would_have_been() {
        let c = cacheability();
        let now = Instant::now();
        let mut calls = Calls::default();
        run(&c, &mut calls, 1000, now, |i| i % 10 == 0);
        assert_eq!(c.storing(), Storing::Admitting);
        // Every key is read twice: with every miss stored, one call in two would hit;
        // admitting, none does, and every second read is admitted instead.
        for i in 0..1000_u64 {
            if i % 2 == 1 {
                calls.admitted += 1;
            }
            assert!(c.fill(calls, now, &T), "admitting fills every miss");
            calls.looked_up += 1;
        }
        assert_ne!(
            c.storing(),
            Storing::Skipping,
            "not judged as not repeating"
        );
        assert_eq!(
            c.storing(),
            Storing::Filling,
            "one in two: stores every miss again"
        );
        // One in five admitted (and no hit): still repeating, admitting.
        for i in 0..1000_u64 {
            if i % 5 == 0 {
                calls.admitted += 1;
            }
            c.fill(calls, now, &T);
            calls.looked_up += 1;
        }
        assert_eq!(c.storing(), Storing::Admitting);
    }

    #[test]
    fn repeating_keys_keep_filling() {
        let c = cacheability();
        let now = Instant::now();
        let mut calls = Calls::default();
        // Every other call hits: not fewer than one in two.
        run(&c, &mut calls, 5000, now, |i| i % 2 == 0);
        assert_eq!(c.storing(), Storing::Filling);
        // Fewer hits, then more again: admitting, then storing every miss again.
        run(&c, &mut calls, 500, now, |i| i % 4 == 0);
        assert_eq!(c.storing(), Storing::Admitting);
        run(&c, &mut calls, 500, now, |i| i % 3 != 0);
        assert_eq!(c.storing(), Storing::Filling);
    }

    #[test]
    fn skipping_then_a_few_hits_admits_rather_than_stores_all() {
        let c = cacheability();
        let now = Instant::now();
        let mut calls = Calls::default();
        run(&c, &mut calls, 600, now, |_| false);
        assert_eq!(c.storing(), Storing::Skipping);
        // One in ten hits: enough to fill again, not enough to store every miss.
        run(&c, &mut calls, 200, now, |i| i % 10 == 0);
        assert_eq!(c.storing(), Storing::Admitting);
    }

    #[test]
    fn hits_while_skipping_turn_filling_back_on() {
        let c = cacheability();
        let now = Instant::now();
        let mut calls = Calls::default();
        run(&c, &mut calls, 600, now, |_| false);
        assert_eq!(c.storing(), Storing::Skipping);
        // The workload changes: its keys repeat, probes filled them, they hit.
        run(&c, &mut calls, 250, now, |i| i % 2 == 0);
        assert_eq!(c.storing(), Storing::Filling);
    }

    #[test]
    fn a_time_probe_fills_a_whole_window_again() {
        let c = cacheability();
        let now = Instant::now();
        let mut calls = Calls::default();
        run(&c, &mut calls, 600, now, |_| false);
        assert_eq!(c.storing(), Storing::Skipping);
        let later = now + T.probe_after;
        // The first sampled miss past probe_after starts a window of filling.
        let filled = run(&c, &mut calls, T.window / 2, later, |_| false);
        assert_eq!(c.storing(), Storing::Filling);
        assert!(filled >= T.window / 2 - T.probe_every, "{filled}");
        // Still unique: skipping again at the end of that window.
        run(&c, &mut calls, T.window, later, |_| false);
        assert_eq!(c.storing(), Storing::Skipping);
    }

    #[test]
    fn storing_labels() {
        assert_eq!(Storing::Filling.as_str(), "filling");
        assert_eq!(Storing::Admitting.as_str(), "admitting");
        assert_eq!(Storing::Skipping.as_str(), "skipping");
        for s in [Storing::Filling, Storing::Admitting, Storing::Skipping] {
            assert_eq!(Storing::from_u8(s as u8), s);
        }
    }
}
