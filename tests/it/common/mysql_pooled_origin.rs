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
    let lines = format!("pool = \"session\"\nauth_file = \"{auth_file}\"\n{extra}");
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
