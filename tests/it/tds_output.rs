//! T-SQL `OUTPUT` clauses through wirecache's SQL Server listener (issue 17), against
//! the test origin (`common::tds_origin`, which runs `OUTPUT` as PostgreSQL's
//! `RETURNING`, and `OUTPUT … INTO` as a data-modifying CTE): a write that returns
//! rows invalidates exactly its table, plus its `INTO` table, and is never cached.
//! The origin's own SELECT counter proves each hit and each miss. SQL Server itself
//! is not tested: none can run here. Also the small client helpers the other
//! `tds_*` tests of issue 17 share.

use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use crate::common::PgOrigin;
use crate::common::pg::password_for;
use crate::common::proxy::{Protocol, Proxy};
use crate::common::tds_origin::{TdsOrigin, USER, database};

pub type Tds = Client<Compat<TcpStream>>;

/// A test database (`database()`, plus `setup_sql` run as the superuser), the test
/// origin, and wirecache in front of it as cache `sq`.
pub async fn setup(setup_sql: &str) -> (String, TdsOrigin, Proxy) {
    let db = database();
    PgOrigin::shared().psql(&db, setup_sql);
    let origin = TdsOrigin::start(PgOrigin::shared().port).await;
    let proxy = Proxy::builder()
        .cache("sq", Protocol::MsSql, origin.port())
        .start()
        .await;
    (db, origin, proxy)
}

/// A tiberius client through wirecache's listener, logged in as `sq-USER`.
pub async fn connect(proxy: &Proxy, db: &str) -> Tds {
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

/// The first result's rows as (int, text) pairs.
pub async fn rows(c: &mut Tds, sql: &str) -> Vec<(i32, Option<String>)> {
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

pub async fn exec(c: &mut Tds, sql: &str) {
    c.simple_query(sql)
        .await
        .unwrap()
        .into_results()
        .await
        .unwrap();
}

fn pair(id: i32, v: &str) -> (i32, Option<String>) {
    (id, Some(v.to_string()))
}

const TABLES: &str = "
CREATE TABLE a (id int PRIMARY KEY, v text);
CREATE TABLE b (id int PRIMARY KEY, v text);
CREATE TABLE audit (id int, v text);
INSERT INTO a VALUES (1, 'one'), (2, 'two');
INSERT INTO audit VALUES (0, 'start');
GRANT ALL ON a, b, audit TO scram_user;";

const READ_A: &str = "SELECT id, v FROM a ORDER BY id";
const READ_AUDIT: &str = "SELECT id, v FROM audit ORDER BY id";

#[tokio::test]
async fn an_output_write_invalidates_its_own_table_only() {
    let (db, origin, proxy) = setup(TABLES).await;
    let mut c = connect(&proxy, &db).await;
    let before = rows(&mut c, READ_A).await;
    assert_eq!(before, vec![pair(1, "one"), pair(2, "two")]);
    let s = origin.selects();
    assert_eq!(rows(&mut c, READ_A).await, before);
    assert_eq!(origin.selects(), s, "the second read is a hit");

    // A write to b that returns its rows: a's entry survives.
    let out = rows(
        &mut c,
        "INSERT INTO b (id, v) OUTPUT inserted.id, inserted.v VALUES (10, N'ten')",
    )
    .await;
    assert_eq!(
        out,
        vec![pair(10, "ten")],
        "the OUTPUT rows reach the client"
    );
    let out = rows(
        &mut c,
        "UPDATE b SET v = 'TEN' OUTPUT inserted.id, inserted.v WHERE id = 10",
    )
    .await;
    assert_eq!(out, vec![pair(10, "TEN")]);
    assert_eq!(rows(&mut c, READ_A).await, before);
    assert_eq!(origin.selects(), s, "a write to b left a's entry alone");

    // The same write twice runs twice: never cached.
    let ins = "INSERT INTO b (id, v) OUTPUT inserted.id, inserted.v VALUES (11, N'x')";
    assert_eq!(rows(&mut c, ins).await, vec![pair(11, "x")]);
    let failed = match c.simple_query(ins).await {
        Ok(stream) => stream.into_results().await.is_err(),
        Err(_) => true,
    };
    assert!(failed, "the second insert reached the origin and failed");

    // A write to a that returns its rows invalidates a.
    let out = rows(
        &mut c,
        "UPDATE a SET v = 'uno' OUTPUT inserted.id, inserted.v WHERE id = 1",
    )
    .await;
    assert_eq!(out, vec![pair(1, "uno")]);
    assert_eq!(
        rows(&mut c, READ_A).await,
        vec![pair(1, "uno"), pair(2, "two")]
    );
    assert_eq!(
        origin.selects(),
        s + 1,
        "the read after a's write was a miss"
    );
    let s = origin.selects();
    let out = rows(&mut c, "DELETE FROM a OUTPUT deleted.* WHERE id = 2").await;
    assert_eq!(out, vec![pair(2, "two")]);
    assert_eq!(rows(&mut c, READ_A).await, vec![pair(1, "uno")]);
    assert_eq!(
        origin.selects(),
        s + 1,
        "the read after a's delete was a miss"
    );
}

#[tokio::test]
async fn output_into_a_table_invalidates_that_table_too() {
    let (db, origin, proxy) = setup(TABLES).await;
    let mut c = connect(&proxy, &db).await;
    let audit = rows(&mut c, READ_AUDIT).await;
    assert_eq!(audit, vec![pair(0, "start")]);
    let a = rows(&mut c, READ_A).await;
    let s = origin.selects();
    assert_eq!(rows(&mut c, READ_AUDIT).await, audit);
    assert_eq!(rows(&mut c, READ_A).await, a);
    assert_eq!(origin.selects(), s, "both reads are hits");

    exec(
        &mut c,
        "INSERT INTO b (id, v) OUTPUT inserted.id, inserted.v INTO audit (id, v) \
         VALUES (20, N'twenty')",
    )
    .await;
    assert_eq!(
        rows(&mut c, READ_AUDIT).await,
        vec![pair(0, "start"), pair(20, "twenty")],
        "the INTO table's entry was invalidated"
    );
    assert_eq!(origin.selects(), s + 1);
    assert_eq!(rows(&mut c, READ_A).await, a);
    assert_eq!(
        origin.selects(),
        s + 1,
        "a, neither target nor INTO table, is a hit"
    );

    let s = origin.selects();
    exec(
        &mut c,
        "DELETE FROM b OUTPUT deleted.id, deleted.v INTO audit WHERE id = 20",
    )
    .await;
    assert_eq!(rows(&mut c, READ_AUDIT).await.len(), 3);
    assert_eq!(rows(&mut c, READ_A).await, a);
    assert_eq!(origin.selects(), s + 1, "audit missed, a hit");
}
