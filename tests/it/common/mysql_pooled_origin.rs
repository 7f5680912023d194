//! The shared MariaDB origin behind a wirecache in pooled mode (`pool = "session"`):
//! a user of its own per test (so the origin's per-user counters in
//! `performance_schema.users` show that test's connections alone), a userlist for it,
//! and a proxy with a pooled cache on each listener: `demo` (MySQL listener, greets
//! with caching_sha2_password) and `demo-maria` (MariaDB listener,
//! mysql_native_password).

use super::mysql::MyOrigin;
use super::proxy::{Protocol, Proxy, ProxyBuilder};

/// One test's origin user: `name` with `password`, all privileges.
pub struct PoolUser {
    pub name: String,
    pub password: String,
}

impl PoolUser {
    /// Creates a fresh user at the origin.
    pub fn create(origin: &MyOrigin, prefix: &str) -> PoolUser {
        let name = super::unique(prefix);
        let password = format!("pw-{name}-x");
        origin.sql(
            "",
            &format!(
                "CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'; GRANT ALL ON *.* TO '{name}'@'%';"
            ),
        );
        PoolUser { name, password }
    }

    /// The origin's `*HEX` mysql_native_password hash of this user.
    pub fn native_hash(&self, origin: &MyOrigin) -> String {
        origin.sql(
            "",
            &format!(
                "SELECT authentication_string FROM mysql.user WHERE user = '{}'",
                self.name
            ),
        )
    }

    /// Connections the origin ever accepted for this user.
    pub fn total_connections(&self, origin: &MyOrigin) -> i64 {
        let sql = format!(
            "SELECT COALESCE(SUM(TOTAL_CONNECTIONS), 0) FROM performance_schema.users WHERE USER = '{}'",
            self.name
        );
        origin.sql("", &sql).trim().parse().unwrap_or(-1)
    }

    /// Connections of this user open at the origin now.
    pub fn current_connections(&self, origin: &MyOrigin) -> i64 {
        let sql = format!(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{}'",
            self.name
        );
        origin.sql("", &sql).trim().parse().unwrap_or(-1)
    }
}

/// Writes a userlist with `lines` (`"user" "secret"` each) and returns its path.
pub fn userlist(lines: &[(&str, &str)]) -> String {
    let dir = super::test_dir("my-pooled");
    let path = dir.join("userlist.txt");
    let text: String = lines
        .iter()
        .map(|(u, s)| format!("\"{u}\" \"{s}\"\n"))
        .collect();
    std::fs::write(&path, text).expect("write the userlist");
    path.display().to_string()
}

/// A proxy with the pooled caches `demo` (MySQL listener) and `demo-maria` (MariaDB
/// listener) reading `auth_file`, with `extra` lines in both.
pub async fn pooled_proxy(origin: &MyOrigin, auth_file: &str, extra: &str) -> Proxy {
    pooled_builder(origin, auth_file, extra).start().await
}

/// [`pooled_proxy`]'s builder, for more settings.
pub fn pooled_builder(origin: &MyOrigin, auth_file: &str, extra: &str) -> ProxyBuilder {
    mode_builder(origin, "session", auth_file, extra)
}

/// [`pooled_proxy`] with `pool = "transaction"`.
pub async fn txn_pooled_proxy(origin: &MyOrigin, auth_file: &str, extra: &str) -> Proxy {
    mode_builder(origin, "transaction", auth_file, extra)
        .start()
        .await
}

fn mode_builder(origin: &MyOrigin, mode: &str, auth_file: &str, extra: &str) -> ProxyBuilder {
    let lines = format!("pool = \"{mode}\"\nauth_file = \"{auth_file}\"\n{extra}");
    Proxy::builder()
        .cache_with("demo", Protocol::MySql, origin.port, &lines)
        .cache_with("demo-maria", Protocol::MariaDb, origin.port, &lines)
}

/// The server error code of a failed login or query.
pub fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

/// [`MyOrigin::shared`] behind wirecache in pooled mode, as an
/// [`Origin`](super::origin::Origin) adapter, so the consistency and transaction
/// suites run in MySQL pooled mode too (`pooled::NAME::mariadb_pooled`). Clients log
/// in against a userlist holding `wc_root`, `alice` and `bob` with their passwords;
/// wirecache logs in to the origin with them.
pub struct MyPooled {
    my: &'static MyOrigin,
    userlist: String,
}

