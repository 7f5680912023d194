//! The shared PostgreSQL origin behind a wirecache in pooled mode (`pool = "session"`
//! or `"transaction"`, the [`Mode`] parameter), as an [`Origin`] adapter, so the
//! consistency and transaction suites run in both pooled modes too
//! (`pooled::NAME::postgres_pooled` and `postgres_txn_pooled`, see
//! `for_each_origin!(with_pooled: …)`). Clients
//! log in with SCRAM against a userlist holding the superuser, `alice` and `bob`;
//! wirecache logs in to the (trusting) origin with the stored password.

use std::sync::OnceLock;

use super::origin::{DbError, Origin, PgClient, Sql};
use super::pg::{PgOrigin, SUPERUSER};
use super::proxy::{Protocol, Proxy, ProxyBuilder};

/// The password of every pooled login of these tests.
const PASSWORD: &str = "pooled-suite-pw";

/// Which pooled mode the proxies of a [`PgPooled`] run.
pub trait Mode: Send + Sync + Sized + 'static {
    /// The `pool` setting.
    const POOL: &'static str;
    const NAME: &'static str;
    fn cell() -> &'static OnceLock<PgPooled<Self>>;
}

/// `pool = "session"`.
pub struct SessionMode;
/// `pool = "transaction"`.
pub struct TxnMode;

impl Mode for SessionMode {
    const POOL: &'static str = "session";
    const NAME: &'static str = "postgres (pooled)";
    fn cell() -> &'static OnceLock<PgPooled<Self>> {
        static CELL: OnceLock<PgPooled<SessionMode>> = OnceLock::new();
        &CELL
    }
}

impl Mode for TxnMode {
    const POOL: &'static str = "transaction";
    const NAME: &'static str = "postgres (transaction pooled)";
    fn cell() -> &'static OnceLock<PgPooled<Self>> {
        static CELL: OnceLock<PgPooled<TxnMode>> = OnceLock::new();
        &CELL
    }
}

/// [`PgOrigin::shared`] in pooled mode `M`.
pub struct PgPooled<M: Mode = SessionMode> {
    pg: &'static PgOrigin,
    /// The userlist (`auth_file`) every proxy of these tests reads.
    userlist: String,
    mode: std::marker::PhantomData<M>,
}

/// Transaction pooling.
pub type PgTxnPooled = PgPooled<TxnMode>;

impl<M: Mode> PgPooled<M> {
    async fn client(proxy: &Proxy, db: &str, user: &str) -> PgClient {
        let client = proxy.try_connect("demo", db, user, Some(PASSWORD)).await;
        PgClient::new(client.unwrap_or_else(|e| panic!("pooled login as {user}: {e}")))
    }
}

impl<M: Mode> Origin for PgPooled<M> {
    type Client = PgClient;
    const NAME: &'static str = M::NAME;
    const BEGIN: &'static str = <PgOrigin as Origin>::BEGIN;
    const AUTOCOMMIT_OFF: Option<&'static str> = <PgOrigin as Origin>::AUTOCOMMIT_OFF;
    const CROSS_DATABASE: bool = <PgOrigin as Origin>::CROSS_DATABASE;
    const CACHES_NESTED_VIEWS: bool = <PgOrigin as Origin>::CACHES_NESTED_VIEWS;

    fn shared() -> &'static Self {
        M::cell().get_or_init(|| {
            let dir = super::test_dir(&format!("pooled-suite-{}", M::POOL));
            let path = dir.join("userlist.txt");
            let lines: String = [SUPERUSER, "alice", "bob"]
                .iter()
                .map(|u| format!("\"{u}\" \"{PASSWORD}\"\n"))
                .collect();
            std::fs::write(&path, lines).expect("write the userlist");
            PgPooled {
                pg: PgOrigin::shared(),
                userlist: path.display().to_string(),
                mode: std::marker::PhantomData,
            }
        })
    }

    fn create_db(&self, prefix: &str) -> String {
        self.pg.create_db(prefix)
    }

    fn run(&self, db: &str, sql: &str) -> String {
        self.pg.psql(db, sql)
    }

    fn proxy(&self) -> ProxyBuilder {
        let lines = format!("pool = \"{}\"\nauth_file = \"{}\"", M::POOL, self.userlist);
        Proxy::builder()
            .cache_with("demo", Protocol::Postgres, self.pg.port, &lines)
            .cache_with("my-app", Protocol::Postgres, self.pg.port, &lines)
    }

    async fn connect(proxy: &Proxy, db: &str) -> PgClient {
        Self::client(proxy, db, SUPERUSER).await
    }

    async fn connect_as(proxy: &Proxy, db: Option<&str>, user: &str) -> PgClient {
        let db = db.expect("a PostgreSQL session always has a database");
        Self::client(proxy, db, user).await
    }

    fn grant_select(&self, db: &str, table: &str, user: &str) {
        self.pg.grant_select(db, table, user);
    }

    fn is_access_denied(e: &DbError) -> bool {
        PgOrigin::is_access_denied(e)
    }

    fn reads_at_origin(&self, db: &str) -> Option<i64> {
        self.pg.reads_at_origin(db)
    }

    fn selects_of(&self, db: &str, table: &str) -> i64 {
        self.pg.selects_of(db, table)
    }

    fn placeholder(n: usize) -> String {
        PgOrigin::placeholder(n)
    }

    fn returning(update: &str, column: &str) -> Option<String> {
        PgOrigin::returning(update, column)
    }

    fn qualified(ns: &str, table: &str) -> String {
        PgOrigin::qualified(ns, table)
    }

    fn namespaces(&self, prefix: &str) -> (String, [String; 2]) {
        self.pg.namespaces(prefix)
    }

    fn use_namespace(ns: &str) -> String {
        PgOrigin::use_namespace(ns)
    }

    fn prepare_two_phase(xid: &str, write: &str) -> Vec<String> {
        PgOrigin::prepare_two_phase(xid, write)
    }

    fn commit_prepared(xid: &str) -> String {
        PgOrigin::commit_prepared(xid)
    }

    fn pick(sql: &Sql) -> &'static str {
        PgOrigin::pick(sql)
    }
}
