//! COM_CHANGE_USER under transaction pooling: wirecache checks the new login itself
//! (as in session pooling, `pooled_change_user`), leases a connection of the new
//! (user, database, character set) pool to prove the origin login and gives it
//! straight back (the first time for that key only), returns the connection the session held (reset), and starts a new
//! lender for the new key; the client gets OK. Refused (ERR, the session goes on)
//! while answers are owed or a transaction is open; a failed login gets ERR 1045 and
//! ends the session.

use super::client_auth::{self, ClientIo, Exchange};
use super::codec::Packet;
use super::errors::MyError;
use super::pooled;
use super::pooled_lender::{Opener, Start, TxnLender, reset_back};
use super::response::SERVER_STATUS_AUTOCOMMIT;
use super::session::{Identity, Session, txn_state};

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
        let (pooled, scramble, plugin, tls) = (
            l.pooled.clone(),
            l.scramble.clone(),
            l.plugin,
            l.tls.clone(),
        );
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
        if !pooled.proven(&key) {
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
            // Proven: the connection goes straight back.
            if let Some(mut conn) = lease.take()
                && conn.end.alive()
            {
                conn.status = SERVER_STATUS_AUTOCOMMIT;
                lease.give_back(conn);
            }
            pooled.prove(&key);
        }
        ex.send(&pooled::ok_packet(SERVER_STATUS_AUTOCOMMIT))
            .await?;
        let opener = Opener {
            user: user.clone(),
            charset: req.charset,
            caps,
            max_packet: req.max_packet,
            attrs: req.attrs.clone(),
            secret,
        };
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
        Ok(())
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
