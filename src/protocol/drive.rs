//! The loop every proxied session runs, whatever its protocol: wait until the client
//! or the origin sends bytes, hand each complete message to the session, write out
//! what it queued, and stop when either side closes, the client says goodbye, or
//! wirecache shuts down and the session is at rest. What a message means is the
//! protocol's business ([`ProxySession`]); when to read, flush and stop is decided
//! here once.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

use super::{Pipes, SessionError, Side};
use crate::server::Shutdown;

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
    /// How long the client may stay idle at rest (`limits.idle_timeout`).
    fn idle_timeout(&self) -> Option<Duration> {
        None
    }
}

/// Sleeps for `d`, or forever. Made only as a future: nothing is read or registered
/// until it is polled, so a disabled branch costs nothing.
async fn idle_for(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Runs `session` to its end; a failure is reported to the client where the protocol
/// allows, and a session closed by shutdown leaves its origin as a client would.
pub async fn drive<S: ProxySession>(mut session: S, drain: Shutdown) -> Result<(), SessionError> {
    let result = run_loop(&mut session, drain).await;
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

async fn run_loop<S: ProxySession>(s: &mut S, mut drain: Shutdown) -> Result<(), SessionError> {
    let mut draining = false;
    // One future for the whole session, not one per wake-up.
    let drain = drain.wait();
    tokio::pin!(drain);
    loop {
        s.flush().await?;
        if s.terminated() {
            return Ok(());
        }
        if draining && s.at_rest() {
            return Err(SessionError::ShuttingDown);
        }
        let idle = s.idle_timeout().filter(|_| s.at_rest());
        let (side, n) = tokio::select! {
            read = s.pipes().read_either() => read?,
            () = idle_for(idle), if idle.is_some() => return Err(SessionError::IdleTimeout),
            _ = &mut drain, if !draining => {
                draining = true;
                continue;
            }
        };
        match (side, n) {
            (Side::Client, 0) => return Ok(()),
            (Side::Origin, 0) => return Err(SessionError::Closed(Side::Origin)),
            (Side::Client, _) => {
                while let Some(m) = s.next_from_client()? {
                    s.on_client(m).await?;
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
    }
}
