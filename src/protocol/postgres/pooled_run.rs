//! A transaction-pooled session's life (`pool = "transaction"`): after the login
//! (`pooled::login`, which leased a first connection with the client's startup
//! parameters), the client is greeted, the session starts on that connection with a
//! lender (`pooled_lender`) that leases the next ones, and gives the first back as
//! soon as it is idle. At the end, a connection the session still holds at rest is
//! given back as it is, or reset with `DISCARD ALL` first if the session was pinned
//! or its settings are unsure; any other is closed.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::PgContext;
use super::cancel::CancelTarget;
use super::errors::{PgError, Side};
use super::origin_login::{self, OriginConn};
use super::pooled::{self, Leased, PooledCache};
use super::pooled_lender::{Start, TxnLender};
use super::pooled_state::Tracked;
use super::session::Session;
use super::startup::Resolved;
use crate::protocol::ProxySession;
use crate::server::admission::Admitted;
use crate::server::stream::{Stream, send};

/// Runs a transaction-pooled session from its greeting to its end.
pub async fn run(
    ctx: &Arc<PgContext>,
    (mut client, cbuf): (Stream, BytesMut),
    resolved: &Resolved,
    pooled: &PooledCache,
    (admitted, leased): (Admitted, Leased),
) -> Result<(), PgError> {
    let Leased {
        lease,
        mut conn,
        want,
        secret,
        pool,
    } = leased;
    let cache = resolved.0.clone();
    let tracked = Tracked::new(want.clone());
    if tracked.differs(&conn.txn, &conn.applied) {
        // Another session's settings are on it: back to this client's.
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
    let own_key = Bytes::from(super::scram::random_bytes(8));
    send(&mut client, &pooled::greeting(&conn, &own_key))
        .await
        .map_err(PgError::io(Side::Client))?;
    let peer = client.tcp().peer_addr().ok();
    let OriginConn {
        end,
        statuses,
        key,
        txn,
        ..
    } = conn;
    let mut session = pooled::session(ctx, (client, cbuf), resolved, end, &statuses);
    session.admitted = Some(admitted);
    session.txn_pooled = true;
    session.cancel = Some(CancelTarget {
        cache: cache.clone(),
        key: key.clone(),
    });
    let params = &resolved.1;
    let target = (
        pooled::param(params, "user").to_owned(),
        pooled::param(params, "database").to_owned(),
    );
    let start = Start {
        lease,
        statuses,
        key,
        state: txn,
        tracked,
        own_key,
        secret,
        target,
        pool,
        names: pooled.names.clone(),
    };
    let lender = TxnLender::new(ctx.clone(), cache, start);
    session.core.io().lend_from(Box::new(lender));
    let result = pooled::drive(ctx, &mut session, peer).await;
    if result.is_ok() {
        finish(&mut session, &want).await;
    }
    result
}

/// Gives back the connection a session that ended well at rest still holds.
async fn finish(session: &mut Session, want: &[(String, String)]) {
    let at_rest = session.at_rest() && session.core.txn().is_idle() && !session.origin_fatal;
    if !at_rest || session.core.io().origin_lost() {
        return;
    }
    let within = session.core.cache().connect_timeout;
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
