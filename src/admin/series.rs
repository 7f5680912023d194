//! The dashboard's time series: an in-process ring buffer per cache, sampled every
//! few seconds from the engine's counters, holding the last hour (bounded memory:
//! [`CAPACITY`] points per cache, each with at most [`BUSIEST`] template counts).
//! `/api/series` turns consecutive points into rates: hit ratio, queries per second,
//! hit and miss latency, time saved per second, and calls per template (the heat map).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::engine::{CacheCtx, Engine, TemplateStats};

/// How often the sampler runs.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// Points kept per cache: one hour at [`INTERVAL`].
pub const CAPACITY: usize = 720;
/// Templates whose calls each point remembers (the busiest of its interval).
pub const BUSIEST: usize = 12;
/// A connect error within this window marks the origin as failing.
const HEALTH_WINDOW_MS: u64 = 60_000;

/// Cumulative counters of one cache at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
struct Point {
    at_ms: u64,
    hits: u64,
    misses: u64,
    bypasses: u64,
    hit_count: u64,
    hit_sum_us: u64,
    miss_count: u64,
    miss_sum_us: u64,
    saved_us: u64,
    connect_errors: u64,
    /// (template ID, calls made since the previous point), busiest first.
    busiest: Vec<(u64, u64)>,
}

/// The ring buffers, and each template's calls at the last sample (to take deltas).
#[derive(Default)]
pub struct Series {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    points: HashMap<String, VecDeque<Point>>,
    last_calls: HashMap<(String, u64), u64>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn counters(c: &CacheCtx, templates: &[&TemplateStats], at_ms: u64) -> Point {
    let m = &c.metrics;
    Point {
        at_ms,
        hits: m.hits.load(Ordering::Relaxed),
        misses: m.misses.load(Ordering::Relaxed),
        bypasses: m.bypasses.iter().map(|b| b.load(Ordering::Relaxed)).sum(),
        hit_count: m.hit_latency.count(),
        hit_sum_us: m.hit_latency.sum_us(),
        miss_count: templates.iter().map(|t| t.origin_latency.count()).sum(),
        miss_sum_us: templates.iter().map(|t| t.origin_latency.sum_us()).sum(),
        saved_us: templates
            .iter()
            .map(|t| t.saved_us.load(Ordering::Relaxed))
            .sum(),
        connect_errors: m.origin_connect_errors.load(Ordering::Relaxed),
        busiest: Vec::new(),
    }
}

impl Series {
    /// Takes one point per cache now.
    pub fn sample(&self, engine: &Engine) {
        self.sample_at(engine, now_ms());
    }

    fn sample_at(&self, engine: &Engine, at_ms: u64) {
        let all = engine.templates().all();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = HashSet::new();
        for c in engine.caches().all() {
            let mine: Vec<&TemplateStats> = all
                .iter()
                .filter(|t| *t.cache == *c.id)
                .map(|t| &**t)
                .collect();
            let mut point = counters(c, &mine, at_ms);
            let mut deltas = Vec::new();
            for t in &mine {
                let calls = t.calls.load(Ordering::Relaxed);
                let key = (c.id.clone(), t.id);
                let before = inner.last_calls.insert(key.clone(), calls).unwrap_or(0);
                seen.insert(key);
                if calls > before {
                    deltas.push((t.id, calls - before));
                }
            }
            deltas.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            deltas.truncate(BUSIEST);
            point.busiest = deltas;
            let ring = inner.points.entry(c.id.clone()).or_default();
            if ring.len() >= CAPACITY {
                ring.pop_front();
            }
            ring.push_back(point);
        }
        inner.last_calls.retain(|k, _| seen.contains(k));
    }

    /// Whether the origin of `cache` had a failed connection attempt in the last minute.
    pub fn origin_failing(&self, cache: &str) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(ring) = inner.points.get(cache) else {
            return false;
        };
        let Some(last) = ring.back() else {
            return false;
        };
        let since = last.at_ms.saturating_sub(HEALTH_WINDOW_MS);
        ring.iter()
            .find(|p| p.at_ms >= since)
            .is_some_and(|first| last.connect_errors > first.connect_errors)
    }

