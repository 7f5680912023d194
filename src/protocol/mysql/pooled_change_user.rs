//! COM_CHANGE_USER in a pooled session: wirecache checks the new login itself (as at
//! login, the first answer signs the greeting's scramble), leases a connection from
//! the pool of the new (user, database, character set), gives the old one back reset,
//! and answers OK; the session's namespace, prepared statements and connection-id
//! binding follow. Refused (ERR, the session goes on) while answers are owed or a
//! transaction is open; a failed login gets ERR 1045 and ends the session, as a server
//! ends it.

use super::client_auth::{self, ClientIo, Exchange};
use super::codec::Packet;
use super::errors::MyError;
use super::handshake::Response;
use super::pooled::{self, Held};
use super::session::{Identity, Session, txn_state};

impl Session {
    pub async fn on_pooled_change_user(&mut self, p: Packet) -> Result<(), MyError> {
        if !self.core.origin_quiet() || self.core.txn().is_open() {
            let e = MyError::Unsupported(
                "COM_CHANGE_USER while answers are owed or a transaction is open",
            );
            self.reply_error(&e);
            return Ok(());
        }
        let body = p.payload().get(1..).unwrap_or_default();
        let caps = self.identity.caps;
        let Some(req) = Response::parse_change_user(body, caps) else {
            self.reply_error(&MyError::Client("malformed COM_CHANGE_USER"));
            return Ok(());
        };
        // Everything answered so far goes out before the exchange.
        self.core.flush().await?;
        let cache = self.core.cache().clone();
        let named = String::from_utf8_lossy(&req.user).into_owned();
        let user = self
            .core
            .engine()
            .caches()
            .resolve(cache.protocol, &named)
            .filter(|(c, _)| c.id == cache.id)
            .map(|(_, u)| u.to_string())
            // Another cache's name is checked as an unknown user: ERR 1045.
            .unwrap_or_default();
        let Some(held) = self.pooled.as_ref() else {
            return Err(MyError::Origin("no pooled connection"));
        };
        let (pooled, scramble, default, tls) = (
            held.pooled.clone(),
            held.scramble.clone(),
            held.default,
            held.tls.clone(),
        );
        let client_id = held.client_id;
        let login = pooled.logins.get(&user);
        let client_tls = self.auth.client_tls;
        let mut ex = Exchange {
            client: ClientIo::Session(&mut self.core.io().client),
            seq: 1,
            tls: client_tls,
        };
        let checked =
            client_auth::check(&mut ex, &req, &scramble, login.as_deref(), (&user, default)).await;
        match checked {
            Ok(how) => {
                tracing::debug!(cache = %cache.id, checked = ?how, "mysql pooled COM_CHANGE_USER checked")
            }
            Err(MyError::AuthRejected) => {
                self.core.terminate();
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        let secret = login
            .and_then(|l| l.secret())
            .ok_or(MyError::Origin("no secret to log in to the origin with"))?;
        let mut req = req;
        if req.charset == 0 {
            req.charset = self.identity.charset;
        }
        req.max_packet = 1 << 24;
        let target = (&cache, user.as_str(), tls.origin(&cache.id));
        let leased = pooled::lease(&mut ex, target, (&req, caps), (&pooled, &secret)).await;
        let (mut lease, key) = match leased {
            Ok(l) => l,
            Err(e) => {
                if let Some(wire) = super::errors::to_wire(&e, ex.seq) {
                    let _ = ex.send(wire.get(4..).unwrap_or_default()).await;
                }
                self.core.terminate();
                return Ok(());
            }
        };
        let conn = lease.take().ok_or(MyError::Origin("empty lease"))?;
        ex.send(&pooled::ok_packet(conn.status)).await?;
        let thread_id = conn.thread_id;
        let old_end = std::mem::replace(&mut self.core.io().origin, conn.end);
        let held = Held {
            lease,
            key,
            thread_id,
            pooled,
            scramble,
            default,
            tls,
            client_id,
        };
        if let Some(old) = self.pooled.replace(held) {
            let within = cache.connect_timeout;
            pooled::give_back(old, old_end, self.status, within).await;
        }
        self.ids.rebind(client_id, &cache.origin, thread_id);
        self.status = conn.status;
        self.core.set_txn(txn_state(conn.status));
        let identity = Identity {
            user: user.into_bytes(),
            database: req.database.filter(|d| !d.is_empty()),
            charset: req.charset,
            caps,
        };
        self.reset_state(identity);
        Ok(())
    }
}
