//! The doorkeeper against both real origins, as text and prepared, through
//! pass-through and pooled sessions: a template most
//! of whose calls miss (fewer hits than one in two) stores a result only at its key's
//! second miss; what it stores is invalidated by writes like anything else; and once
//! its keys repeat, every miss is stored again. (Judgements need 8,192 calls, so the
//! randomized checker, whose templates see far fewer, never reaches this state.)

use crate::common::origin::{Client, Origin, Via, exec, int};
use crate::common::proxy::Proxy;
use wirecache::engine::Storing;

const STORED: &str = "wirecache_fills_total{cache=\"demo\",outcome=\"stored\"} ";
const NOT_ADMITTED: &str = "wirecache_fills_total{cache=\"demo\",outcome=\"not_admitted\"} ";

/// The read of `id` (rows exist for ids below 100; past them the answer is empty,
/// which is cached as well).
fn read(id: u64) -> String {
    format!("SELECT v FROM adm WHERE id = {id}")
}

/// A key space of 30,000 read at random (a fixed sequence: splitmix64's finalizer):
/// over the first 10,000 calls about a sixth hit, a fifth in the window judged last.
fn scattered(i: u64) -> u64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % 30_000
}

fn storing(proxy: &Proxy) -> Option<Storing> {
    let templates = proxy.engine().templates().all();
    templates
        .iter()
        .find(|t| t.text.to_lowercase().contains("from adm where"))
        .map(|t| t.storing())
}

async fn counts(proxy: &Proxy) -> [f64; 3] {
    [
        proxy.metric(NOT_ADMITTED).await,
        proxy.metric(STORED).await,
        proxy.hits().await,
    ]
}

async fn second_miss_admission<O: Origin>() {
    let origin = O::shared();
    let db = origin.create_db("adm");
    origin.run(&db, "CREATE TABLE adm (id int PRIMARY KEY, v bigint)");
    let rows: Vec<String> = (0..100).map(|i| format!("({i}, {i})")).collect();
    origin.run(&db, &format!("INSERT INTO adm VALUES {}", rows.join(", ")));
    let proxy = origin.proxy().settings("min_ttl = \"30s\"").start().await;
    let mut c = O::connect(&proxy, &db).await;

    let hits0 = proxy.hits().await;
    for i in 0..10_000 {
        c.query(Via::Text, &read(scattered(i)), &[]).await.unwrap();
    }
    let ratio = (proxy.hits().await - hits0) / 10_000.0;
    assert!(
        (0.05..0.5).contains(&ratio),
        "{}: hit ratio {ratio}",
        O::NAME
    );
    assert_eq!(storing(&proxy), Some(Storing::Admitting), "{}", O::NAME);

    // Keys not read before, each way: the first miss is turned away, the second
    // stored, the third hits.
    for (n, via) in [Via::Text, Via::Prepared].into_iter().enumerate() {
        let keys: Vec<String> = (0..10).map(|k| read(50_000 + 100 * n as u64 + k)).collect();
        for (round, want) in [[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]]
            .into_iter()
            .enumerate()
        {
            let before = counts(&proxy).await;
            for sql in &keys {
                assert!(c.query(via, sql, &[]).await.unwrap().is_empty());
                // What the driver sends on its own after a prepared query (a Close)
                // is answered first: the next query is not pipelined behind it.
                c.settle().await;
            }
            let after = counts(&proxy).await;
            let got: Vec<f64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
            assert_eq!(got, want, "{} {via:?} round {round}", O::NAME);
        }
    }

    // What the doorkeeper let in is invalidated like anything else.
    let row = read(5);
    for _ in 0..2 {
        assert_eq!(int(&mut c, Via::Text, &row).await, 5);
    }
    let h0 = proxy.hits().await;
    assert_eq!(int(&mut c, Via::Text, &row).await, 5);
    assert_eq!(
        proxy.hits().await - h0,
        1.0,
        "{}: stored at its second miss",
        O::NAME
    );
    exec(&mut c, Via::Text, "UPDATE adm SET v = -1 WHERE id = 5").await;
    assert_eq!(
        int(&mut c, Via::Text, &row).await,
        -1,
        "{}: stale row",
        O::NAME
    );

    // Its keys start repeating: judged at the first miss past a window where at
    // least one call in two hit, every miss is stored again.
    for i in 0..5_000 {
        c.query(Via::Text, &read(scattered(i % 16)), &[])
            .await
            .unwrap();
    }
    c.query(Via::Text, &read(40_000), &[]).await.unwrap();
    assert_eq!(storing(&proxy), Some(Storing::Filling), "{}", O::NAME);
}

crate::for_each_origin!(with_pooled: second_miss_admission);
