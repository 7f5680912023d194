//! A TDS session without its origin connection (`session::outage`): what stands for
//! the origin's answer to each request meanwhile, and the acknowledgement of an
//! Attention no origin can give.
//!
//! A request that needs the origin gets an ERROR token 40613 (severity 17: "not
//! currently available, retry later"), the number SQL Server answers while a database
//! cannot serve and that SqlClient's and Entity Framework's retry logic count as
//! transient, then a DONE marked as an error. The severity is below 20, so drivers
//! keep the connection for the cached reads that still work. No transaction can be
//! open (the session went offline at rest).

use bytes::{Bytes, BytesMut};

use super::codec::{self, Kind};
use super::errors::{done_token, error_token};
use super::session::Session;
use super::tokens::{DONE_ATTN, DONE_ERROR};
use crate::engine::Effects;
use crate::stats::OriginFault;

/// SQL Server's "database … is not currently available; please retry": transient.
pub const UNAVAILABLE: i32 = 40613;
/// Its severity: an error of the request, not of the connection.
const CLASS_UNAVAILABLE: u8 = 17;
const UNAVAILABLE_TEXT: &str =
    "wirecache: the origin is unavailable; cached reads are still answered, retry later";

impl Session {
    /// The origin connection failed: the session goes on without it if it was at rest
    /// (no request half received, no Attention awaiting its acknowledgement).
    pub fn lose_origin(&mut self, fault: OriginFault) -> bool {
        let at_rest = !self.client_partial() && !self.attention && !self.swallowing();
        at_rest && self.core.lose_origin(fault)
    }

    /// What stands for the origin's answer to the oldest owed request.
    pub fn unavailable(&mut self) -> Option<Bytes> {
        // It never reached the origin: it wrote nothing, changed nothing.
        self.core.front_owed()?.effects = Effects::default();
        self.core.count_unavailable();
        let narrow = !self.all_headers;
        let mut tokens = BytesMut::new();
        error_token(
            &mut tokens,
            UNAVAILABLE,
            CLASS_UNAVAILABLE,
            UNAVAILABLE_TEXT,
            narrow,
        );
        done_token(&mut tokens, DONE_ERROR, narrow);
        Some(codec::message(
            Kind::TabularResult,
            &tokens,
            self.packet_size,
        ))
    }

    /// An Attention without an origin: every request was answered at once, so there
    /// is nothing to cancel; the client gets the acknowledgement it waits for.
    pub fn acknowledge_attention(&mut self) {
        let ack = self.attention_ack();
        self.core.local(ack, false);
    }

    /// A message holding only an Attention's acknowledgement (DONE with DONE_ATTN).
    pub fn attention_ack(&self) -> Bytes {
        let mut tokens = BytesMut::new();
        done_token(&mut tokens, DONE_ATTN, !self.all_headers);
        codec::message(Kind::TabularResult, &tokens, self.packet_size)
    }
}
