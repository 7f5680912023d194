//! What every test of `pg_hangs` starts from: a fresh database on the shared private
//! origin with wirecache in front of it, a raw connection to each, a deadline for the
//! whole test, and the check that a session is whole after a script.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use super::Raw;
use crate::common::PgOrigin;
use crate::common::proxy::Proxy;

/// Upper bound for one whole test (each answer has its own, shorter deadline).
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn within<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("the test timed out");
}

/// The table COPY scripts write, and the one `still_caches` reads.
pub const T_AND_K: &str =
    "CREATE TABLE t (id int, v text); CREATE TABLE k (id int); INSERT INTO k VALUES (1);";

pub async fn setup(prefix: &str, sql: &str) -> (&'static PgOrigin, String, Proxy) {
    let origin = PgOrigin::shared();
    let db = origin.create_db(prefix);
    origin.psql(&db, sql);
    let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
    (origin, db, proxy)
}

pub fn direct_addr(origin: &PgOrigin) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], origin.port))
}

/// After a script the session must be whole: the same read twice, the second a hit
/// (nothing stale left in flight, no answer owed).
pub async fn still_caches(proxy: &Proxy, c: &mut Raw) {
    let before = proxy.hits().await;
    for _ in 0..2 {
        assert_eq!(c.scalar("SELECT id FROM k").await.as_deref(), Some("1"));
    }
    assert_eq!(
        proxy.hits().await,
        before + 1.0,
        "the session no longer uses the cache"
    );
}

/// A raw connection straight to the origin and one through wirecache.
pub async fn pair(origin: &PgOrigin, proxy: &Proxy, db: &str) -> (Raw, Raw) {
    let direct = Raw::login(direct_addr(origin), "postgres", db, &[]).await;
    let via = Raw::login(proxy.pg_addr(), "demo-postgres", db, &[]).await;
    (direct, via)
}
