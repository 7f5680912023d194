//! A template's cacheability against a real PostgreSQL: a template whose keys never
//! repeat stops being filled (its misses are forwarded, counted as `not_repeating`)
//! while one whose keys repeat keeps hitting; a write still invalidates what the
//! skipped template has stored; and when its keys start repeating, the probes fill
//! them and filling is turned back on. A template most of whose calls miss stores a
//! result only at its key's second miss (the doorkeeper), still invalidated by
//! writes, and stores every miss again once its keys repeat.

use std::sync::Arc;

use crate::common;

use common::PgOrigin;
use common::proxy::Proxy;
use wirecache::engine::Storing;

const SKIPPED: &str = "wirecache_bypasses_total{cache=\"demo\",reason=\"not_repeating\"} ";
const STORED: &str = "wirecache_fills_total{cache=\"demo\",outcome=\"stored\"} ";
const NOT_ADMITTED: &str = "wirecache_fills_total{cache=\"demo\",outcome=\"not_admitted\"} ";

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

/// A key space of 30,000 read at random (a fixed sequence): after 10,000 calls about
/// a fifth of the calls hit, fewer than one in two.
fn scattered(i: u64) -> String {
    // splitmix64's finalizer: repeats as random draws do.
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let id = (z ^ (z >> 31)) % 30_000;
    format!("SELECT id, qty FROM items WHERE id = {id}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mostly_missing_keys_are_stored_at_their_second_miss_and_still_invalidated() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("admission");
    origin.psql(
        &db,
        "CREATE TABLE items (id bigint PRIMARY KEY, name text, qty int);
         INSERT INTO items SELECT g, 'item' || g, g FROM generate_series(0, 99) g;",
    );
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
    let hits0 = proxy.hits().await;
    run(&proxy, &db, 4, 0..10_000, scattered).await;
    let hit_ratio = (proxy.hits().await - hits0) / 10_000.0;
    assert!((0.05..0.5).contains(&hit_ratio), "hit ratio {hit_ratio}");
    assert_eq!(storing(&proxy, "qty from items"), Some(Storing::Admitting));

    // Keys never read before (no such rows: empty results are cached too): the first
    // miss is not stored, the second is, the third hits.
    let c = proxy.connect(&db, "postgres").await;
    let keys: Vec<String> = (0..20)
        .map(|k| format!("SELECT id, qty FROM items WHERE id = {}", 50_000 + k))
        .collect();
    for (round, (stored, refused, hits)) in [(0.0, 20.0, 0.0), (20.0, 0.0, 0.0), (0.0, 0.0, 20.0)]
        .into_iter()
        .enumerate()
    {
        let (s0, n0, h0) = (
            proxy.metric(STORED).await,
            proxy.metric(NOT_ADMITTED).await,
            proxy.hits().await,
        );
        for sql in &keys {
            assert_eq!(first_column(&c.simple_query(sql).await.unwrap()), "");
        }
        let got = (
            proxy.metric(STORED).await - s0,
            proxy.metric(NOT_ADMITTED).await - n0,
            proxy.hits().await - h0,
        );
        assert_eq!(got, (stored, refused, hits), "round {round}");
    }

    // An entry stored through the doorkeeper is invalidated like any other.
    let row = "SELECT id, qty FROM items WHERE id = 5";
    let qty = |m: &[tokio_postgres::SimpleQueryMessage]| -> String {
        m.iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(1).map(str::to_owned),
                _ => None,
            })
            .unwrap_or_default()
    };
    for _ in 0..3 {
        assert_eq!(qty(&c.simple_query(row).await.unwrap()), "5");
    }
    let h0 = proxy.hits().await;
    assert_eq!(qty(&c.simple_query(row).await.unwrap()), "5");
    assert_eq!(proxy.hits().await - h0, 1.0, "stored at its second miss");
    c.simple_query("UPDATE items SET qty = -1 WHERE id = 5")
        .await
        .unwrap();
    assert_eq!(
        qty(&c.simple_query(row).await.unwrap()),
        "-1",
        "stale row served"
    );

    // Its keys start repeating: a window with hits in one call of two or more
    // stores every miss again (judged at the first miss past the window).
    run(&proxy, &db, 4, 0..5_000, |i| scattered(i % 16)).await;
    c.simple_query(&scattered(20_000)).await.unwrap();
    assert_eq!(storing(&proxy, "qty from items"), Some(Storing::Filling));
}
