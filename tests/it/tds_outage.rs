//! SQL Server (TDS) sessions through an origin outage (issue 17), against the test TDS
//! origin behind a link that can be cut: a session at rest stays open and answers its
//! cached reads, everything else gets error 40613 at once (the session goes on); a
//! session in a transaction is closed; new logins get 40613 too; once the origin is
//! back the offline session closes and new ones work. `query_timeout`: the origin query
//! is cancelled with an Attention of wirecache's own, the client gets an error naming
//! the timeout, and the session goes on.

use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use crate::common::PgOrigin;
use crate::common::pg::password_for;
use crate::common::proxy::{Protocol, Proxy, http_get};
use crate::common::tds_origin::{TdsOrigin, USER, database};
use crate::outage::guarded;
use crate::outage::link::Link;

type Tds = Client<Compat<TcpStream>>;

async fn try_connect(proxy: &Proxy, db: &str) -> tiberius::Result<Tds> {
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
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    Client::connect(config, tcp.compat_write()).await
}

/// The names of the first result's rows.
async fn names(c: &mut Tds, sql: &str) -> tiberius::Result<Vec<Option<String>>> {
    let rows = c.simple_query(sql).await?.into_first_result().await?;
    Ok(rows
        .iter()
        .map(|r| r.get::<&str, _>(0).map(str::to_string))
        .collect())
}

/// The server error number of `e`, if the server sent one.
fn code(e: &tiberius::error::Error) -> Option<u32> {
    match e {
        tiberius::error::Error::Server(t) => Some(t.code()),
        _ => None,
    }
}

const HIT: &str = "SELECT name FROM t WHERE id = 2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_origin_leaves_cached_reads_answered_and_refuses_the_rest() {
    let db = database();
    let origin = TdsOrigin::start(PgOrigin::shared().port).await;
    let link = Link::start(origin.port()).await;
    let proxy = Proxy::builder()
        .cache_with("sq", Protocol::MsSql, link.port, "serve_stale = \"1h\"")
        .start()
        .await;
    let mut c = try_connect(&proxy, &db).await.unwrap();
    let mut in_txn = try_connect(&proxy, &db).await.unwrap();
    for _ in 0..2 {
        assert_eq!(names(&mut c, HIT).await.unwrap(), [Some("two".into())]);
    }
    assert_eq!(origin.selects(), 1, "the second read was a hit");
    in_txn.simple_query("BEGIN TRAN").await.unwrap();
    names(&mut in_txn, "SELECT name FROM t WHERE id = 1")
        .await
        .unwrap();

    link.cut();
    proxy
        .wait_for_metric("wirecache_sessions_offline_total{cache=\"sq\"} ", 1.0)
        .await;
    let selects = origin.selects();
    let hit = guarded("hit", names(&mut c, HIT)).await.unwrap();
    assert_eq!(hit, [Some("two".into())]);
    for sql in [
        "SELECT name FROM t WHERE id = 3",
        "UPDATE t SET name = 'zwei' WHERE id = 2",
    ] {
        let e = guarded(sql, names(&mut c, sql)).await.unwrap_err();
        assert_eq!(code(&e), Some(40613), "{sql}: {e:?}");
    }
    let hit = guarded("hit after errors", names(&mut c, HIT))
        .await
        .unwrap();
    assert_eq!(hit, [Some("two".into())], "still served after errors");
    assert_eq!(origin.selects(), selects, "nothing reached the origin");
    assert_eq!(
        proxy
            .metric("wirecache_unavailable_total{cache=\"sq\"} ")
            .await,
        2.0
    );
    // In a transaction: the session is closed.
    assert!(
        guarded("in txn", names(&mut in_txn, HIT)).await.is_err(),
        "a session in a transaction cannot go on"
    );
    // A new login cannot reach the origin.
    let e = guarded("login", try_connect(&proxy, &db))
        .await
        .unwrap_err();
    assert_eq!(code(&e), Some(40613), "transient, not a bad login: {e:?}");
    let ready = http_get(proxy.admin(), "/readyz").await;
    assert!(ready.contains("cache sq: origin down since"), "{ready}");

    link.restore().await;
    guarded("offline session closes once the origin is back", async {
        while names(&mut c, HIT).await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    let mut c2 = guarded("login after recovery", try_connect(&proxy, &db))
        .await
        .unwrap();
    let now = names(&mut c2, HIT).await.unwrap();
    assert_eq!(now, [Some("two".into())], "the refused write never ran");
}

/// The test origin runs a request to its end before it reads the Attention, then
/// acknowledges it: with `query_timeout` 2 s, a 3 s query is cancelled at 2 s and its
/// answer and the acknowledgement (at 3 s) come before wirecache gives up (at 4 s).
const SLOW: &str = "SELECT 7 AS x FROM pg_sleep(3)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_timeout_cancels_with_an_attention_and_the_session_goes_on() {
    let db = database();
    let origin = TdsOrigin::start(PgOrigin::shared().port).await;
    let proxy = Proxy::builder()
        .cache("sq", Protocol::MsSql, origin.port())
        .settings("query_timeout = \"2s\"")
        .start()
        .await;
    let mut c = try_connect(&proxy, &db).await.unwrap();
    let e = guarded("timed out query", names(&mut c, SLOW))
        .await
        .unwrap_err();
    assert_eq!(code(&e), Some(50000), "{e:?}");
    assert!(e.to_string().contains("query_timeout"), "{e}");
    // The answer after it is its own: neither the cancelled answer nor the
    // acknowledgement leaked into it.
    let next = guarded("next query", names(&mut c, HIT)).await.unwrap();
    assert_eq!(next, [Some("two".into())]);
    let next = guarded("another", names(&mut c, "SELECT name FROM t WHERE id = 1"))
        .await
        .unwrap();
    assert_eq!(next, [Some("one".into())]);
    let series = |m: &str| format!("wirecache_{m}_total{{cache=\"sq\"}} ");
    assert_eq!(proxy.metric(&series("query_timeouts")).await, 1.0);
    assert_eq!(proxy.metric(&series("cancellations")).await, 1.0);
}

