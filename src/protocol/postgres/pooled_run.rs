//! A transaction-pooled session's life (`pool = "transaction"`): after the login
//! (`pooled::login`), the client is greeted with the parameter statuses an earlier
//! login with the same parameters saw (no origin connection needed), or, the first
//! time, with those of a connection leased for it. The session starts with a lender
//! (`pooled_lender`) that leases connections per transaction (and gives that first
//! one back as soon as it is idle). At the end, a connection the session still holds at rest is
//! given back as it is, or reset with `DISCARD ALL` first if the session was pinned
//! or its settings are unsure; any other is closed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};

use super::PgContext;
use super::cancel::CancelTarget;
use super::errors::{PgError, Side};
use super::origin_login::{self, OriginConn};
use super::pooled::{self, Greeted, Leased, LoggedIn, PooledCache};
use super::pooled_lender::{Start, TxnLender};
use super::pooled_params::Params;
use super::pooled_state::Tracked;
use super::session::Session;
use super::startup::Resolved;
use crate::pool::Lease;
use crate::protocol::ProxySession;
use crate::protocol::pipes::End;
use crate::server::admission::Admitted;
use crate::server::stream::{Stream, send};

/// Greetings by (origin user, database, startup parameters), at most
/// [`MAX_GREETINGS`].
#[derive(Default)]
pub struct Greetings(Mutex<HashMap<(String, String, Params), Params>>);

const MAX_GREETINGS: usize = 1024;

impl Greetings {
    pub fn get(&self, (user, db): (&str, &str), want: &Params) -> Option<Params> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(user.to_owned(), db.to_owned(), want.clone()))
            .cloned()
    }

    fn put(&self, (user, db): (String, String), want: Params, statuses: Params) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() < MAX_GREETINGS {
            map.insert((user, db, want), statuses);
        }
    }
}

/// Runs a transaction-pooled session from its greeting to its end.
pub async fn run(
    ctx: &Arc<PgContext>,
    (mut client, cbuf): (Stream, BytesMut),
    resolved: &Resolved,
    pooled: &PooledCache,
    (admitted, login): (Admitted, LoggedIn),
) -> Result<(), PgError> {
    let cache = resolved.0.clone();
    let params = &resolved.1;
    let target = (
        pooled::param(params, "user").to_owned(),
        pooled::param(params, "database").to_owned(),
    );
    let (first, mut greeted) = match login {
        LoggedIn::Leased(leased) => {
            let (first, greeted) = first_connection(*leased).await?;
            let (want, statuses) = (greeted.want.clone(), greeted.statuses.clone());
            pooled.greetings.put(target.clone(), want, statuses);
            (Some(first), greeted)
        }
        LoggedIn::Greeted(greeted) => (None, *greeted),
    };
    let own_key = Bytes::from(super::scram::random_bytes(8));
    let hello = std::mem::take(&mut greeted.hello);
    send(
        &mut client,
        &pooled::greeting(hello, &greeted.statuses, &own_key),
    )
    .await
    .map_err(PgError::io(Side::Client))?;
    let peer = client.tcp().peer_addr().ok();
    let (end, first) = match first {
        Some((lease, conn)) => {
            let OriginConn { end, key, txn, .. } = conn;
            (end, Some((lease, key, txn)))
        }
        None => (End::detached_origin(), None),
    };
    let statuses = &greeted.statuses;
    let mut session = pooled::session(ctx, (client, cbuf), resolved, end, statuses);
    session.admitted = Some(admitted);
    session.txn_pooled = true;
    session.cancel = Some(CancelTarget {
        cache: cache.clone(),
        key: Bytes::new(),
    });
    let want = greeted.want.clone();
    let start = Start {
        first,
        statuses: greeted.statuses,
        tracked: Tracked::new(greeted.want),
        own_key,
        secret: greeted.secret,
        target,
        pool: greeted.pool,
        names: pooled.names.clone(),
        max_prepared: pooled.max_prepared,
    };
    let lender = TxnLender::new(ctx.clone(), cache, start);
    session.core.io().lend_from(Box::new(lender));
    let result = pooled::drive(ctx, &mut session, peer).await;
    if result.is_ok() {
        finish(&mut session, &want).await;
    }
    result
}

type First = (Lease<OriginConn>, OriginConn);

/// The connection a login leased, with this client's settings (another session's
/// may still be on it).
async fn first_connection(leased: Leased) -> Result<(First, Greeted), PgError> {
    let Leased {
        lease,
        mut conn,
        want,
        secret,
        pool,
        hello,
    } = leased;
    let tracked = Tracked::new(want.clone());
    if tracked.differs(&conn.txn, &conn.applied) {
        if origin_login::run(&mut conn, &tracked.replay_sql())
            .await?
            .is_some()
        {
            return Err(PgError::Origin("resetting a pooled connection failed"));
        }
        conn.applied.clone_from(&want);
        conn.txn.sets.clear();
        conn.txn.dirty = false;
    }
    let greeted = Greeted {
        statuses: conn.statuses.clone(),
        want,
        secret,
        pool,
        hello,
    };
    Ok(((lease, conn), greeted))
}

/// Gives back the connection a session that ended well at rest still holds (after
/// the answer of a refresh it left in flight, `pooled::settle_refresh`).
async fn finish(session: &mut Session, want: &[(String, String)]) {
    let within = session.core.cache().connect_timeout;
    pooled::settle_refresh(session, within).await;
    let at_rest = session.at_rest() && session.core.txn().is_idle() && !session.origin_fatal;
    if !at_rest || session.core.io().origin_lost() {
        return;
    }
    let Some(end) = session.core.io().origin.detach() else {
        return;
    };
    let Some(lender) = session.lender() else {
        return;
    };
    let pinned = lender.pinned().is_some();
    let Some((lease, mut conn)) = lender.finish(end) else {
        return;
    };
    if pinned || conn.txn.dirty {
        pooled::give_back(lease, conn, want, within).await;
    } else if conn.end.alive() {
        conn.txn.sets.clone_from(&lender_sets(session));
        lease.give_back(conn);
    }
}

fn lender_sets(session: &mut Session) -> Vec<String> {
    session
        .lender()
        .map(|l| l.tracked.sets.clone())
        .unwrap_or_default()
}
