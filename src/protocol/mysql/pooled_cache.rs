//! The pooled MySQL/MariaDB caches of a config (`pool = "session"` or
//! `"transaction"`): each one's logins (`pooled_logins`), its pools of origin
//! connections by [`Key`], its mode, and (transaction pooling) the keys an origin login
//! has already worked for, so later logins with them need no connection.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::client_auth::Plugin;
use super::handshake::{Response, SUPPORTED};
use super::pooled_logins::{LoginError, Logins};
use super::pooled_origin::OriginConn;
use crate::config::{Config, PoolMode, Protocol};
use crate::pool::userlist::{Userlist, UserlistError};
use crate::pool::{Limits, Pools};

/// Which pool a session's connection comes from. The capabilities are those that
/// change what the origin does or sends (not the login's own).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub(super) user: String,
    pub(super) database: Option<Vec<u8>>,
    pub(super) charset: u8,
    pub(super) caps: u32,
}

/// Capabilities a pooled connection must share with the session it serves.
const KEYED: u32 = SUPPORTED
    & !(super::handshake::CLIENT_CONNECT_WITH_DB
        | super::handshake::CLIENT_CONNECT_ATTRS
        | super::handshake::CLIENT_PLUGIN_AUTH
        | super::handshake::CLIENT_PLUGIN_AUTH_LENENC
        | super::handshake::CLIENT_SECURE_CONNECTION
        | super::handshake::CLIENT_LONG_PASSWORD);

/// One pooled cache: its logins and its pools.
pub struct PooledCache {
    pub(super) logins: Logins,
    pub(super) pools: Arc<Pools<Key, OriginConn>>,
    /// Per session, or per transaction.
    pub(super) mode: PoolMode,
    /// Keys an origin login has worked for (transaction pooling), at most
    /// [`MAX_PROVEN`].
    proven: Mutex<HashSet<Key>>,
}

const MAX_PROVEN: usize = 1024;

impl PooledCache {
    pub(super) fn proven(&self, key: &Key) -> bool {
        self.proven
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
    }

    pub(super) fn prove(&self, key: &Key) {
        let mut set = self.proven.lock().unwrap_or_else(|e| e.into_inner());
        if set.len() < MAX_PROVEN {
            set.insert(key.clone());
        }
    }
}

/// Why pooled mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum PooledError {
    #[error("cache {cache}: {source}")]
    Userlist {
        cache: String,
        source: UserlistError,
    },
    #[error("cache {cache}: {source}")]
    Login { cache: String, source: LoginError },
    #[error(
        "cache {cache}: auth_user / auth_query are not supported for MySQL/MariaDB caches (list the users in auth_file)"
    )]
    AuthQuery { cache: String },
}

/// The pooled caches of `config` served by the `protocol` listener, by cache ID.
/// Runs inside the runtime.
pub fn build(
    config: &Config,
    caches: &crate::engine::Caches,
    protocol: Protocol,
) -> Result<HashMap<String, Arc<PooledCache>>, PooledError> {
    let mut out = HashMap::new();
    for def in &config.caches {
        let p = &def.pool;
        if p.pool == PoolMode::Off || def.protocol != protocol {
            continue;
        }
        let Some(ctx) = caches.by_id(&def.id) else {
            continue;
        };
        let cache = || def.id.clone();
        if p.auth_user.is_some() {
            return Err(PooledError::AuthQuery { cache: cache() });
        }
        let user = p.user.as_deref().zip(p.password.as_deref());
        let list = Userlist::load(p.auth_file.as_deref(), user).map_err(|source| {
            PooledError::Userlist {
                cache: cache(),
                source,
            }
        })?;
        let logins = Logins::new(&list).map_err(|source| PooledError::Login {
            cache: cache(),
            source,
        })?;
        let limits = Limits {
            size: p.pool_size,
            min_idle: p.pool_min_idle,
            max_lifetime: p.pool_max_lifetime,
            idle_timeout: p.pool_idle_timeout,
            queue_timeout: p.pool_queue_timeout,
        };
        let pools = Pools::new(limits, ctx.metrics.pool.clone());
        let mode = p.pool;
        out.insert(
            def.id.clone(),
            Arc::new(PooledCache {
                logins,
                pools,
                mode,
                proven: Default::default(),
            }),
        );
    }
    Ok(out)
}

/// The plugin a listener with pooled caches greets with and switches to: MySQL 8's
/// default on the MySQL listener, MariaDB's on the MariaDB one.
pub fn default_plugin(protocol: Protocol) -> Plugin {
    match protocol {
        Protocol::MariaDb => Plugin::Native,
        _ => Plugin::Sha2,
    }
}

/// The key of the pool a login of `user` with `resp` (and `caps`) leases from.
pub(super) fn key_of(user: &str, resp: &Response, caps: u32) -> Key {
    Key {
        user: user.to_owned(),
        database: resp.database.clone().filter(|d| !d.is_empty()),
        charset: resp.charset,
        caps: caps & KEYED,
    }
}
