//! The origin's side of a session: each packet is attributed to the oldest pending
//! command, teed into the current fill where it belongs, and passed on. Writes are
//! invalidated before their acknowledgement (the statement's OK, and again the OK that
//! ends the transaction) is queued for the client (design §2 step 7). Also the replay
//! of a stored answer: sequence ids renumbered, live status flags in its EOF packets.

use bytes::{Bytes, BytesMut};

use super::codec::{HEADER, Packet, Reader};
use super::errors::MyError;
use super::handshake::CLIENT_DEPRECATE_EOF;
use super::response::{
    Event, SERVER_MORE_RESULTS_EXISTS, SERVER_SESSION_STATE_CHANGED, SERVER_STATUS_AUTOCOMMIT,
    SERVER_STATUS_IN_TRANS, SERVER_STATUS_IN_TRANS_READONLY,
};
use super::session::{After, Session, txn_state};
use crate::session::Part;

/// Status bits that describe the session now rather than the stored result.
const LIVE_STATUS: u16 =
    SERVER_STATUS_IN_TRANS | SERVER_STATUS_AUTOCOMMIT | SERVER_STATUS_IN_TRANS_READONLY;

/// What a packet of an answer is for the cache: one plain result set, with no
/// warnings and nothing after it.
fn part(event: Event) -> Part {
    let not_plain = |status: u16, warnings: u16| {
        warnings > 0 || status & (SERVER_MORE_RESULTS_EXISTS | SERVER_SESSION_STATE_CHANGED) != 0
    };
    match event {
        Event::Error => Part::Error,
        Event::Infile => Part::NotPlain,
        Event::Status { status, warnings } if not_plain(status, warnings) => Part::NotPlain,
        Event::ResultSet => Part::Result,
        _ => Part::Keep,
    }
}

impl Session {
    /// Fails, relaying nothing, for an auth round of COM_CHANGE_USER that would put a
    /// password on a leg without TLS: the client gets an ERR in its place
    /// (`err_seq`), and the origin, mid-authentication, is abandoned.
    pub fn on_origin(&mut self, p: Packet) -> Result<(), MyError> {
        if self.core.refresh_answer().is_some() {
            // A refresh ahead of expiry was sent before anything now pending.
            self.on_refresh_packet(&p);
            return Ok(());
        }
        let continuation = std::mem::replace(&mut self.origin_cont, p.is_full());
        let Some(owed) = self.core.front_owed() else {
            // Unsolicited (e.g. an ERR before the origin closes): dropped if the
            // session can go on without its origin (`offline`), else passed on.
            if !self.drop_unsolicited() {
                self.core.to_client(&p.bytes);
            }
            return Ok(());
        };
        let tee = owed.tee;
        let prepare_answer = owed.answer.first && matches!(owed.answer.after, After::Prepared(_));
        if prepare_answer && !continuation && self.txn_pooled {
            // The client's own statement id in its PREPARE_OK.
            let p = self.txn_prepared(p);
            return self.on_answer(p, tee);
        }
        if continuation {
            if tee {
                self.core.tee(&p.bytes, Part::Keep);
            }
            self.core.to_client(&p.bytes);
            return Ok(());
        }
        self.on_answer(p, tee)
    }

    /// A packet (not a continuation) of the oldest owed answer.
    fn on_answer(&mut self, p: Packet, tee: bool) -> Result<(), MyError> {
        let Some(owed) = self.core.front_owed() else {
            return Ok(());
        };
        let a = &mut owed.answer;
        if matches!(a.after, After::ChangeUser(_))
            && let Err(e) = self.auth.check(p.payload())
        {
            self.err_seq = p.seq();
            return Err(e);
        }
        let first = std::mem::replace(&mut a.first, false);
        let row = a.tracker.in_rows();
        let event = a.tracker.step(p.payload());
        let done = a.tracker.is_done();
        let after = a.after.clone();
        if matches!(event, Event::Status { .. } | Event::Error) {
            // Applied at the acknowledgement and remembered for the end of the
            // transaction (design §4.4).
            self.core.acknowledged();
        }
        if first && let After::Prepared(sql) = &after {
            self.on_prepare_ok(p.payload(), sql.clone());
        }
        if tee {
            self.core.tee(&p.bytes, part(event));
        }
        if self.txn_pooled
            && matches!(event, Event::Status { .. })
            && p.payload().first() == Some(&0x00)
        {
            self.txn_ok(p.payload());
        }
        if self.txn_pooled {
            self.diag_answer(p.payload(), event, done);
        } else {
            self.conditions_answer(event, done);
        }
        match event {
            Event::Status { status, .. } => self.on_status(status, &after),
            Event::Error if matches!(after, After::ChangeUser(_)) => self.core.taint(),
            _ => {}
        }
        if done {
            self.core.answered();
            if tee {
                self.core.finish_fill();
            }
        }
        match super::pooled_diag::rewritten(&after, row, event, &p) {
            Some(bytes) => self.core.to_client(&bytes),
            None => self.core.to_client(&p.bytes),
        }
        Ok(())
    }

