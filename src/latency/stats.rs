//! Pure statistics of `wirecache latency-test`: percentiles (nearest rank) of a set
//! of latencies, log-spaced histogram buckets shared by two runs, and the text bars
//! that draw them. No clock and no I/O: everything here is tested with tables.

use std::time::Duration;

use serde::Serialize;

/// The distribution of one run's latencies, in microseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub min_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

/// One histogram bucket: latencies in `[lo_us, hi_us)` (the last one includes `hi_us`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    pub lo_us: f64,
    pub hi_us: f64,
    pub count: usize,
}

/// The nearest-rank percentile `p` (0–100) of ascending `sorted`: the smallest
/// value with at least `p`% of the values at or below it. `None` when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted.get(rank.clamp(1, n) - 1).copied()
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Summarises `samples` (any order). `None` when there are none.
pub fn summarize(samples: &[Duration]) -> Option<Summary> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let at = |p| percentile(&sorted, p).map(micros);
    let total: f64 = sorted.iter().copied().map(micros).sum();
    Some(Summary {
        count: sorted.len(),
        min_us: micros(*sorted.first()?),
        p50_us: at(50.0)?,
        p90_us: at(90.0)?,
        p99_us: at(99.0)?,
        max_us: micros(*sorted.last()?),
        mean_us: total / sorted.len() as f64,
    })
}

/// `buckets` log-spaced bucket edges spanning every sample of every run given, so
/// that two runs drawn with the same edges can be compared bar by bar. Empty when
/// there are no samples; one bucket when all samples are equal.
pub fn log_edges(runs: &[&[Duration]], buckets: usize) -> Vec<f64> {
    let all = runs.iter().flat_map(|r| r.iter().copied().map(micros));
    let (lo, hi) = all.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() || buckets == 0 {
        return Vec::new();
    }
    // A zero latency cannot start a log scale: 0.01 µs is below any real one.
    let lo = lo.max(0.01);
    if hi <= lo {
        return vec![lo, lo];
    }
    let step = (hi / lo).ln() / buckets as f64;
    let mut edges: Vec<f64> = (0..buckets).map(|i| lo * (step * i as f64).exp()).collect();
    edges.push(hi);
    edges
}

/// Counts `samples` into the buckets between consecutive `edges` (ascending).
/// Values below the first edge go to the first bucket, above the last to the last.
pub fn histogram(samples: &[Duration], edges: &[f64]) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = edges
        .windows(2)
        .filter_map(|w| match w {
            [lo, hi] => Some(Bucket {
                lo_us: *lo,
                hi_us: *hi,
                count: 0,
            }),
            _ => None,
        })
        .collect();
    let last = out.len().saturating_sub(1);
    for v in samples.iter().copied().map(micros) {
        let i = out.iter().position(|b| v < b.hi_us).unwrap_or(last);
        if let Some(b) = out.get_mut(i) {
            b.count += 1;
        }
    }
    out
}

/// A bar of `#` proportional to `count / max`, at most `width` long; a non-zero
/// count always gets at least one `#`.
pub fn bar(count: usize, max: usize, width: usize) -> String {
    if count == 0 || max == 0 {
        return String::new();
    }
    let len = (count * width).div_ceil(max).clamp(1, width);
    "#".repeat(len)
}