mod adapter {
    use std::sync::OnceLock;

    use super::super::mysql::{self, MyOrigin, PLAIN_USERS, ROOT_PASSWORD, ROOT_USER};
    use super::super::origin::{DbError, MyClient, Origin, Sql};
    use super::super::proxy::{Protocol, Proxy, ProxyBuilder};
    use super::MyPooled;

    impl Origin for MyPooled {
        type Client = MyClient;
        const NAME: &'static str = "mariadb (pooled)";
        const BEGIN: &'static str = <MyOrigin as Origin>::BEGIN;
        const AUTOCOMMIT_OFF: Option<&'static str> = <MyOrigin as Origin>::AUTOCOMMIT_OFF;
        const CROSS_DATABASE: bool = <MyOrigin as Origin>::CROSS_DATABASE;
        const CACHES_NESTED_VIEWS: bool = <MyOrigin as Origin>::CACHES_NESTED_VIEWS;

        fn shared() -> &'static Self {
            static POOLED: OnceLock<MyPooled> = OnceLock::new();
            POOLED.get_or_init(|| {
                let root = (ROOT_USER.to_owned(), ROOT_PASSWORD.to_owned());
                let plain = PLAIN_USERS.map(|u| (u.to_owned(), mysql::password_for(u)));
                let lines: Vec<(String, String)> = std::iter::once(root).chain(plain).collect();
                let borrowed: Vec<(&str, &str)> = lines
                    .iter()
                    .map(|(u, p)| (u.as_str(), p.as_str()))
                    .collect();
                MyPooled {
                    my: MyOrigin::shared(),
                    userlist: super::userlist(&borrowed),
                }
            })
        }

        fn create_db(&self, prefix: &str) -> String {
            self.my.create_db(prefix)
        }

        fn run(&self, db: &str, sql: &str) -> String {
            self.my.sql(db, sql)
        }

        fn proxy(&self) -> ProxyBuilder {
            let lines = format!("pool = \"session\"\nauth_file = \"{}\"", self.userlist);
            Proxy::builder()
                .cache_with("demo", Protocol::MySql, self.my.port, &lines)
                .cache_with("my-app", Protocol::MySql, self.my.port, &lines)
                .cache_with("demo-maria", Protocol::MariaDb, self.my.port, &lines)
        }

        async fn connect(proxy: &Proxy, db: &str) -> MyClient {
            <MyOrigin as Origin>::connect(proxy, db).await
        }

        async fn connect_as(proxy: &Proxy, db: Option<&str>, user: &str) -> MyClient {
            <MyOrigin as Origin>::connect_as(proxy, db, user).await
        }

        fn grant_select(&self, db: &str, table: &str, user: &str) {
            self.my.grant_select(db, table, user);
        }

        fn is_access_denied(e: &DbError) -> bool {
            MyOrigin::is_access_denied(e)
        }

        fn reads_at_origin(&self, db: &str) -> Option<i64> {
            self.my.reads_at_origin(db)
        }

        fn selects_of(&self, db: &str, table: &str) -> i64 {
            self.my.selects_of(db, table)
        }

        fn placeholder(n: usize) -> String {
            MyOrigin::placeholder(n)
        }

        fn returning(update: &str, column: &str) -> Option<String> {
            MyOrigin::returning(update, column)
        }

        fn qualified(ns: &str, table: &str) -> String {
            MyOrigin::qualified(ns, table)
        }

        fn namespaces(&self, prefix: &str) -> (String, [String; 2]) {
            self.my.namespaces(prefix)
        }

        fn use_namespace(ns: &str) -> String {
            MyOrigin::use_namespace(ns)
        }

        fn prepare_two_phase(xid: &str, write: &str) -> Vec<String> {
            MyOrigin::prepare_two_phase(xid, write)
        }

        fn commit_prepared(xid: &str) -> String {
            MyOrigin::commit_prepared(xid)
        }

        fn pick(sql: &Sql) -> &'static str {
            MyOrigin::pick(sql)
        }
    }
}
