//! A result being collected for the cache while it streams to the client (or, for a
//! refresh ahead of expiry, while nobody waits for it): bounded by `max_entry_size`,
//! abandoned on anything but one plain result.

use bytes::{Bytes, BytesMut};

use super::codec::Frame;
use crate::engine::{Engine, FillOutcome, FillTicket, FlightGuard, Scope};

pub struct Fill {
    pub ticket: FillTicket,
    pub key: Bytes,
    pub buf: BytesMut,
    pub failed: Option<FillOutcome>,
    pub completions: u32,
    /// Held while filling so identical misses elsewhere wait for this one.
    pub flight: Option<FlightGuard>,
}

impl Fill {
    pub fn new(ticket: FillTicket, key: &[u8], flight: Option<FlightGuard>) -> Self {
        Self {
            ticket,
            key: Bytes::copy_from_slice(key),
            buf: BytesMut::new(),
            failed: None,
            completions: 0,
            flight,
        }
    }

    /// Copies one message of the answer, or marks the fill failed.
    pub fn tee(&mut self, tag: u8, frame: &Frame, max: usize) {
        if self.failed.is_some() {
            return;
        }
        match tag {
            b'T' | b'n' | b'D' | b'C' | b'I' => {
                if tag == b'C' || tag == b'I' {
                    self.completions += 1;
                }
                if self.buf.len() + frame.bytes.len() > max {
                    self.failed = Some(FillOutcome::TooLarge);
                    self.buf = BytesMut::new();
                } else {
                    self.buf.extend_from_slice(&frame.bytes);
                }
            }
            b'E' => self.failed = Some(FillOutcome::Error),
            b'Z' => {}
            _ => self.failed = Some(FillOutcome::NotPlain),
        }
    }

    /// Stores the result (if it is one plain result) and releases waiting sessions.
    pub fn finish(self, engine: &Engine, scope: &Scope) {
        match self.failed {
            Some(outcome) => engine.abandon_fill(scope, outcome),
            None if self.completions != 1 => engine.abandon_fill(scope, FillOutcome::NotPlain),
            None => engine.complete_fill(scope, self.ticket, &self.key, &self.buf),
        }
        drop(self.flight);
    }
}
