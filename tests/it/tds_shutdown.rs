//! Graceful shutdown with SQL Server sessions open (the TDS sibling of `shutdown.rs`):
//! an idle session is closed at once, a session inside a transaction finishes it and
//! is closed then, and a connection that has not finished logging in (PRELOGIN
//! answered, no LOGIN7 yet) is closed too rather than holding the shutdown until its
//! login timeout. Real clients (tiberius, and a raw TDS connection for the half-done
//! login) through wirecache to the TDS test origin on the private PostgreSQL.

use std::time::Duration;

use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};
use wirecache::protocol::tds::codec::{Kind, message};

use crate::common::PgOrigin;
use crate::common::pg::password_for;
use crate::common::proxy::{Protocol, Proxy};
use crate::common::tds_origin::{TdsOrigin, USER, database};

type Tds = Client<Compat<TcpStream>>;

async fn connect(port: u16, db: &str) -> Tds {
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

async fn exec(c: &mut Tds, sql: &str) -> tiberius::Result<()> {
    c.simple_query(sql).await?.into_results().await.map(drop)
}

/// A connection that sent its PRELOGIN (no encryption) and read the answer, and
/// stops there: a login under way.
async fn half_logged_in(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    // VERSION (6 bytes at 11) and ENCRYPTION (1 byte at 17): not supported.
    let mut options = vec![
        0x00, 0x00, 0x0B, 0x00, 0x06, 0x01, 0x00, 0x11, 0x00, 0x01, 0xFF,
    ];
    options.extend_from_slice(&[0x0E, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02]);
    s.write_all(&message(Kind::PreLogin, &options, 4096))
        .await
        .unwrap();
    let mut answer = [0u8; 512];
    let n = s.read(&mut answer).await.unwrap();
    assert!(
        n >= 8 && answer[0] == 0x04,
        "a PRELOGIN answer: {:?}",
        &answer[..n]
    );
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tds_sessions_close_at_rest_logins_under_way_are_given_up() {
    let db = database();
    let origin = TdsOrigin::start(PgOrigin::shared().port).await;
    let proxy = Proxy::builder()
        .cache("sq", Protocol::MsSql, origin.port())
        .settings("shutdown_grace = \"60s\"\nlogin_timeout = \"60s\"")
        .start()
        .await;
    let port = proxy.addr(Protocol::MsSql).port();
    let mut idle = connect(port, &db).await;
    exec(&mut idle, "SELECT id, name FROM t WHERE id = 1")
        .await
        .unwrap();
    let mut busy = connect(port, &db).await;
    exec(&mut busy, "BEGIN TRAN").await.unwrap();
    exec(&mut busy, "INSERT INTO t VALUES (10, 'ten')")
        .await
        .unwrap();
    let mut half = half_logged_in(port).await;

    let running = proxy.running;
    let stopping = tokio::spawn(running.shutdown());

    // The login under way is given up: its connection closes without an answer.
    let mut rest = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(10), half.read(&mut rest))
        .await
        .expect("the half-done login's connection was closed");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    // The transaction goes on and commits; then that session is closed too.
    exec(&mut busy, "INSERT INTO t VALUES (11, 'eleven')")
        .await
        .unwrap();
    assert!(!stopping.is_finished());
    exec(&mut busy, "COMMIT TRAN").await.unwrap();
    let left = tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("shutdown ends once every session closed, well inside its grace")
        .unwrap();
    assert_eq!(left, 0);
    // The idle session was closed; the committed rows are at the origin.
    assert!(exec(&mut idle, "SELECT 1").await.is_err());
    assert!(exec(&mut busy, "SELECT 1").await.is_err());
    let pg = PgOrigin::shared();
    assert_eq!(
        pg.psql(&db, "SELECT count(*) FROM t WHERE id >= 10").trim(),
        "2"
    );
}
