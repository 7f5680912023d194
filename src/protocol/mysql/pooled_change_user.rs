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
use super::pooled_origin::OriginConn;
use super::session::{Identity, Session, txn_state};

impl Session {
    pub async fn on_pooled_change_user(&mut self, p: Packet) -> Result<(), MyError> {
        let Some(req) = self.change_user_request(&p).await? else {
            return Ok(());
        };
        let caps = self.identity.caps;
        let cache = self.core.cache().clone();
        let user = self.origin_user(&req);
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
        let mut ex = Exchange {
            client: ClientIo::Session(&mut self.core.io().client),
            seq: 1,
            tls: self.auth.client_tls,
        };
        let who = (user.as_str(), default, pooled.logins.all_passwords());
        let checked = client_auth::check(&mut ex, &req, &scramble, login.as_deref(), who).await;
        if let Err(MyError::AuthRejected) = checked {
            self.core.terminate();
            return Ok(());
        }
        checked?;
        let secret = login
            .and_then(|l| l.secret())
            .ok_or(MyError::Origin("no secret to log in to the origin with"))?;
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
        let held = Held {
            lease: Some(lease),
            key,
            thread_id: conn.thread_id,
            pooled,
            scramble,
            default,
            tls,
            client_id,
        };
        self.switch(held, conn, (user, req)).await;
        Ok(())
    }

    /// The COM_CHANGE_USER request, once everything answered before it went out;
    /// `None` if it was refused (an ERR is queued).
    pub(super) async fn change_user_request(
        &mut self,
        p: &Packet,
    ) -> Result<Option<Response>, MyError> {
        if !self.core.origin_quiet() || self.core.txn().is_open() {
            let e = MyError::Unsupported(
                "COM_CHANGE_USER while answers are owed or a transaction is open",
            );
            self.reply_error(&e);
            return Ok(None);
        }
        let body = p.payload().get(1..).unwrap_or_default();
        let caps = self.identity.caps;
        let Some(mut req) = Response::parse_change_user(body, caps) else {
            self.reply_error(&MyError::Client("malformed COM_CHANGE_USER"));
            return Ok(None);
        };
        // Everything answered so far goes out before the exchange.
        self.core.flush().await?;
        if req.charset == 0 {
            req.charset = self.identity.charset;
        }
        req.max_packet = 1 << 24;
        Ok(Some(req))
    }

    /// The origin user a COM_CHANGE_USER names: empty (an unknown user) unless the
    /// name is of this session's cache.
    pub(super) fn origin_user(&mut self, req: &Response) -> String {
        let cache = self.core.cache().clone();
        let named = String::from_utf8_lossy(&req.user).into_owned();
        self.core
            .engine()
            .caches()
            .resolve(cache.protocol, &named)
            .filter(|(c, _)| c.id == cache.id)
            .map(|(_, u)| u.to_string())
            .unwrap_or_default()
    }

    /// The session goes on over `conn` (held by `held`) as `user`; its old connection
    /// goes back to its pool, reset.
    async fn switch(&mut self, held: Held, conn: OriginConn, (user, req): (String, Response)) {
        let cache = self.core.cache().clone();
        let (client_id, thread_id) = (held.client_id, conn.thread_id);
        let old_end = std::mem::replace(&mut self.core.io().origin, conn.end);
        if let Some(old) = self.pooled.replace(held) {
            pooled::give_back(old, old_end, self.status, cache.connect_timeout).await;
        }
        self.ids.rebind(client_id, &cache.origin, thread_id);
        self.status = conn.status;
        self.core.set_txn(txn_state(conn.status));
        let identity = Identity {
            user: user.into_bytes(),
            database: req.database.filter(|d| !d.is_empty()),
            charset: req.charset,
            caps: self.identity.caps,
        };
        self.reset_state(identity);
    }
}