/// An origin that answers nothing more (a stalled network): the Attention goes
/// unanswered, and one `query_timeout` later the session ends with the timeout error
/// instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_origin_ends_the_session_with_the_timeout_error() {
    let db = database();
    let origin = TdsOrigin::start(PgOrigin::shared().port).await;
    let link = Link::start(origin.port()).await;
    let proxy = Proxy::builder()
        .cache("sq", Protocol::MsSql, link.port)
        .settings("query_timeout = \"1s\"")
        .start()
        .await;
    let mut c = try_connect(&proxy, &db).await.unwrap();
    // wirecache learns the table from the origin's catalog while it answers.
    names(&mut c, "SELECT name FROM t WHERE id = 1")
        .await
        .unwrap();
    link.stall();
    let e = guarded("stalled query", names(&mut c, HIT))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("query_timeout"), "{e}");
    assert!(
        guarded("after", names(&mut c, HIT)).await.is_err(),
        "the session ended"
    );
}

/// The same before wirecache knows the table: its own catalog query to the stalled
/// origin is bounded too, and the session ends instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_origin_ends_a_session_waiting_for_a_catalog_answer() {
    let db = database();
    let origin = TdsOrigin::start(PgOrigin::shared().port).await;
    let link = Link::start(origin.port()).await;
    let proxy = Proxy::builder()
        .cache("sq", Protocol::MsSql, link.port)
        .settings("query_timeout = \"1s\"")
        .start()
        .await;
    let mut c = try_connect(&proxy, &db).await.unwrap();
    link.stall();
    let e = guarded("stalled query", names(&mut c, HIT))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("query_timeout"), "{e}");
}

/// Offline, by hand-built requests: an entry past its TTL is served within
/// `serve_stale`, and an Attention (sent with a request that needs the origin) is
/// acknowledged after that request's error 40613, with no origin to ask.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_stale_entries_are_served_and_an_attention_is_acknowledged() {
    use crate::common::tds_raw::{Raw, batch, has_text, is_error};
    use tokio::io::AsyncWriteExt;
    use wirecache::protocol::tds::codec::{Kind, message};
    use wirecache::protocol::tds::tokens::DONE_ATTN;

    let db = database();
    let origin = TdsOrigin::start(PgOrigin::shared().port).await;
    let link = Link::start(origin.port()).await;
    let proxy = Proxy::builder()
        .cache_with(
            "sq",
            Protocol::MsSql,
            link.port,
            "ttl = \"1s\"\nserve_stale = \"1h\"",
        )
        .start()
        .await;
    let mut c = Raw::connect(&proxy, &db).await;
    for _ in 0..2 {
        c.send(Kind::SqlBatch, &batch(HIT)).await;
        assert!(has_text(&c.answer().await.payload, "two"));
    }
    assert_eq!(origin.selects(), 1, "the second read was a hit");
    link.cut();
    proxy
        .wait_for_metric("wirecache_sessions_offline_total{cache=\"sq\"} ", 1.0)
        .await;
    // Past the entry's TTL (not a timing assertion: the entry only has to expire).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    c.send(Kind::SqlBatch, &batch(HIT)).await;
    let stale = guarded("stale hit", c.answer()).await;
    assert!(has_text(&stale.payload, "two"), "{:?}", stale.payload);
    let series = "wirecache_stale_served_total{cache=\"sq\"} ";
    assert_eq!(proxy.metric(series).await, 1.0);

    let mut both = message(Kind::SqlBatch, &batch("SELECT id FROM t"), 4096).to_vec();
    both.extend_from_slice(&message(Kind::Attention, &[], 4096));
    c.s.write_all(&both).await.unwrap();
    let refused = guarded("miss", c.answer()).await;
    assert!(is_error(&refused.payload), "{:?}", refused.payload);
    assert_eq!(refused.payload[3..7], 40613i32.to_le_bytes());
    let ack = guarded("attention", c.answer()).await;
    assert_eq!(
        ack.payload.first(),
        Some(&0xFD),
        "a DONE: {:?}",
        ack.payload
    );
    let status = u16::from_le_bytes([ack.payload[1], ack.payload[2]]);
    assert_ne!(status & DONE_ATTN, 0, "the acknowledgement");
    c.send(Kind::SqlBatch, &batch(HIT)).await;
    assert!(has_text(&guarded("hit", c.answer()).await.payload, "two"));
}
