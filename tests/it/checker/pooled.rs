//! Pooled mode for the checker (issue 18): the cache checks the clients' logins itself
//! (a userlist written here) and lends them origin connections from a pool, so a
//! connection a session gave back serves the next session. Nothing else changes: the
//! judge reads the truth straight from the origin, as in pass-through.
//!
//! A protocol's [`Target`](super::driver::Target) takes a [`Pool`], adds
//! [`Pool::cache_lines`] to its cache's table and logs in with
//! [`Pool::password`]. The runner drops a client's connection at rest now and then
//! ([`Pool::reconnect_percent`]), so backends change hands during the run.

use crate::common::test_dir;

/// How the checker's cache reaches its origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    /// Pass-through: a client connection is an origin connection.
    Off,
    /// `pool = "session"`: a session holds one pooled connection until it ends.
    Session,
    /// `pool = "transaction"`: a connection is leased per transaction.
    Transaction,
}

/// The password of the PostgreSQL checker's pooled logins (its origin trusts
/// wirecache's own login).
pub const PASSWORD: &str = "checker-pooled-pw";

impl Pool {
    /// `WIRECACHE_CHECKER_POOL`: `session` (also when unset or empty) or `transaction`.
    pub fn from_env() -> Pool {
        let v = std::env::var("WIRECACHE_CHECKER_POOL").unwrap_or_default();
        match v.trim() {
            "" | "session" => Pool::Session,
            "transaction" => Pool::Transaction,
            "off" => Pool::Off,
            other => panic!("WIRECACHE_CHECKER_POOL={other:?}: want session or transaction"),
        }
    }

    /// The value of the cache's `pool` key.
    pub fn as_str(self) -> &'static str {
        match self {
            Pool::Off => "off",
            Pool::Session => "session",
            Pool::Transaction => "transaction",
        }
    }

    /// The origin connections a pool may open for `conns` client connections. In
    /// session mode every client holds one for its whole session (and a login waits
    /// for a free one), so one each and one spare for the reconnects; in transaction
    /// mode half as many, so that clients really take turns on the backends.
    pub fn size(self, conns: usize) -> usize {
        match self {
            Pool::Off | Pool::Session => conns + 1,
            Pool::Transaction => conns.div_ceil(2).max(1),
        }
    }

    /// The lines the cache's table gets: the mode, a userlist granting `user` the
    /// `password` (the clients log in with it, and wirecache logs in to the origin with
    /// it: the origin's own, unless the origin trusts), the pool's size for `conns`
    /// clients. Empty when off.
    pub fn cache_lines(self, user: &str, password: &str, conns: usize) -> String {
        if self == Pool::Off {
            return String::new();
        }
        let path = test_dir("checker-pooled").join("userlist.txt");
        let quote = |s: &str| s.replace('"', "\"\"");
        let line = format!("\"{}\" \"{}\"\n", quote(user), quote(password));
        std::fs::write(&path, line)
            .unwrap_or_else(|e| panic!("write the userlist {}: {e}", path.display()));
        format!(
            "pool = \"{}\"\nauth_file = \"{}\"\npool_size = {}\n",
            self.as_str(),
            path.display(),
            self.size(conns)
        )
    }

    /// The password a PostgreSQL client logs in with (none in pass-through).
    pub fn password(self) -> Option<&'static str> {
        match self {
            Pool::Off => None,
            Pool::Session | Pool::Transaction => Some(PASSWORD),
        }
    }

    /// The chance, in percent, that a client ends its session at rest before its next
    /// statement (and logs in again): the connection goes back to the pool and another
    /// client's session gets it, after its reset. Never in pass-through.
    pub fn reconnect_percent(self) -> u64 {
        match self {
            Pool::Off => 0,
            Pool::Session | Pool::Transaction => 2,
        }
    }
}
