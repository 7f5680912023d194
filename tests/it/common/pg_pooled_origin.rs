//! The shared PostgreSQL origin behind a wirecache in pooled mode (`pool = "session"`),
//! as an [`Origin`] adapter, so the consistency and transaction suites run in pooled
//! mode too (`pooled::NAME::postgres_pooled`, see `for_each_origin!(with_pooled: …)`). Clients
//! log in with SCRAM against a userlist holding the superuser, `alice` and `bob`;
//! wirecache logs in to the (trusting) origin with the stored password.

use std::sync::OnceLock;

use super::origin::{DbError, Origin, PgClient, Sql};
use super::pg::{PgOrigin, SUPERUSER};
use super::proxy::{Protocol, Proxy, ProxyBuilder};

/// The password of every pooled login of these tests.
const PASSWORD: &str = "pooled-suite-pw";

/// [`PgOrigin::shared`] in pooled mode.
pub struct PgPooled {
    pg: &'static PgOrigin,
    /// The userlist (`auth_file`) every proxy of these tests reads.
    userlist: String,
}

impl PgPooled {
    async fn client(proxy: &Proxy, db: &str, user: &str) -> PgClient {
        let client = proxy.try_connect("demo", db, user, Some(PASSWORD)).await;
        PgClient::new(client.unwrap_or_else(|e| panic!("pooled login as {user}: {e}")))
    }
}

impl Origin for PgPooled {
    type Client = PgClient;
    const NAME: &'static str = "postgres (pooled)";
    const BEGIN: &'static str = <PgOrigin as Origin>::BEGIN;
    const AUTOCOMMIT_OFF: Option<&'static str> = <PgOrigin as Origin>::AUTOCOMMIT_OFF;
    const CROSS_DATABASE: bool = <PgOrigin as Origin>::CROSS_DATABASE;
    const CACHES_NESTED_VIEWS: bool = <PgOrigin as Origin>::CACHES_NESTED_VIEWS;

    fn shared() -> &'static Self {
        static POOLED: OnceLock<PgPooled> = OnceLock::new();
        POOLED.get_or_init(|| {
            let dir = super::test_dir("pooled-suite");
            let path = dir.join("userlist.txt");
            let lines: String = [SUPERUSER, "alice", "bob"]
                .iter()
                .map(|u| format!("\"{u}\" \"{PASSWORD}\"\n"))
                .collect();
            std::fs::write(&path, lines).expect("write the userlist");
            PgPooled {
                pg: PgOrigin::shared(),
                userlist: path.display().to_string(),
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
        let lines = format!("pool = \"session\"\nauth_file = \"{}\"", self.userlist);
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
