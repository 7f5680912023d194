//! SQL Server clients through wirecache (tiberius, plaintext TDS) to the test origin
//! (`common::tds_origin`, a TDS server executing on the private PostgreSQL): login,
//! reads served twice with the origin's own counter proving the hit, writes
//! invalidating, transactions, an unknown cache ID, messages larger than a packet.
//! SQL Server itself is not tested here: none can run on this machine.

use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use crate::common::PgOrigin;
use crate::common::pg::password_for;
use crate::common::proxy::{Protocol, Proxy};
use crate::common::tds_origin::{TdsOrigin, USER, database};

type Tds = Client<Compat<TcpStream>>;

async fn try_connect(port: u16, login: &str, db: &str) -> tiberius::Result<Tds> {
    let mut config = Config::new();
    config.host("127.0.0.1");
    config.port(port);
    config.database(db);
    config.authentication(AuthMethod::sql_server(login, password_for(USER)));
    config.encryption(EncryptionLevel::NotSupported);
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    Client::connect(config, tcp.compat_write()).await
}

async fn connect(port: u16, login: &str, db: &str) -> Tds {
    try_connect(port, login, db).await.unwrap()
}

/// The first result's rows as (id, name).
async fn rows(c: &mut Tds, sql: &str) -> Vec<(i32, Option<String>)> {
    let rows = c
        .simple_query(sql)
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

async fn exec(c: &mut Tds, sql: &str) {
    c.simple_query(sql)
        .await
        .unwrap()
        .into_results()
        .await
        .unwrap();
}

async fn setup() -> (String, TdsOrigin, Proxy) {
    let db = database();
    let origin = TdsOrigin::start(PgOrigin::shared().port).await;
    let proxy = Proxy::builder()
        .cache("sq", Protocol::MsSql, origin.port())
        .start()
        .await;
    (db, origin, proxy)
}

#[tokio::test]
async fn the_test_origin_serves_tiberius_directly() {
    let db = database();
    let origin = TdsOrigin::start(PgOrigin::shared().port).await;
    let mut c = connect(origin.port(), USER, &db).await;
    let got = rows(&mut c, "SELECT id, name FROM t ORDER BY id").await;
    assert_eq!(
        got,
        vec![(1, Some("one".into())), (2, Some("two".into())), (3, None)]
    );
    assert_eq!(origin.selects(), 1);
}

#[tokio::test]
async fn a_read_is_served_twice_and_a_write_invalidates_it() {
    let (db, origin, proxy) = setup().await;
    let port = proxy.addr(Protocol::MsSql).port();
    let mut a = connect(port, &format!("sq-{USER}"), &db).await;
    let mut b = connect(port, &format!("sq-{USER}"), &db).await;
    let q = "SELECT id, name FROM t WHERE id <= 2 ORDER BY id";
    let first = rows(&mut a, q).await;
    assert_eq!(
        first,
        vec![(1, Some("one".into())), (2, Some("two".into()))]
    );
    let before = origin.selects();
    assert_eq!(rows(&mut a, q).await, first, "same answer from the cache");
    assert_eq!(rows(&mut b, q).await, first, "and for another connection");
    assert_eq!(origin.selects(), before, "the origin ran no SELECT: hits");
    exec(&mut b, "UPDATE t SET name = 'uno' WHERE id = 1").await;
    let after = rows(&mut a, q).await;
    assert_eq!(after[0], (1, Some("uno".into())), "the write invalidated");
    assert_eq!(origin.selects(), before + 1);
}

#[tokio::test]
async fn a_transaction_reads_its_own_writes_and_commits_for_everyone() {
    let (db, origin, proxy) = setup().await;
    let port = proxy.addr(Protocol::MsSql).port();
    let login = format!("sq-{USER}");
    let mut w = connect(port, &login, &db).await;
    let mut r = connect(port, &login, &db).await;
    let q = "SELECT id, name FROM t WHERE id = 2";
    assert_eq!(rows(&mut r, q).await, vec![(2, Some("two".into()))]);
    exec(&mut w, "BEGIN TRAN").await;
    exec(&mut w, "UPDATE t SET name = 'dos' WHERE id = 2").await;
    let selects = origin.selects();
    assert_eq!(
        rows(&mut w, q).await,
        vec![(2, Some("dos".into()))],
        "its own write"
    );
    assert_eq!(
        origin.selects(),
        selects + 1,
        "read at the origin, not the cache"
    );
    assert_eq!(
        rows(&mut r, q).await,
        vec![(2, Some("two".into()))],
        "another session never sees the uncommitted write, from the cache or not"
    );
    exec(&mut w, "COMMIT TRAN").await;
    assert_eq!(
        rows(&mut r, q).await,
        vec![(2, Some("dos".into()))],
        "after COMMIT"
    );
    exec(
        &mut w,
        "BEGIN TRAN; UPDATE t SET name = 'zwei' WHERE id = 2",
    )
    .await;
    exec(&mut w, "ROLLBACK TRAN").await;
    assert_eq!(
        rows(&mut r, q).await,
        vec![(2, Some("dos".into()))],
        "rolled back"
    );
}

#[tokio::test]
async fn an_unknown_cache_id_is_refused_without_reaching_the_origin() {
    let (db, origin, proxy) = setup().await;
    let port = proxy.addr(Protocol::MsSql).port();
    let Err(err) = try_connect(port, &format!("nosuch-{USER}"), &db).await else {
        panic!("login with an unknown cache ID accepted");
    };
    let text = err.to_string();
    assert!(text.contains("no mssql cache matches login name"), "{text}");
    assert_eq!(origin.logins(), 0);
}

#[tokio::test]
async fn answers_and_requests_larger_than_a_packet() {
    let (db, origin, proxy) = setup().await;
    let port = proxy.addr(Protocol::MsSql).port();
    let mut c = connect(port, &format!("sq-{USER}"), &db).await;
    let long = "x".repeat(20_000);
    exec(&mut c, &format!("INSERT INTO t VALUES (4, '{long}')")).await;
    let q = format!(
        "SELECT id, name FROM t WHERE id = 4 AND name <> '{}'",
        "y".repeat(5_000)
    );
    let first = rows(&mut c, &q).await;
    assert_eq!(first, vec![(4, Some(long.clone()))]);
    let selects = origin.selects();
    assert_eq!(rows(&mut c, &q).await, first);
    assert_eq!(
        origin.selects(),
        selects,
        "the 40 KB answer came from the cache"
    );
}

#[tokio::test]
async fn errors_are_never_cached() {
    let (db, origin, proxy) = setup().await;
    let port = proxy.addr(Protocol::MsSql).port();
    let mut c = connect(port, &format!("sq-{USER}"), &db).await;
    for _ in 0..2 {
        let r = c.simple_query("SELECT id FROM missing_table").await;
        let failed = match r {
            Err(_) => true,
            Ok(s) => s.into_results().await.is_err(),
        };
        assert!(failed, "the origin's error reaches the client");
    }
    assert_eq!(origin.selects(), 2, "both went to the origin");
    assert_eq!(
        rows(&mut c, "SELECT id, name FROM t WHERE id = 1")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_write_whose_trigger_writes_elsewhere_invalidates_the_database() {
    let (db, origin, proxy) = setup().await;
    PgOrigin::shared().psql(
        &db,
        &format!(
            "CREATE TABLE audit (id int);
             CREATE FUNCTION audit_t() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN UPDATE t SET name = 'audited' WHERE id = 1; RETURN NEW; END $$;
             CREATE TRIGGER audit_trg AFTER INSERT ON audit FOR EACH ROW EXECUTE FUNCTION audit_t();
             GRANT ALL ON audit TO {USER};"
        ),
    );
    let port = proxy.addr(Protocol::MsSql).port();
    let mut c = connect(port, &format!("sq-{USER}"), &db).await;
    let q = "SELECT id, name FROM t WHERE id = 1";
    assert_eq!(rows(&mut c, q).await, vec![(1, Some("one".into()))]);
    assert_eq!(rows(&mut c, q).await, vec![(1, Some("one".into()))]);
    assert_eq!(origin.selects(), 1, "cached");
    exec(&mut c, "INSERT INTO audit VALUES (1)").await;
    assert_eq!(rows(&mut c, q).await, vec![(1, Some("audited".into()))]);
}

#[tokio::test]
async fn a_set_option_gives_the_session_its_own_entries() {
    let (db, origin, proxy) = setup().await;
    let port = proxy.addr(Protocol::MsSql).port();
    let login = format!("sq-{USER}");
    let mut a = connect(port, &login, &db).await;
    let mut b = connect(port, &login, &db).await;
    let q = "SELECT id, name FROM t WHERE id = 3";
    rows(&mut a, q).await;
    exec(&mut b, "SET DATEFORMAT dmy").await;
    rows(&mut b, q).await;
    assert_eq!(origin.selects(), 2, "b's options differ: not a's entry");
    rows(&mut b, q).await;
    assert_eq!(origin.selects(), 2, "but its own entry serves it again");
}
