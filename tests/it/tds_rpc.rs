//! RPC requests through wirecache to the test TDS origin (which runs them on the
//! private PostgreSQL with real bound parameters): tiberius's parameterized queries
//! (`sp_executesql`) with every parameter type it sends, in and out of transactions,
//! and python-tds and pymssql with parameters. Hits are proven by the origin's own
//! count of the SELECTs it ran. The prepare family and hostile requests, on raw
//! connections, are in `tds_rpc_raw`. SQL Server itself is not tested here.

use std::path::Path;
use std::process::Command;

use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use crate::common::PgOrigin;
use crate::common::mysql::run_blocking;
use crate::common::pg::password_for;
use crate::common::proxy::{Protocol, Proxy};
use crate::common::tds_origin::{TdsOrigin, USER, database};

pub type Tds = Client<Compat<TcpStream>>;

pub async fn setup() -> (String, TdsOrigin, Proxy) {
    let db = database();
    let origin = TdsOrigin::start(PgOrigin::shared().port).await;
    let proxy = Proxy::builder()
        .cache("sq", Protocol::MsSql, origin.port())
        .start()
        .await;
    (db, origin, proxy)
}

pub async fn tiberius(proxy: &Proxy, db: &str) -> Tds {
    let port = proxy.addr(Protocol::MsSql).port();
    let mut config = Config::new();
    config.host("127.0.0.1");
    config.port(port);
    config.database(db);
    config.authentication(AuthMethod::sql_server(
        format!("sq-{USER}"),
        password_for(USER),
    ));
    config.encryption(EncryptionLevel::NotSupported);
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    Client::connect(config, tcp.compat_write()).await.unwrap()
}

/// `SELECT id, name FROM t WHERE id = @P1` through sp_executesql.
pub async fn by_id(c: &mut Tds, id: i32) -> Vec<(i32, Option<String>)> {
    let rows = c
        .query("SELECT id, name FROM t WHERE id = @P1", &[&id])
        .await
        .unwrap()
        .into_first_result()
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.get::<i32, _>(0).unwrap(),
                r.get::<&str, _>(1).map(str::to_string),
            )
        })
        .collect()
}

#[tokio::test]
async fn tiberius_parameterized_reads_are_cached_per_value() {
    let (db, origin, proxy) = setup().await;
    let mut a = tiberius(&proxy, &db).await;
    let mut b = tiberius(&proxy, &db).await;
    assert_eq!(by_id(&mut a, 2).await, vec![(2, Some("two".into()))]);
    let selects = origin.selects();
    assert_eq!(by_id(&mut a, 2).await, vec![(2, Some("two".into()))]);
    assert_eq!(by_id(&mut b, 2).await, vec![(2, Some("two".into()))]);
    assert_eq!(origin.selects(), selects, "served from the cache");
    assert!(origin.rpcs() >= 1, "tiberius sent RPC requests");
    // Another value is another key.
    assert_eq!(by_id(&mut b, 1).await, vec![(1, Some("one".into()))]);
    assert_eq!(origin.selects(), selects + 1);
    // A text parameter, and a NULL column in the answer.
    for _ in 0..2 {
        let rows = a
            .query(
                "SELECT id FROM t WHERE name = @P1 OR id = @P2",
                &[&"one", &3i32],
            )
            .await
            .unwrap()
            .into_first_result()
            .await
            .unwrap();
        let ids: Vec<i32> = rows.iter().map(|r| r.get(0).unwrap()).collect();
        assert_eq!(ids.len(), 2);
    }
    assert_eq!(origin.selects(), selects + 2);
    assert!(proxy.hits_of("sq").await >= 3.0);
}

#[tokio::test]
async fn a_write_through_rpc_invalidates_and_the_read_sees_it() {
    let (db, origin, proxy) = setup().await;
    let mut a = tiberius(&proxy, &db).await;
    let mut w = tiberius(&proxy, &db).await;
    assert_eq!(by_id(&mut a, 2).await, vec![(2, Some("two".into()))]);
    assert_eq!(by_id(&mut a, 2).await, vec![(2, Some("two".into()))]);
    let selects = origin.selects();
    let done = w
        .execute("UPDATE t SET name = @P1 WHERE id = @P2", &[&"dos", &2i32])
        .await
        .unwrap();
    assert_eq!(done.total(), 1);
    assert_eq!(by_id(&mut a, 2).await, vec![(2, Some("dos".into()))]);
    assert_eq!(origin.selects(), selects + 1, "the entry was invalidated");
    let inserted = w
        .execute("INSERT INTO t VALUES (@P1, @P2)", &[&7i32, &"seven"])
        .await
        .unwrap();
    assert_eq!(inserted.total(), 1);
    assert_eq!(by_id(&mut a, 7).await, vec![(7, Some("seven".into()))]);
}

