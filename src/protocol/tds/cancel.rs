//! `query_timeout` on TDS (`session::deadline`): at the deadline wirecache sends the
//! origin an Attention of its own on the session's connection (TDS cancels in band:
//! no second connection, no password needed). The origin's answer to the cancelled
//! request — cut short by the acknowledgement (DONE with DONE_ATTN), or complete if
//! it finished first — is followed as usual (writes it may have made are applied,
//! a cut answer is never stored) but not passed on, nor is the acknowledgement: the
//! client gets an ERROR naming the timeout instead, and the session goes on with its
//! connection clean. An origin that has not answered one more `query_timeout` later
//! ends the session with the timeout error (`session::deadline`).

use bytes::{Bytes, BytesMut};

use super::codec::{self, Kind};
use super::errors::{done_token, error_token};
use super::session::Session;
use super::tokens::DONE_ERROR;
use crate::protocol::SessionError;
use crate::session::Overdue;

/// The error number the client gets for a query cancelled at `query_timeout`:
/// wirecache's general number (SqlClient's own -2 is a client-side timeout, which a
/// server must not claim), the text naming the timeout.
const TIMED_OUT: i32 = 50000;
/// An error of the request: the connection stays usable.
const CLASS_TIMED_OUT: u8 = 16;

/// Where an Attention of wirecache's own stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OwnCancel {
    /// None sent, or it was acknowledged and the client told.
    #[default]
    Idle,
    /// Sent: the cancelled request's answer and the acknowledgement are to come.
    Sent,
    /// Sent while the answer was already streaming to the client: the rest of it is
    /// relayed (cut short by the acknowledgement, which ends the client's message).
    SentMidAnswer,
    /// The cancelled request's answer ended without the acknowledgement (it finished
    /// first) and the client was told: the acknowledgement still comes, in a message
    /// of its own, and is swallowed.
    AckOwed,
    /// The acknowledgement ended a refresh ahead of expiry, sent before the cancelled
    /// request: that request's answer still comes, and is swallowed.
    Acked,
}

impl Session {
    /// `query_timeout` passed for the oldest owed answer: an Attention of wirecache's
    /// own the first time; the session ends if it went unanswered (or if one is still
    /// being settled).
    pub fn overdue(&mut self) -> Result<(), SessionError> {
        if self.own_cancel != OwnCancel::Idle {
            return Err(SessionError::QueryTimeout(self.core.cache().query_timeout));
        }
        // An Attention of the client's own already asks the origin to stop.
        if self.core.overdue()? == Overdue::Cancel && !self.attention {
            tracing::info!(cache = %self.core.cache().id, "query_timeout: attention sent to the origin");
            let attention = codec::message(Kind::Attention, &[], self.packet_size);
            self.core.to_origin(&attention);
            let m = &self.core.cache().metrics;
            m.cancellations
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.own_cancel = if self.answer_started {
                OwnCancel::SentMidAnswer
            } else {
                OwnCancel::Sent
            };
        }
        Ok(())
    }

    /// Whether wirecache's own Attention is being settled.
    pub fn swallowing(&self) -> bool {
        self.own_cancel != OwnCancel::Idle
    }

    /// Whether the owed answer's packets are kept from the client.
    pub fn swallows_answer(&self) -> bool {
        matches!(self.own_cancel, OwnCancel::Sent | OwnCancel::Acked)
    }

    /// The end of an answer relayed while wirecache's own Attention was under way
    /// (`acknowledged`: the acknowledgement was in it).
    pub fn relayed_answer_ended(&mut self, acknowledged: bool) {
        if self.own_cancel == OwnCancel::SentMidAnswer {
            self.own_cancel = if acknowledged {
                OwnCancel::Idle
            } else {
                OwnCancel::AckOwed
            };
        }
    }

    /// The cancelled request's answer, kept from the client, ended (`acknowledged`: the acknowledgement was
    /// in it). Returns what the client is told: the timeout error, or, if it sent an
    /// Attention of its own meanwhile, the acknowledgement it waits for.
    pub fn cancelled_answer_ended(&mut self, acknowledged: bool) -> Bytes {
        self.own_cancel = if acknowledged || self.own_cancel == OwnCancel::Acked {
            OwnCancel::Idle
        } else {
            OwnCancel::AckOwed
        };
        if self.attention {
            self.attention = false;
            return self.attention_ack();
        }
        self.timed_out_message()
    }

    /// The acknowledgement ended a refresh's answer (sent before the cancelled
    /// request) or a message of its own after the cancelled answer.
    pub fn own_ack_arrived(&mut self) {
        self.own_cancel = match self.own_cancel {
            OwnCancel::Sent => OwnCancel::Acked,
            _ => OwnCancel::Idle,
        };
    }

    /// An Attention from the client while wirecache's own is being settled: not sent
    /// on (the origin acknowledges one); answered with the cancelled request's end,
    /// or at once if the client was told already.
    pub fn client_attention_while_cancelling(&mut self) {
        if self.own_cancel == OwnCancel::AckOwed {
            let ack = self.attention_ack();
            self.core.local(ack, false);
        } else {
            self.attention = true;
        }
    }

    /// An ERROR naming the timeout and a DONE marked as an error.
    fn timed_out_message(&self) -> Bytes {
        let narrow = !self.all_headers;
        let text = format!(
            "wirecache: {}",
            SessionError::QueryTimeout(self.core.cache().query_timeout)
        );
        let mut tokens = BytesMut::new();
        error_token(&mut tokens, TIMED_OUT, CLASS_TIMED_OUT, &text, narrow);
        done_token(&mut tokens, DONE_ERROR, narrow);
        codec::message(Kind::TabularResult, &tokens, self.packet_size)
    }
}
