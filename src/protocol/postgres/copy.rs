//! Client messages the origin will not answer, and the COPY sub-protocols that make
//! them (PostgreSQL protocol, "COPY Operations"). The session must know exactly which
//! of the client's messages get an answer, or it waits for one that never comes (or
//! answers a Sync itself while the origin still waits for it):
//!
//! - In copy-in mode the origin reads CopyData, CopyDone and CopyFail, and ignores
//!   Flush and Sync. Drivers send Execute and Sync together before they know the
//!   statement is a COPY, so the Syncs already sent after that Execute get no
//!   ReadyForQuery, and the batch stays open: the Sync the client sends after
//!   CopyDone/CopyFail is the one the origin answers.
//! - Any other message during copy-in aborts the copy with an error; in an extended
//!   batch the origin then skips everything up to the next Sync.
//! - In copy-both mode (replication) the client's messages are CopyData and CopyDone.
//! - After an error in an extended batch the origin skips every message up to Sync.
//!
//! Transitions of [`CopyState`]:
//! - `Idle` → `In` when the origin sends CopyInResponse; `Idle` → `Both` on
//!   CopyBothResponse. CopyOutResponse needs no state: the client sends nothing then.
//! - `In` → `Idle` when the client sends CopyDone, CopyFail or any other non-copy
//!   message, or when the origin sends an ErrorResponse (it left copy-in mode).
//! - `In` or `Both` → `Idle` at the origin's ReadyForQuery.

use super::codec::Frame;
use super::session::{Expect, Session};
use crate::session::Pending;

/// Where the connection stands in a COPY sub-protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CopyState {
    #[default]
    Idle,
    /// Copy-in; `extended` if the COPY was an Execute of the extended protocol.
    In { extended: bool },
    /// Copy-both (a walsender's START_REPLICATION).
    Both,
}

impl CopyState {
    pub fn as_str(self) -> &'static str {
        match self {
            CopyState::Idle => "idle",
            CopyState::In { .. } => "copy_in",
            CopyState::Both => "copy_both",
        }
    }
}

impl Session {
    /// Forwards a client message the origin will not answer (see the module docs),
    /// expecting nothing. Returns false if the message needs the usual handling.
    pub fn pass_unanswered(&mut self, frame: &Frame) -> bool {
        let tag = frame.tag();
        match self.copy {
            CopyState::Idle if !self.ext.failed() => return false,
            // Terminate ends the session whatever state it is in.
            _ if tag == b'X' => return false,
            // Up to Sync: a Sync is answered (and ends the batch) as usual.
            CopyState::Idle if tag == b'S' => return false,
            CopyState::Idle | CopyState::Both => {}
            CopyState::In { extended } => match tag {
                b'd' | b'H' | b'S' => {}
                b'c' | b'f' => self.copy = CopyState::Idle,
                _ => {
                    // The origin aborts the copy with an error.
                    self.copy = CopyState::Idle;
                    if extended {
                        self.ext.fail_batch();
                    }
                }
            },
        }
        self.forward(frame);
        true
    }

    /// Follows the COPY sub-protocols on the origin's side; `tag` is a message
    /// answering the request at the head of `pending`.
    pub fn track_copy(&mut self, tag: u8) {
        match tag {
            b'G' => self.on_copy_in_response(),
            b'W' => self.copy = CopyState::Both,
            b'E' if matches!(self.copy, CopyState::In { .. }) => self.copy = CopyState::Idle,
            b'Z' => self.copy = CopyState::Idle,
            _ => return,
        }
        tracing::trace!(state = self.copy.as_str(), "copy sub-protocol");
    }

    /// CopyInResponse: the Syncs queued behind the COPY (forwarded, or answered here
    /// because nothing else of their batch reached the origin) get no ReadyForQuery.
    fn on_copy_in_response(&mut self) {
        let extended = self
            .core
            .front_owed()
            .is_some_and(|owed| owed.answer.expect == Expect::Execute);
        self.core.drop_behind(|p| match p {
            Pending::Origin(owed) => owed.answer.expect == Expect::Sync,
            Pending::Local { sync, .. } => *sync,
        });
        self.copy = CopyState::In { extended };
        if extended {
            self.ext.resume_batch();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_have_labels() {
        let all = [
            CopyState::Idle,
            CopyState::In { extended: true },
            CopyState::Both,
        ];
        let labels: Vec<_> = all.iter().map(|s| s.as_str()).collect();
        assert_eq!(labels, ["idle", "copy_in", "copy_both"]);
    }
}