async fn python(driver: &str) {
    let (db, origin, proxy) = setup().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/tds_rpc_check.py");
    let port = proxy.addr(Protocol::MsSql).port().to_string();
    let login = format!("sq-{USER}");
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .args([driver, "127.0.0.1", &port, &login, &password_for(USER), &db]);
    let (ok, out, err) = run_blocking(cmd).await;
    assert!(ok && out.ends_with("ok"), "{driver}:\n{out}\n{err}");
    // 7 reads: 3 of one value, 2 of another, one more, one after the write.
    assert_eq!(origin.selects(), 4, "{driver}: the repeats were hits");
    assert!(proxy.hits_of("sq").await >= 3.0);
    // python-tds sends parameters as sp_executesql RPCs (the 4 reads that missed and
    // the write reached the origin); pymssql substitutes them into a SQLBatch.
    let rpcs = if driver == "pytds" { 5 } else { 0 };
    assert_eq!(origin.rpcs(), rpcs, "{driver}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tds_with_parameters() {
    python("pytds").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymssql_with_parameters() {
    python("pymssql").await;
}

/// A request marked RESETCONNECTION may not be answered from the cache, and its
/// answer is never stored under the key of the request before it.
/// A procedure called by name through RPC (here PostgreSQL's procedure of that name)
/// may write anything: what was cached from its database is invalidated.
/// A request whose ALL_HEADERS transaction descriptor is not the one the origin
/// reported (none is open here) is not answered from the cache.
/// tiberius inside a transaction: its RPCs carry the transaction's descriptor; a read
/// after the transaction's write reaches the origin and sees it; others see the old
/// value from the cache until the commit, and the new one after.
#[tokio::test]
async fn rpc_reads_in_a_transaction_see_its_writes_and_the_commit_invalidates() {
    let (db, origin, proxy) = setup().await;
    let mut w = tiberius(&proxy, &db).await;
    let mut r = tiberius(&proxy, &db).await;
    assert_eq!(by_id(&mut r, 2).await, vec![(2, Some("two".into()))]);
    assert_eq!(by_id(&mut w, 2).await, vec![(2, Some("two".into()))]);
    w.simple_query("BEGIN TRAN")
        .await
        .unwrap()
        .into_results()
        .await
        .unwrap();
    w.execute("UPDATE t SET name = @P1 WHERE id = @P2", &[&"tx", &2i32])
        .await
        .unwrap();
    let selects = origin.selects();
    assert_eq!(by_id(&mut w, 2).await, vec![(2, Some("tx".into()))]);
    assert_eq!(
        origin.selects(),
        selects + 1,
        "read in the transaction: origin"
    );
    assert_eq!(by_id(&mut r, 2).await, vec![(2, Some("two".into()))]);
    w.simple_query("COMMIT TRAN")
        .await
        .unwrap()
        .into_results()
        .await
        .unwrap();
    assert_eq!(by_id(&mut r, 2).await, vec![(2, Some("tx".into()))]);
}

/// Parameters of the types tiberius sends (bit, float, NVARCHAR(MAX) in PLP chunks,
/// a NULL int, uniqueidentifier, decimal, varbinary) are decoded, keyed by their
/// bytes, and bound at the origin: the read is cached, and a change in any one value
/// is another entry.
#[tokio::test]
async fn parameters_of_every_type_tiberius_sends_are_keyed_and_bound() {
    use tiberius::numeric::Numeric;
    use tiberius::{ToSql, Uuid};
    let (db, origin, proxy) = setup().await;
    let mut c = tiberius(&proxy, &db).await;
    let sql = "SELECT id, name FROM t WHERE id = @P1 AND @P2 = true AND @P3 > 0.5 \
               AND @P4 LIKE 'x%' AND @P5 IS NULL \
               AND CAST(@P6 AS text) = '67e55044-10b1-426f-9247-bb680e5fe0c8' \
               AND @P7 = 12.34 AND @P8 IS NOT NULL";
    let uuid = Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
    let dec = Numeric::new_with_scale(1234, 2);
    let bytes = vec![1u8, 2, 3];
    let none: Option<i32> = None;
    let mut selects = Vec::new();
    for last in ['x', 'x', 'y', 'y'] {
        let long = format!("{}{last}", "x".repeat(5000));
        let params: [&dyn ToSql; 8] = [&2i32, &true, &0.75f64, &long, &none, &uuid, &dec, &bytes];
        let rows = c
            .query(sql, &params)
            .await
            .unwrap()
            .into_first_result()
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get::<&str, _>(1), Some("two"));
        selects.push(origin.selects());
    }
    let first = selects[0];
    assert_eq!(selects, vec![first, first, first + 1, first + 1]);
}
