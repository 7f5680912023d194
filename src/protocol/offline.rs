//! The part of the session loop (`drive`) for a session without its origin
//! connection (`session::outage`): when the origin goes away at rest the session stays
//! open; each request forwarded meanwhile is answered with the origin's "answer" made
//! by the protocol ([`ProxySession::unavailable_answer`]: its retryable unavailable
//! error), fed through the protocol's own relay so its bookkeeping (owed answers,
//! fills and their single flight, extended-protocol batches) stays exact; and the
//! session ends once the origin is reachable again.

use super::{IoFailure, ProxySession, SessionError, Side};
use crate::engine::CacheCtx;
use crate::stats::OriginFault;

/// Answers owed in one go without an origin, at most: a client's request forwards
/// one or two messages, so more means a protocol's answer did not end what it owed.
const MAX_ANSWERS: usize = 64;

/// What an error on the origin's side says of the origin, if it is one.
fn fault(e: &SessionError) -> Option<OriginFault> {
    match e {
        SessionError::Closed(Side::Origin) => Some(OriginFault::Closed),
        SessionError::Io {
            side: Side::Origin,
            source,
        } => Some(OriginFault::of_io(source)),
        _ => None,
    }
}

/// The session's origin connection failed with `e`: `Ok` if the session goes on
/// without it, else `e` ends it.
pub fn lost<S: ProxySession>(s: &mut S, e: SessionError) -> Result<(), SessionError> {
    match fault(&e) {
        Some(f) if s.origin_lost(f) => Ok(()),
        _ => Err(e),
    }
}

/// What a read from either side came to: bytes from `Side` (0: it closed), or `None`
/// when the origin failed and the session goes on without it.
pub fn read<S: ProxySession>(
    s: &mut S,
    read: Result<(Side, usize), IoFailure>,
) -> Result<Option<(Side, usize)>, SessionError> {
    match read {
        Ok(read) => Ok(Some(read)),
        Err(f) if f.side == Side::Origin => lost(s, f.into()).map(|()| None),
        Err(f) => Err(f.into()),
    }
}

/// Without an origin: answers every request forwarded since the last call.
pub fn answer_owed<S: ProxySession>(s: &mut S) -> Result<(), SessionError> {
    if !s.pipes().origin_lost() {
        return Ok(());
    }
    for _ in 0..MAX_ANSWERS {
        let Some(answer) = s.unavailable_answer() else {
            return Ok(());
        };
        s.pipes().origin.inbox.extend_from_slice(&answer);
        while let Some(m) = s.next_from_origin()? {
            s.on_origin(m)?;
        }
    }
    Err(SessionError::Origin(
        "an unavailable answer did not end a request",
    ))
}

/// Resolves once the origin of a session without one is reachable again; never for
/// a session that has its origin (`None`).
pub async fn back(cache: Option<&CacheCtx>) {
    match cache {
        Some(c) => c.metrics.origin.back().await,
        None => std::future::pending().await,
    }
}