    /// One packet of a refresh's answer: collected, never relayed.
    fn on_refresh_packet(&mut self, p: &Packet) {
        let Some(a) = self.core.refresh_answer() else {
            return;
        };
        let event = a.tracker.step(p.payload());
        let done = a.tracker.is_done();
        self.core.tee_refresh(&p.bytes, part(event), done);
    }

    /// New status flags from an OK or EOF: the end of a transaction applies its writes
    /// again, unless it was rolled back. A COMMIT ends one even when `AND CHAIN` leaves
    /// the flags saying "in a transaction".
    fn on_status(&mut self, status: u16, after: &After) {
        let was_in = self.status & SERVER_STATUS_IN_TRANS != 0;
        let now_in = status & SERVER_STATUS_IN_TRANS != 0;
        if !now_in || *after == After::Commit {
            self.core
                .transaction_ended(was_in && *after != After::Rollback);
        }
        self.status = status;
        self.core.set_txn(txn_state(status));
        match after {
            After::ChangeUser(identity) => self.reset_state(identity.clone()),
            After::Reset => {
                self.reset_state(self.identity.clone());
                self.txn_reset();
            }
            After::Track(note) => self.txn_applied(note),
            _ => {}
        }
    }
}

/// Offset of the status flags in an EOF packet's payload, or in an OK packet's with a
/// 0xFE header (CLIENT_DEPRECATE_EOF).
fn status_offset(payload: &[u8], deprecate_eof: bool) -> Option<usize> {
    if !deprecate_eof {
        return Some(3);
    }
    let mut r = Reader::new(payload);
    r.u8()?;
    r.lenenc()?;
    r.lenenc()?;
    Some(payload.len() - r.rest().len())
}

/// A stored answer as this session's client must see it: sequence ids from 1 on (the
/// command was packet 0), and the live transaction and autocommit flags in every EOF
/// and in the terminator.
pub fn replay(stored: &[u8], status: u16, caps: u32) -> Bytes {
    let deprecate_eof = caps & CLIENT_DEPRECATE_EOF != 0;
    let mut out = BytesMut::from(stored);
    let mut at = 0usize;
    let mut seq = 1u8;
    while let Some(&[a, b, c, _seq]) = out.get(at..at + HEADER) {
        let len = usize::from(a) | usize::from(b) << 8 | usize::from(c) << 16;
        let end = at + HEADER + len;
        if let Some(s) = out.get_mut(at + 3) {
            *s = seq;
        }
        let last = end >= out.len();
        let payload = out.get(at + HEADER..end).unwrap_or_default();
        let is_eof = payload.first() == Some(&0xFE) && (len < 9 || (last && deprecate_eof));
        if is_eof && let Some(off) = status_offset(payload, deprecate_eof && last) {
            let i = at + HEADER + off;
            if let Some(b) = out.get_mut(i..i + 2)
                && let Ok(bytes) = <[u8; 2]>::try_from(&*b)
            {
                let old = u16::from_le_bytes(bytes);
                let new = (old & !LIVE_STATUS) | (status & LIVE_STATUS);
                b.copy_from_slice(&new.to_le_bytes());
            }
        }
        at = end;
        seq = seq.wrapping_add(1);
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::mysql::codec::put_packet;

    #[test]
    fn replay_renumbers_and_sets_live_status() {
        let mut stored = BytesMut::new();
        put_packet(&mut stored, 7, &[1]);
        put_packet(&mut stored, 8, b"coldef");
        put_packet(&mut stored, 9, &[0xFE, 0, 0, 0x22, 0]);
        put_packet(&mut stored, 10, b"\x011");
        put_packet(&mut stored, 11, &[0xFE, 0, 0, 0x22, 0]);
        let out = replay(&stored, SERVER_STATUS_IN_TRANS, 0);
        let mut buf = BytesMut::from(&out[..]);
        let mut seqs = Vec::new();
        let mut last = Vec::new();
        while let Some(p) = crate::protocol::mysql::codec::decode(&mut buf).unwrap() {
            seqs.push(p.seq());
            last = p.payload().to_vec();
        }
        assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
        // NO_INDEX_USED (0x20) kept, AUTOCOMMIT cleared, IN_TRANS set.
        assert_eq!(last, vec![0xFE, 0, 0, 0x21, 0]);
    }

    #[test]
    fn replay_patches_the_ok_terminator_with_deprecate_eof() {
        let mut stored = BytesMut::new();
        put_packet(&mut stored, 1, &[1]);
        put_packet(&mut stored, 2, b"coldef");
        put_packet(&mut stored, 3, &[0xFE, 0, 0, 2, 0, 0, 0]);
        let out = replay(&stored, 0, CLIENT_DEPRECATE_EOF);
        assert_eq!(&out[out.len() - 7..], &[0xFE, 0, 0, 0, 0, 0, 0]);
        let _ = replay(&stored[..stored.len() - 2], 0, CLIENT_DEPRECATE_EOF);
    }
}
