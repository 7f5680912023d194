//! The loop every proxied session runs, whatever its protocol: wait until the client
//! or the origin sends bytes, hand each complete message to the session, write out
//! what it queued, and stop when either side closes, the client says goodbye, or
//! wirecache shuts down and the session is at rest. What a message means is the
//! protocol's business ([`ProxySession`]); when to read, flush and stop is decided
//! here once. Also decided here: an origin lost at rest lets the session go on
//! without it (`offline`) until the origin is back; an origin past `query_timeout` is
//! cancelled, then given up on; a client gone mid-answer has its query cancelled.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{Pipes, SessionError, Side, offline};
use crate::engine::CacheCtx;
use crate::server::Shutdown;
use crate::stats::OriginFault;

/// Output is flushed once this much is buffered, so large results stream.
pub const FLUSH_AT: usize = 64 * 1024;

/// One protocol's side of a proxied session after authentication.
pub trait ProxySession: Send {
    /// A complete message (PostgreSQL) or packet (MySQL).
    type Message: Send;

    fn pipes(&mut self) -> &mut Pipes;
    /// The next complete message buffered from the client, if any.
    fn next_from_client(&mut self) -> Result<Option<Self::Message>, SessionError>;
    /// The next complete message buffered from the origin, if any.
    fn next_from_origin(&mut self) -> Result<Option<Self::Message>, SessionError>;
    /// Acts on a client message: answer it from the cache or forward it.
    fn on_client(
        &mut self,
        m: Self::Message,
    ) -> impl Future<Output = Result<(), SessionError>> + Send;
    /// Acts on an origin message: attribute it to a pending request and pass it on.
    fn on_origin(&mut self, m: Self::Message) -> Result<(), SessionError>;
    /// Writes out everything owed to either side that may be sent now.
    fn flush(&mut self) -> impl Future<Output = Result<(), SessionError>> + Send;
    /// The client said goodbye.
    fn terminated(&self) -> bool;
    /// Between requests, outside a transaction, with nothing owed to either side:
    /// closing now loses the client nothing.
    fn at_rest(&self) -> bool;
    /// What the client is told when the session ends with `e`, if anything.
    fn error_for_client(&self, e: &SessionError) -> Option<Bytes>;
    /// What a client sends the origin to leave.
    fn goodbye(&self) -> Bytes;
    /// Runs when the client's bytes at hand have arrived, before they are handled
    /// (the cluster's strict mode asks its bus here).
    fn arrived(&mut self) -> impl Future<Output = ()> + Send;
    /// Before the client's output is written outside [`ProxySession::flush`] (at the
    /// session's end): waits for what that output waits for.
    fn settle(&mut self) -> impl Future<Output = ()> + Send;
    /// The session's cache.
    fn cache(&self) -> &Arc<CacheCtx>;
    /// The origin connection failed (`fault`): true if the session goes on without it
    /// (see `session::outage`).
    fn origin_lost(&mut self, fault: OriginFault) -> bool;
    /// Without an origin: the bytes standing for the origin's answer to the oldest
    /// request owed (the protocol's "unavailable" error), or `None` if none is owed.
    fn unavailable_answer(&mut self) -> Option<Bytes>;
    /// When the origin is overdue under `query_timeout`, if a request is in flight.
    fn query_deadline(&self) -> Option<tokio::time::Instant>;
    /// The deadline passed: cancel the origin query, or end the session.
    fn on_overdue(&mut self) -> Result<(), SessionError>;
    /// The client went away: cancel what it left running at the origin, where the
    /// protocol can.
    fn cancel_origin_query(&mut self);
    /// The origin of a session without one is reachable again: true if the session
    /// goes back to using it (a session that leases its origin connections, at a
    /// request boundary); false if it must end (it cannot log in again).
    fn regain_origin(&mut self) -> bool {
        false
    }
    /// How long the client may stay idle at rest (`limits.idle_timeout`).
    fn idle_timeout(&self) -> Option<Duration> {
        None
    }
}

/// Runs `session` to its end; a failure is reported to the client where the protocol
/// allows, and a session closed by shutdown leaves its origin as a client would.
pub async fn drive<S: ProxySession>(mut session: S, drain: Shutdown) -> Result<(), SessionError> {
    drive_ref(&mut session, drain).await
}

