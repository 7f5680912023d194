//! Query intelligence against a real PostgreSQL (design §5): templates and their
//! figures, learned TTLs, single-flight, refresh ahead, rules (config and runtime),
//! cache modes, purge, explain, and the admin API's token.

use crate::common;

use std::time::{Duration, Instant};

use common::PgOrigin;
use common::proxy::{Proxy, http, origin_calls};
use serde_json::Value;
use tokio_postgres::Client;

const TOKEN: &str = "test-token";

async fn setup(
    prefix: &str,
    extra: &str,
    demo_extra: &str,
    tail: &str,
) -> (&'static PgOrigin, String, Proxy) {
    let origin = PgOrigin::shared();
    let db = origin.create_db(prefix);
    origin.psql(
        &db,
        "CREATE TABLE items (id int PRIMARY KEY, name text);
         INSERT INTO items SELECT g, 'item' || g FROM generate_series(1, 100) g;
         SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0);",
    );
    let proxy = Proxy::builder()
        .postgres_demo(origin.port)
        .settings(extra)
        .cache_lines("demo", demo_extra)
        .toml(tail)
        .start()
        .await;
    (origin, db, proxy)
}

async fn get_json(proxy: &Proxy, path: &str) -> Value {
    let (status, body) = http(proxy.admin(), "GET", path, None, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn name(c: &Client, id: i32) -> String {
    c.query_one("SELECT name FROM items WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0)
}

fn template_of<'a>(templates: &'a Value, needle: &str) -> &'a Value {
    templates["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["template"].as_str().unwrap().contains(needle))
        .unwrap_or_else(|| panic!("no template with {needle:?} in {templates}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_differing_in_constants_share_a_template_with_figures() {
    let (_o, db, proxy) = setup("templates", "", "", "").await;
    let c = proxy.connect(&db, "postgres").await;
    for id in [1, 2, 3, 1, 2, 3] {
        c.simple_query(&format!("SELECT name FROM items WHERE id = {id}"))
            .await
            .unwrap();
    }
    c.simple_query("SELECT count(*) FROM items").await.unwrap();
    let all = get_json(&proxy, "/api/templates?cache=demo").await;
    let t = template_of(&all, "select name from items where id = ?");
    assert_eq!(t["calls"], 6);
    assert_eq!(t["hits"], 3);
    assert_eq!(t["misses"], 3);
    assert_eq!(t["entries"], 3);
    assert_eq!(t["tables"], serde_json::json!(["items"]));
    assert!(t["time_saved_ms"].as_f64().unwrap() > 0.0);
    assert!(t["origin_latency_ms"]["p50"].as_f64().unwrap() > 0.0);
    // Sorted by time saved: the template with hits comes first.
    assert_eq!(all["templates"][0]["id"], t["id"]);
    let one = get_json(
        &proxy,
        &format!("/api/templates/{}", t["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(one["templates"][0]["calls"], 6);
    let caches = get_json(&proxy, "/api/caches").await;
    let demo = &caches["caches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "demo")
        .unwrap();
    assert_eq!(demo["hits"], 3);
    assert_eq!(demo["mode"], "auto");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ttl_grows_while_results_are_unchanged_and_shrinks_on_unexplained_change() {
    // Start at 200ms; bounds 100ms..10s.
    let (origin, db, proxy) = setup(
        "learn",
        "min_ttl = \"100ms\"\nmax_ttl = \"10s\"",
        "ttl = \"200ms\"",
        "",
    )
    .await;
    let c = proxy.connect(&db, "postgres").await;
    let ttl = |v: &Value| {
        template_of(v, "where id = ?")["ttl_seconds"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(name(&c, 5).await, "item5");
    assert_eq!(ttl(&get_json(&proxy, "/api/templates").await), 0.2);
    // Refetched after expiry, unchanged: the TTL doubles each time.
    for expected in [0.4, 0.8] {
        let current = ttl(&get_json(&proxy, "/api/templates").await);
        tokio::time::sleep(Duration::from_secs_f64(current + 0.15)).await;
        assert_eq!(name(&c, 5).await, "item5");
        assert_eq!(ttl(&get_json(&proxy, "/api/templates").await), expected);
    }
    // Changed behind wirecache's back: the next refetch shrinks it to a quarter.
    origin.psql(&db, "UPDATE items SET name = 'changed' WHERE id = 5");
    tokio::time::sleep(Duration::from_secs_f64(0.95)).await;
    assert_eq!(name(&c, 5).await, "changed");
    assert_eq!(ttl(&get_json(&proxy, "/api/templates").await), 0.2);
    // A write through wirecache is explained: no TTL penalty beyond the write's own.
    c.execute("UPDATE items SET name = 'again' WHERE id = 5", &[])
        .await
        .unwrap();
    assert_eq!(name(&c, 5).await, "again");
    let after_write = ttl(&get_json(&proxy, "/api/templates").await);
    assert!((0.15..=0.2).contains(&after_write), "{after_write}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_misses_execute_once() {
    let (origin, db, proxy) = setup("flight", "", "", "").await;
    origin.psql(
        &db,
        "CREATE TABLE slow AS SELECT g AS n FROM generate_series(1, 2000000) g;",
    );
    origin.psql(&db, "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)");
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(proxy.connect(&db, "postgres").await);
    }
    let q = "SELECT count(*) FROM slow s1 WHERE s1.n % 7 = 3";
    let runs = clients
        .iter()
        .map(|c| async move { c.query_one(q, &[]).await.unwrap().get::<_, i64>(0) });
    let results = futures_util::future::join_all(runs).await;
    assert!(results.iter().all(|r| *r == results[0]));
    assert_eq!(origin_calls(origin, &db, "FROM slow s1"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_entries_are_refreshed_ahead_of_expiry() {
    // A pinned TTL of 6 s: the refresh window is its last fifth, 4.8 s to 6 s.
    let rule = "[[rules]]\npattern = \"*from items where id*\"\nttl = \"6s\"\n";
    let (origin, db, proxy) = setup("refresh", "", "", rule).await;
    let c = proxy.connect(&db, "postgres").await;
    let q = "SELECT name FROM items WHERE id = 9";
    let stmt = c
        .prepare("SELECT name FROM items WHERE id = $1")
        .await
        .unwrap();
    let bound = |id: i32| {
        let (c, stmt) = (&c, &stmt);
        async move { c.query_one(stmt, &[&id]).await.unwrap().get::<_, String>(0) }
    };
    // Simple and extended protocol: a fill and a hit each.
    let filled = Instant::now();
    for _ in 0..2 {
        c.simple_query(q).await.unwrap();
        assert_eq!(bound(10).await, "item10");
    }
    assert_eq!(proxy.refreshes().await, 0.0);
    // In the last fifth of an entry's life, a hit triggers one background refresh.
    // A session runs one refresh at a time (a hit while one is in flight leaves the
    // refresh to a later hit), so the second hit waits until the first is stored.
    let refreshes = "wirecache_refreshes_total{cache=\"demo\"} ";
    let stored = "wirecache_fills_total{cache=\"demo\",outcome=\"stored\"} ";
    let stored_before = proxy.metric(stored).await;
    tokio::time::sleep_until((filled + Duration::from_millis(5000)).into()).await;
    c.simple_query(q).await.unwrap();
    proxy.wait_for_metric(refreshes, 1.0).await;
    proxy.wait_for_metric(stored, stored_before + 1.0).await;
    assert_eq!(bound(10).await, "item10");
    proxy.wait_for_metric(refreshes, 2.0).await;
    proxy.wait_for_metric(stored, stored_before + 2.0).await;
    // Refreshed entries are not refreshed again by further hits in the same window.
    c.simple_query(q).await.unwrap();
    assert_eq!(bound(10).await, "item10");
    // The refreshed entries outlive the originals: still hits past the first expiry,
    // with the right answers.
    tokio::time::sleep_until((filled + Duration::from_millis(6500)).into()).await;
    let hits = proxy.hits().await;
    c.simple_query(q).await.unwrap();
    assert_eq!(bound(10).await, "item10");
    assert_eq!(proxy.hits().await, hits + 2.0);
    assert_eq!(proxy.refreshes().await, 2.0);
    // Each query ran at the origin twice: its fill and its refresh.
    assert_eq!(origin_calls(origin, &db, "FROM items WHERE id"), 4);
    // The client's own prepared statement still works after the refreshes.
    assert_eq!(bound(11).await, "item11");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_rules_pin_forbid_and_force() {
    let rules = "[[rules]]\ntable = \"items\"\npattern = \"*count*\"\naction = \"never\"\n\n\
                 [[rules]]\npattern = \"select now ( )*\"\naction = \"always\"\nttl = \"30s\"\n\n\
                 [[rules]]\ntable = \"items\"\nttl = \"7s\"\n";
    let (_o, db, proxy) = setup("rules", "", "", rules).await;
    let c = proxy.connect(&db, "postgres").await;
    for _ in 0..2 {
        c.simple_query("SELECT count(*) FROM items").await.unwrap();
    }
    assert_eq!(proxy.hits().await, 0.0, "action never");
    let a = c.simple_query("SELECT now()").await.unwrap();
    let b = c.simple_query("SELECT now()").await.unwrap();
    assert_eq!(
        format!("{a:?}"),
        format!("{b:?}"),
        "action always caches now()"
    );
    assert_eq!(proxy.hits().await, 1.0);
    let body = r#"{"cache": "demo", "sql": "SELECT name FROM items WHERE id = 1"}"#;
    let (_, explained) = http(proxy.admin(), "POST", "/api/explain", None, Some(body)).await;
    let explained: Value = serde_json::from_str(&explained).unwrap();
    assert_eq!(explained["ttl_seconds"], 7.0, "the pinned TTL");
    let rules = get_json(&proxy, "/api/rules").await;
    assert_eq!(rules["rules"].as_array().unwrap().len(), 3);
    assert_eq!(rules["rules"][2]["ttl"], "7s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_and_off_modes() {
    let rule = "[[rules]]\ncache = \"demo\"\npattern = \"*where id = ?*\"\nttl = \"10s\"\n";
    let (_o, db, proxy) = setup("modes", "", "mode = \"manual\"", rule).await;
    let c = proxy.connect(&db, "postgres").await;
    for _ in 0..2 {
        c.simple_query("SELECT name FROM items WHERE id = 1")
            .await
            .unwrap();
        c.simple_query("SELECT count(*) FROM items").await.unwrap();
    }
    assert_eq!(
        proxy.hits().await,
        1.0,
        "manual: only the rule's query is cached"
    );
    let off = Proxy::builder()
        .postgres_demo(PgOrigin::shared().port)
        .cache_lines("demo", "mode = \"off\"")
        .start()
        .await;
    let c = off.connect(&db, "postgres").await;
    for _ in 0..3 {
        c.simple_query("SELECT name FROM items WHERE id = 1")
            .await
            .unwrap();
    }
    assert_eq!(off.hits().await, 0.0);
    assert_eq!(
        off.metric("wirecache_bypasses_total{cache=\"demo\",reason=\"rule_says_no\"} ")
            .await,
        3.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_rules_purge_and_the_token() {
    let (origin, db, proxy) =
        setup("admin", "", "", &format!("[admin]\ntoken = \"{TOKEN}\"\n")).await;
    let c = proxy.connect(&db, "postgres").await;
    let never = r#"{"rules": [{"table": "items", "action": "never"}]}"#;
    let (status, _) = http(proxy.admin(), "PUT", "/api/rules", None, Some(never)).await;
    assert_eq!(status, 401);
    let (status, _) = http(
        proxy.admin(),
        "PUT",
        "/api/rules",
        Some("wrong"),
        Some(never),
    )
    .await;
    assert_eq!(status, 401);
    let bad = r#"{"rules": [{"action": "never"}, {"table": "t", "action": "cache"}]}"#;
    let (status, body) = http(proxy.admin(), "PUT", "/api/rules", Some(TOKEN), Some(bad)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("rules[0]") && body.contains("rules[1]"),
        "{body}"
    );
    // Cached first, then a runtime rule forbids it.
    name(&c, 3).await;
    name(&c, 3).await;
    assert_eq!(proxy.hits().await, 1.0);
    let (status, body) = http(proxy.admin(), "PUT", "/api/rules", Some(TOKEN), Some(never)).await;
    assert_eq!(status, 200, "{body}");
    name(&c, 4).await;
    name(&c, 4).await;
    assert_eq!(proxy.hits().await, 1.0, "the new rule applies at once");
    let (status, _) = http(
        proxy.admin(),
        "PUT",
        "/api/rules",
        Some(TOKEN),
        Some(r#"{"rules": []}"#),
    )
    .await;
    assert_eq!(status, 200);
    // Purge by template: the cached entry for id 3 is gone.
    let all = get_json(&proxy, "/api/templates").await;
    let id = template_of(&all, "where id = ?")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = origin_calls(origin, &db, "FROM items WHERE id");
    let purge = format!(r#"{{"template": "{id}"}}"#);
    let (status, _) = http(proxy.admin(), "POST", "/api/purge", None, Some(&purge)).await;
    assert_eq!(status, 401);
    let (status, body) = http(
        proxy.admin(),
        "POST",
        "/api/purge",
        Some(TOKEN),
        Some(&purge),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    name(&c, 3).await;
    assert_eq!(origin_calls(origin, &db, "FROM items WHERE id"), before + 1);
    // Purge by table and everything.
    name(&c, 3).await;
    for body in [r#"{"table": "public.items"}"#, r#"{"cache": "demo"}"#, "{}"] {
        let (status, resp) =
            http(proxy.admin(), "POST", "/api/purge", Some(TOKEN), Some(body)).await;
        assert_eq!(status, 200, "{resp}");
        let before = origin_calls(origin, &db, "FROM items WHERE id");
        name(&c, 3).await;
        assert_eq!(
            origin_calls(origin, &db, "FROM items WHERE id"),
            before + 1,
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutating_endpoints_are_refused_without_a_configured_token() {
    let (_o, _db, proxy) = setup("notoken", "", "", "").await;
    let (status, body) = http(
        proxy.admin(),
        "POST",
        "/api/purge",
        Some("anything"),
        Some("{}"),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = http(
        proxy.admin(),
        "PUT",
        "/api/rules",
        Some("x"),
        Some(r#"{"rules": []}"#),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_answers_why_not() {
    let (_o, _db, proxy) = setup("explain", "", "", "").await;
    let ask = |sql: &str| {
        let body = serde_json::json!({ "cache": "demo", "sql": sql }).to_string();
        let admin = proxy.admin();
        async move {
            let (status, body) = http(admin, "POST", "/api/explain", None, Some(&body)).await;
            assert_eq!(status, 200, "{body}");
            serde_json::from_str::<Value>(&body).unwrap()
        }
    };
    let now = ask("SELECT now()").await;
    assert_eq!(now["cacheable"], false);
    assert_eq!(now["reason"], "non_immutable_function");
    let read = ask("SELECT name FROM items WHERE id = 42").await;
    assert_eq!(read["cacheable"], true);
    assert_eq!(read["template"], "select name from items where id = ?");
    assert_eq!(read["tables_read"], serde_json::json!(["items"]));
    assert_eq!(read["needs_catalog"], serde_json::json!(["relation items"]));
    let write = ask("DELETE FROM items").await;
    assert_eq!(write["reason"], "not_a_read");
    assert_eq!(write["tables_written"], serde_json::json!(["items"]));
    let (status, _) = http(
        proxy.admin(),
        "POST",
        "/api/explain",
        None,
        Some(r#"{"cache": "nope", "sql": "x"}"#),
    )
    .await;
    assert_eq!(status, 404);
}
