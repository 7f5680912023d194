//! A template's cacheability against a real PostgreSQL: a template whose keys never
//! repeat stops being filled (its misses are forwarded, counted as `not_repeating`)
//! while one whose keys repeat keeps hitting; a write still invalidates what the
//! skipped template has stored; and when its keys start repeating, the probes fill
//! them and filling is turned back on. (Between the two, the doorkeeper: `admission`.)

use std::sync::Arc;

use crate::common;

use common::PgOrigin;
use common::proxy::Proxy;
use wirecache::engine::Storing;

const SKIPPED: &str = "wirecache_bypasses_total{cache=\"demo\",reason=\"not_repeating\"} ";
const STORED: &str = "wirecache_fills_total{cache=\"demo\",outcome=\"stored\"} ";

/// Runs `sql(i)` for every `i` in `range`, spread over `clients` sessions, one query
/// at a time per session (pipelined queries would not be looked up at all); returns
/// the text of every answer.
async fn run(
    proxy: &Proxy,
    db: &str,
    clients: usize,
    range: std::ops::Range<u64>,
    sql: fn(u64) -> String,
) -> Vec<String> {
    let mut tasks = Vec::new();
    let ids: Arc<Vec<u64>> = Arc::new(range.collect());
    for c in 0..clients {
        let client = proxy.connect(db, "postgres").await;
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in ids.iter().skip(c).step_by(clients) {
                let rows = client.simple_query(&sql(*i)).await.expect("query");
                out.push(first_column(&rows));
            }
            out
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all
}

/// The first column of every row, joined by commas.
fn first_column(messages: &[tokio_postgres::SimpleQueryMessage]) -> String {
    let values: Vec<&str> = messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0),
            _ => None,
        })
        .collect();
    values.join(",")
}

fn storing(proxy: &Proxy, needle: &str) -> Option<Storing> {
    proxy
        .engine()
        .templates()
        .all()
        .into_iter()
        .find(|t| t.text.contains(needle))
        .map(|t| t.storing())
}

fn unique(i: u64) -> String {
    format!("SELECT name FROM items WHERE id = {i}")
}

fn hot(i: u64) -> String {
    format!("SELECT qty FROM items WHERE id = {}", i % 50)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_keys_stop_filling_repeating_keys_keep_hitting_and_probes_recover() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("cacheability");
    origin.psql(
        &db,
        "CREATE TABLE items (id bigint PRIMARY KEY, name text, qty int);
         INSERT INTO items SELECT g, 'item' || g, g FROM generate_series(0, 99) g;",
    );
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;

    // Unique keys: filled until the template is judged (8,192 calls), then skipped.
    run(&proxy, &db, 4, 0..9_000, unique).await;
    assert_eq!(storing(&proxy, "select name"), Some(Storing::Skipping));
    let (stored0, skipped0) = (proxy.metric(STORED).await, proxy.metric(SKIPPED).await);
    run(&proxy, &db, 4, 9_000..12_000, unique).await;
    let stored = proxy.metric(STORED).await - stored0;
    let skipped = proxy.metric(SKIPPED).await - skipped0;
    // One miss in 64 is still filled as a probe.
    assert!(stored <= 3_000.0 / 64.0 + 4.0, "stored {stored}");
    assert!(
        skipped >= 3_000.0 - 3_000.0 / 64.0 - 4.0,
        "skipped {skipped}"
    );

    // A repeating template alongside keeps filling and hitting.
    let hits0 = proxy.hits().await;
    run(&proxy, &db, 4, 0..9_000, hot).await;
    assert_eq!(storing(&proxy, "select qty"), Some(Storing::Filling));
    assert!(proxy.hits().await - hits0 >= 8_900.0);

    // Skipped or not, a write invalidates what the template stored: id 1 was filled
    // before the template was skipped.
    let c = proxy.connect(&db, "postgres").await;
    let before = c.simple_query(&unique(1)).await.unwrap();
    assert_eq!(first_column(&before), "item1");
    c.simple_query("UPDATE items SET name = 'renamed' WHERE id = 1")
        .await
        .unwrap();
    let after = c.simple_query(&unique(1)).await.unwrap();
    assert_eq!(first_column(&after), "renamed");

    // The workload changes: the unique template's keys now repeat. Probes fill them,
    // they hit, and the next window turns filling back on.
    let hits0 = proxy.hits().await;
    // (Two windows: the first may still end with few hits, admitting.)
    let answers = run(&proxy, &db, 4, 0..5_000, |i| unique(i % 8)).await;
    // Judged at the first miss past the window (none while every call hits).
    c.simple_query(&unique(5_000)).await.unwrap();
    assert_eq!(storing(&proxy, "select name"), Some(Storing::Filling));
    assert!(proxy.hits().await - hits0 >= 4_000.0);
    assert!(answers.iter().all(|a| a != "item1"), "stale row 1 served");
    assert!(answers.iter().any(|a| a == "renamed"));
}