/// [`drive`], leaving the session to the caller (a pooled session's origin
/// connection goes back to its pool afterwards).
pub async fn drive_ref<S: ProxySession>(
    session: &mut S,
    drain: Shutdown,
) -> Result<(), SessionError> {
    let result = run_loop(session, drain).await;
    if matches!(
        &result,
        Ok(())
            | Err(SessionError::Closed(Side::Client)
                | SessionError::Io {
                    side: Side::Client,
                    ..
                })
    ) {
        session.cancel_origin_query();
    }
    session.settle().await;
    if let Err(e) = &result
        && let Some(wire) = session.error_for_client(e)
    {
        let client = &mut session.pipes().client;
        client.outbox.extend_from_slice(&wire);
        let _ = client.flush().await;
    }
    if matches!(result, Err(SessionError::ShuttingDown)) {
        let goodbye = session.goodbye();
        let _ = session.pipes().origin.send(&goodbye).await;
    }
    result
}

async fn run_loop<S: ProxySession>(s: &mut S, drain: Shutdown) -> Result<(), SessionError> {
    let mut draining = false;
    // One future for the whole session, not one per wake-up, and cheap to poll.
    let mut drain = drain.session_wait();
    loop {
        s.flush().await?;
        if s.terminated() {
            return Ok(());
        }
        if draining && s.at_rest() {
            return Err(SessionError::ShuttingDown);
        }
        let without_origin = s.pipes().origin_lost().then(|| s.cache().clone());
        let deadline = s.query_deadline();
        let idle = s.idle_timeout().filter(|_| s.at_rest());
        let idle = idle.map(|d| tokio::time::Instant::now() + d);
        // In a fixed order (`biased`: no random number per wake-up); the drain's
        // poll is two atomic loads.
        let read = tokio::select! {
            biased;
            () = &mut drain, if !draining => {
                draining = true;
                continue;
            }
            read = s.pipes().read_either() => read,
            () = until(idle), if idle.is_some() => return Err(SessionError::IdleTimeout),
            i = interrupt(without_origin.as_deref(), deadline), if without_origin.is_some() || deadline.is_some() => match i {
                Interrupt::OriginBack if s.regain_origin() => continue,
                Interrupt::OriginBack => return Err(SessionError::OriginBack),
                Interrupt::Overdue => {
                    s.on_overdue()?;
                    continue;
                }
            },
        };
        let Some((side, n)) = offline::read(s, read)? else {
            continue;
        };
        if side == Side::Client && n == 0 {
            return Ok(());
        }
        on_bytes(s, side, n).await?;
    }
}

/// Hands what arrived from `side` (`n` bytes, or 0: the origin closed) to the session.
async fn on_bytes<S: ProxySession>(s: &mut S, side: Side, n: usize) -> Result<(), SessionError> {
    match (side, n) {
        (Side::Origin, 0) => offline::lost(s, SessionError::Closed(Side::Origin))?,
        (Side::Client, _) => {
            if s.pipes().origin_lost() && s.cache().metrics.origin.is_up() {
                // Back, and the session may not have heard yet: a session that can
                // lease a fresh connection does so for these requests.
                s.regain_origin();
            }
            s.arrived().await;
            while let Some(m) = s.next_from_client()? {
                s.on_client(m).await?;
                offline::answer_owed(s)?;
                let io = s.pipes();
                if io.origin.outbox.len() > FLUSH_AT || io.client.outbox.len() > FLUSH_AT {
                    s.flush().await?;
                }
            }
        }
        (Side::Origin, _) => {
            while let Some(m) = s.next_from_origin()? {
                s.on_origin(m)?;
                if s.pipes().client.outbox.len() > FLUSH_AT {
                    s.flush().await?;
                }
            }
        }
    }
    Ok(())
}

/// What ends a session's wait for bytes, besides a shutdown.
enum Interrupt {
    /// The origin of a session without one is reachable again.
    OriginBack,
    /// The `query_timeout` deadline passed.
    Overdue,
}

/// Polled only when it can fire: never on the hit path of a session that has its
/// origin and no `query_timeout`.
async fn interrupt(cache: Option<&CacheCtx>, deadline: Option<tokio::time::Instant>) -> Interrupt {
    tokio::select! {
        biased;
        () = offline::back(cache) => Interrupt::OriginBack,
        () = until(deadline) => Interrupt::Overdue,
    }
}

/// Resolves at `deadline`; never without one.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
