//! A MySQL session without its origin connection (`session::outage`): what stands
//! for the origin's answer to each command meanwhile (ERR 1053, SQLSTATE 08S01, with
//! the sequence id an answer starts with), and an unsolicited ERR the origin sends as
//! it goes away, dropped when the session goes on (an idle MySQL client expects no
//! packet).

use bytes::Bytes;

use super::errors::{MyError, to_wire};
use super::session::Session;
use crate::engine::Effects;
use crate::stats::OriginFault;

impl Session {
    /// An unsolicited packet of an origin going away: dropped (true) if the session
    /// may go on without its origin, else relayed by the caller.
    pub fn drop_unsolicited(&self) -> bool {
        !self.core.txn().is_open() && self.core.nothing_owed()
    }

    /// The origin connection failed: the session goes on without it if it was at rest.
    pub fn lose_origin(&mut self, fault: OriginFault) -> bool {
        !self.client_cont && self.core.lose_origin(fault)
    }

    /// What stands for the origin's answer to the oldest owed command.
    pub fn unavailable(&mut self) -> Option<Bytes> {
        // It never reached the origin: it wrote nothing, changed nothing.
        self.core.front_owed()?.effects = Effects::default();
        self.core.count_unavailable();
        to_wire(&MyError::OriginUnavailable, 1)
    }

    /// `query_timeout` passed for the oldest owed answer. wirecache cannot log a side
    /// connection in (authentication is passed through; it holds no password) to send
    /// `KILL QUERY`, so the client gets ERR 3024 and the session ends, closing its
    /// origin connection: the origin aborts the statement when it notices (at the
    /// latest when it writes to the closed connection), and the connection is never
    /// reused.
    pub fn overdue(&mut self) -> Result<(), MyError> {
        self.core.overdue()?;
        Err(MyError::QueryTimeout(self.core.cache().query_timeout))
    }
}
