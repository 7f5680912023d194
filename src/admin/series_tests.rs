//! Unit tests of the dashboard's ring buffer: rates, bounds, heat map, health.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::*;
use crate::classify::Template;

pub(crate) fn engine() -> Engine {
    let toml = r#"
[listen]
postgres = "127.0.0.1:0"
mysql = "127.0.0.1:0"
[cache]
max_memory = "8MiB"
[[caches]]
id = "demo"
protocol = "postgres"
origin = "127.0.0.1:1"
[[caches]]
id = "shop"
protocol = "mysql"
origin = "127.0.0.1:2"
"#;
    let config = crate::config::from_str(toml, Vec::new()).unwrap_or_else(|e| panic!("{e:?}"));
    Engine::new(&config)
}

fn cache(engine: &Engine, id: &str) -> std::sync::Arc<CacheCtx> {
    engine
        .caches()
        .by_id(id)
        .cloned()
        .unwrap_or_else(|| panic!("no cache {id}"))
}

fn template(engine: &Engine, cache_id: &str, id: u64) -> std::sync::Arc<TemplateStats> {
    let c = cache(engine, cache_id);
    let t = Template {
        id,
        text: format!("select {id}").into(),
    };
    engine.templates().get_or_register(&c.key, &t, &c.bounds)
}

#[test]
fn rates_come_from_consecutive_points() {
    let e = engine();
    let s = Series::default();
    let demo = cache(&e, "demo");
    let t = template(&e, "demo", 1);
    s.sample_at(&e, 10_000);
    demo.metrics.hits.fetch_add(30, Ordering::Relaxed);
    demo.metrics.misses.fetch_add(10, Ordering::Relaxed);
    demo.metrics.hit_latency.record(Duration::from_micros(100));
    demo.metrics.hit_latency.record(Duration::from_micros(300));
    t.origin_latency.record(Duration::from_millis(4));
    t.calls.fetch_add(40, Ordering::Relaxed);
    t.saved_us.fetch_add(50_000, Ordering::Relaxed);
    s.sample_at(&e, 15_000);
    let v = s.json(&e, "demo").unwrap_or_default();
    assert_eq!(v["t"], json!([15.0]));
    assert_eq!(v["hit_ratio"], json!([0.75]));
    assert_eq!(v["qps"], json!([8.0]));
    assert_eq!(v["hit_latency_ms"], json!([0.2]));
    assert_eq!(v["miss_latency_ms"], json!([4.0]));
    assert_eq!(v["saved_ms_per_second"], json!([10.0]));
    assert_eq!(v["heat"][0]["id"], "0000000000000001");
    assert_eq!(v["heat"][0]["calls"], json!([40]));
    // A quiet interval: no ratio and no latency to show, zero rates.
    s.sample_at(&e, 20_000);
    let v = s.json(&e, "demo").unwrap_or_default();
    assert_eq!(v["hit_ratio"], json!([0.75, null]));
    assert_eq!(v["qps"], json!([8.0, 0.0]));
    assert_eq!(v["heat"][0]["calls"], json!([40, 0]));
    // The other cache saw nothing; an unknown cache has no series.
    assert_eq!(
        s.json(&e, "shop").unwrap_or_default()["qps"],
        json!([0.0, 0.0])
    );
    assert!(s.json(&e, "nope").is_none());
}

#[test]
fn memory_is_bounded() {
    let e = engine();
    let s = Series::default();
    let ts: Vec<_> = (1..=40).map(|i| template(&e, "demo", i)).collect();
    for round in 0..(CAPACITY as u64 + 50) {
        for (i, t) in ts.iter().enumerate() {
            t.calls.fetch_add(i as u64 + 1, Ordering::Relaxed);
        }
        s.sample_at(&e, round * 5_000);
    }
    let inner = s.inner.lock().unwrap_or_else(|e| e.into_inner());
    for ring in inner.points.values() {
        assert_eq!(ring.len(), CAPACITY);
        assert!(ring.iter().all(|p| p.busiest.len() <= BUSIEST));
    }
    drop(inner);
    let v = s.json(&e, "demo").unwrap_or_default();
    let heat = v["heat"].as_array().cloned().unwrap_or_default();
    assert_eq!(heat.len(), BUSIEST);
    // Busiest first: template 40 made the most calls.
    assert_eq!(heat[0]["id"], "0000000000000028");
    assert_eq!(heat[0]["template"], "select 40");
}

#[test]
fn connect_errors_mark_the_origin_failing_for_a_minute() {
    let e = engine();
    let s = Series::default();
    assert!(!s.origin_failing("demo"));
    s.sample_at(&e, 1_000);
    cache(&e, "demo")
        .metrics
        .origin_connect_errors
        .fetch_add(1, Ordering::Relaxed);
    s.sample_at(&e, 6_000);
    assert!(s.origin_failing("demo"));
    assert!(!s.origin_failing("shop"));
    s.sample_at(&e, 70_000);
    assert!(!s.origin_failing("demo"));
}
