//! COM_CHANGE_USER under transaction pooling: wirecache checks the new login itself
//! (as in session pooling, `pooled_change_user`), leases a connection of the new
//! (user, database, character set) pool to prove the origin login and gives it
//! straight back (the first time for that key only), returns the connection the session held (reset), and starts a new
//! lender for the new key; the client gets OK. Refused (ERR, the session goes on)
//! while answers are owed or a transaction is open; a failed login gets ERR 1045 and
//! ends the session.

use super::client_auth::{self, ClientIo, Exchange};
use super::codec::Packet;
use std::sync::Arc;

use super::errors::MyError;
use super::handshake::Response;
use super::pooled;
use super::pooled::PooledCache;
use super::pooled_lender::{Opener, Start, TxnLender, reset_back};
use super::pooled_logins::OriginSecret;
use super::response::SERVER_STATUS_AUTOCOMMIT;
use super::session::{Identity, Session, txn_state};
use crate::engine::CacheCtx;
use crate::server::origin_tls::OriginTls;

impl Session {
    pub async fn on_txn_change_user(&mut self, p: Packet) -> Result<(), MyError> {
        let Some(req) = self.change_user_request(&p).await? else {
            return Ok(());
        };
        let caps = self.identity.caps;
        let cache = self.core.cache().clone();
        let user = self.origin_user(&req);
        let Some(l) = self.lender() else {
            return Err(MyError::Origin("no lender"));
        };
        let (pooled, scramble, plugin, tls) = l.login_parts();
        let login = pooled.logins.get(&user);
        let mut ex = Exchange {
            client: ClientIo::Session(&mut self.core.io().client),
            seq: 1,
            tls: self.auth.client_tls,
        };
        let who = (user.as_str(), plugin, pooled.logins.all_passwords());
        let checked = client_auth::check(&mut ex, &req, &scramble, login.as_deref(), who).await;
        if let Err(MyError::AuthRejected) = checked {
            self.core.terminate();
            return Ok(());
        }
        checked?;
        let secret = login
            .and_then(|l| l.secret())
            .ok_or(MyError::Origin("no secret to log in to the origin with"))?;
        let key = pooled::key_of(&user, &req, caps);
        let target = (&cache, user.as_str(), tls.origin(&cache.id));
        if let Err(e) = prove(&mut ex, target, (&req, caps), (&pooled, &secret)).await {
            if let Some(wire) = super::errors::to_wire(&e, ex.seq) {
                let _ = ex.send(wire.get(4..).unwrap_or_default()).await;
            }
            self.core.terminate();
            return Ok(());
        }
        ex.send(&pooled::ok_packet(SERVER_STATUS_AUTOCOMMIT))
            .await?;
        let opener = Opener::of(&user, &req, caps, secret);
        self.give_up_connection().await;
        let ids = self.ids.clone();
        let Some(old) = self.lender() else {
            return Err(MyError::Origin("no lender"));
        };
        let start = Start {
            cache: cache.clone(),
            tls,
            pooled,
            key,
            opener,
            ids,
            client_id: old.client_id,
            first: None,
            scramble,
            plugin,
        };
        self.restart(start, user, req);
        Ok(())
    }

    /// The session goes on as `user` (`req`) with a new lender, holding nothing.
    fn restart(&mut self, start: Start, user: String, req: Response) {
        let caps = self.identity.caps;
        self.core.io().lend_from(Box::new(TxnLender::new(start)));
        self.status = SERVER_STATUS_AUTOCOMMIT;
        self.core.set_txn(txn_state(self.status));
        let identity = Identity {
            user: user.into_bytes(),
            database: req.database.filter(|d| !d.is_empty()),
            charset: req.charset,
            caps,
        };
        self.reset_state(identity);
    }

    /// The connection the session holds goes back to its pool, reset.
    async fn give_up_connection(&mut self) {
        let within = self.core.cache().connect_timeout;
        let status = self.status;
        let Some(end) = self.core.io().origin.detach() else {
            return;
        };
        let Some(l) = self.lender() else {
            return;
        };
        let db = l.key.database.clone();
        if let Some((lease, conn)) = l.finish(end, status) {
            reset_back(lease, conn, db.as_deref(), within).await;
        }
    }
}

/// The first login with a key: an origin connection is leased (proving the stored
/// secret works there) and given straight back; later ones need none.
async fn prove(
    ex: &mut Exchange<'_>,
    target: (&Arc<CacheCtx>, &str, Option<&OriginTls>),
    (req, caps): (&Response, u32),
    (pooled, secret): (&PooledCache, &OriginSecret),
) -> Result<(), MyError> {
    let key = pooled::key_of(target.1, req, caps);
    if pooled.proven(&key) {
        return Ok(());
    }
    let (mut lease, key) = pooled::lease(ex, target, (req, caps), (pooled, secret)).await?;
    if let Some(mut conn) = lease.take()
        && conn.end.alive()
    {
        conn.status = SERVER_STATUS_AUTOCOMMIT;
        lease.give_back(conn);
    }
    pooled.prove(&key);
    Ok(())
}