    /// The rates between consecutive points of `cache`, oldest first; `None` for an
    /// unknown cache. Heat map rows are the busiest templates over the whole window.
    pub fn json(&self, engine: &Engine, cache: &str) -> Option<Value> {
        let c = engine.caches().by_id(cache)?;
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let empty = VecDeque::new();
        let ring = inner.points.get(&c.id).unwrap_or(&empty);
        let pairs: Vec<(&Point, &Point)> = ring.iter().zip(ring.iter().skip(1)).collect();
        let rates = Rates::of(&pairs);
        let heat = heat_map(engine, cache, &pairs);
        Some(json!({
            "cache": c.id,
            "interval_seconds": INTERVAL.as_secs_f64(),
            "t": rates.t,
            "hit_ratio": rates.hit_ratio,
            "qps": rates.qps,
            "hit_latency_ms": rates.hit_ms,
            "miss_latency_ms": rates.miss_ms,
            "saved_ms_per_second": rates.saved,
            "heat": heat,
        }))
    }
}

/// Columns of the time series; `None` where an interval had nothing to measure.
#[derive(Default)]
struct Rates {
    t: Vec<f64>,
    hit_ratio: Vec<Option<f64>>,
    qps: Vec<f64>,
    hit_ms: Vec<Option<f64>>,
    miss_ms: Vec<Option<f64>>,
    saved: Vec<f64>,
}

fn mean_ms(sum_us: u64, count: u64) -> Option<f64> {
    (count > 0).then(|| sum_us as f64 / count as f64 / 1e3)
}

impl Rates {
    fn of(pairs: &[(&Point, &Point)]) -> Rates {
        let mut r = Rates::default();
        for (a, b) in pairs {
            let secs = b.at_ms.saturating_sub(a.at_ms).max(1) as f64 / 1e3;
            let hits = b.hits.saturating_sub(a.hits);
            let total =
                hits + b.misses.saturating_sub(a.misses) + b.bypasses.saturating_sub(a.bypasses);
            r.t.push(b.at_ms as f64 / 1e3);
            r.hit_ratio
                .push((total > 0).then(|| hits as f64 / total as f64));
            r.qps.push(total as f64 / secs);
            r.hit_ms.push(mean_ms(
                b.hit_sum_us.saturating_sub(a.hit_sum_us),
                b.hit_count.saturating_sub(a.hit_count),
            ));
            r.miss_ms.push(mean_ms(
                b.miss_sum_us.saturating_sub(a.miss_sum_us),
                b.miss_count.saturating_sub(a.miss_count),
            ));
            r.saved
                .push(b.saved_us.saturating_sub(a.saved_us) as f64 / 1e3 / secs);
        }
        r
    }
}

/// Rows: the [`BUSIEST`] templates by calls over the window; cells: calls per interval.
fn heat_map(engine: &Engine, cache: &str, pairs: &[(&Point, &Point)]) -> Value {
    let mut totals: HashMap<u64, u64> = HashMap::new();
    for (_, b) in pairs {
        for (id, n) in &b.busiest {
            *totals.entry(*id).or_default() += n;
        }
    }
    let mut ids: Vec<(u64, u64)> = totals.into_iter().collect();
    ids.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ids.truncate(BUSIEST);
    let rows: Vec<Value> = ids
        .iter()
        .map(|(id, _)| {
            let text = engine
                .templates()
                .find(*id)
                .into_iter()
                .find(|t| *t.cache == *cache)
                .map(|t| t.text.to_string())
                .unwrap_or_default();
            let calls: Vec<u64> = pairs
                .iter()
                .map(|(_, b)| {
                    b.busiest
                        .iter()
                        .find(|(i, _)| i == id)
                        .map_or(0, |(_, n)| *n)
                })
                .collect();
            json!({ "id": format!("{id:016x}"), "template": text, "calls": calls })
        })
        .collect();
    Value::Array(rows)
}

#[cfg(test)]
#[path = "series_tests.rs"]
pub(crate) mod tests;