/// A latency for humans: `850ns`, `12.3µs`, `4.56ms`, `1.23s`.
pub fn human_us(us: f64) -> String {
    if us < 1.0 {
        format!("{:.0}ns", us * 1000.0)
    } else if us < 1000.0 {
        format!("{us:.1}µs")
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1000.0)
    } else {
        format!("{:.2}s", us / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&x| Duration::from_micros(x)).collect()
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let cases: &[(&[u64], f64, Option<u64>)] = &[
            (&[], 50.0, None),
            (&[7], 0.0, Some(7)),
            (&[7], 50.0, Some(7)),
            (&[7], 100.0, Some(7)),
            (&[1, 2], 50.0, Some(1)),
            (&[1, 2], 51.0, Some(2)),
            (&[1, 2, 3, 4], 50.0, Some(2)),
            (&[1, 2, 3, 4], 75.0, Some(3)),
            (&[1, 2, 3, 4], 76.0, Some(4)),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90.0, Some(9)),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99.0, Some(10)),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.0, Some(1)),
            (&[1, 2, 3], 150.0, Some(3)),
            (&[1, 2, 3], -5.0, Some(1)),
        ];
        for (samples, p, want) in cases {
            let got = percentile(&us(samples), *p);
            assert_eq!(got, want.map(Duration::from_micros), "{samples:?} p{p}");
        }
    }

    #[test]
    fn percentile_of_a_hundred() {
        let samples: Vec<u64> = (1..=100).collect();
        let sorted = us(&samples);
        for (p, want) in [(50.0, 50), (90.0, 90), (99.0, 99), (100.0, 100), (1.0, 1)] {
            assert_eq!(percentile(&sorted, p), Some(Duration::from_micros(want)));
        }
    }

    #[test]
    fn summaries() {
        assert_eq!(summarize(&[]), None);
        let cases: &[(&[u64], [f64; 7])] = &[
            (&[5], [1.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]),
            (&[30, 10, 20], [3.0, 10.0, 20.0, 30.0, 30.0, 30.0, 20.0]),
            (&[4, 1, 3, 2], [4.0, 1.0, 2.0, 4.0, 4.0, 4.0, 2.5]),
        ];
        for (samples, [count, min, p50, p90, p99, max, mean]) in cases {
            let s = summarize(&us(samples)).expect("samples");
            let got = [
                s.count as f64,
                s.min_us,
                s.p50_us,
                s.p90_us,
                s.p99_us,
                s.max_us,
                s.mean_us,
            ];
            let want = [*count, *min, *p50, *p90, *p99, *max, *mean];
            assert_eq!(got, want, "{samples:?}");
        }
    }

    #[test]
    fn edges_span_all_runs_log_spaced() {
        assert!(log_edges(&[], 4).is_empty());
        assert!(log_edges(&[&[]], 4).is_empty());
        assert!(log_edges(&[&us(&[5])], 0).is_empty());
        assert_eq!(log_edges(&[&us(&[5, 5])], 4), vec![5.0, 5.0]);
        let a = us(&[10, 100]);
        let b = us(&[1000]);
        let e = log_edges(&[&a, &b], 2);
        assert_eq!(e.len(), 3);
        assert!((e[0] - 10.0).abs() < 1e-9, "{e:?}");
        assert!((e[1] - 100.0).abs() < 1e-6, "{e:?}");
        assert_eq!(e[2], 1000.0);
        let zero = log_edges(&[&[Duration::ZERO, Duration::from_micros(1)]], 2);
        assert_eq!(zero.first(), Some(&0.01));
    }

    #[test]
    fn histogram_counts_every_sample_once() {
        let cases: &[(&[u64], &[f64], &[usize])] = &[
            (&[], &[1.0, 2.0], &[0]),
            (&[1, 2, 3], &[], &[]),
            (&[1], &[1.0, 2.0, 4.0], &[1, 0]),
            (&[2], &[1.0, 2.0, 4.0], &[0, 1]),
            (&[4], &[1.0, 2.0, 4.0], &[0, 1]),
            (&[9, 0], &[1.0, 2.0, 4.0], &[1, 1]),
            (&[1, 1, 3, 3, 3], &[1.0, 2.0, 4.0], &[2, 3]),
            (&[5, 5], &[5.0, 5.0], &[2]),
        ];
        for (samples, edges, want) in cases {
            let h = histogram(&us(samples), edges);
            let counts: Vec<usize> = h.iter().map(|b| b.count).collect();
            assert_eq!(&counts, want, "{samples:?} in {edges:?}");
        }
    }

    #[test]
    fn bars_and_units() {
        for (count, max, width, want) in [
            (0, 10, 20, ""),
            (1, 0, 20, ""),
            (10, 10, 20, "####################"),
            (5, 10, 20, "##########"),
            (1, 1000, 20, "#"),
            (3, 3, 2, "##"),
        ] {
            assert_eq!(bar(count, max, width), want, "{count}/{max} in {width}");
        }
        for (us, want) in [
            (0.25, "250ns"),
            (12.34, "12.3µs"),
            (4560.0, "4.56ms"),
            (1_230_000.0, "1.23s"),
        ] {
            assert_eq!(human_us(us), want);
        }
    }
}
