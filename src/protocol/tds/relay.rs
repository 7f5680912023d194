//! The origin's side of a TDS session: each packet of an answer is scanned (what it
//! holds: errors, results, environment changes), teed into the current fill as token
//! bytes without packet headers (a replay packs them in the session's own packet
//! size), and passed on. At the answer's last packet its writes are applied before
//! the packet is queued for the client (design §2 step 7), and the transaction and
//! database changes it reported are followed. While an Attention of wirecache's own
//! is settled (`cancel`), the cancelled answer and the acknowledgement are followed
//! the same way but kept from the client.

use super::cancel::OwnCancel;
use super::codec::Packet;
use super::session::{Answer, Session};
use super::tokens::{Env, Scanner, Summary};
use crate::protocol::SessionError;
use crate::session::{Part, TxnState};

/// What a packet of an answer is for the cache: only one plain result, with nothing
/// else in its answer (no message, no second result, no environment change), is kept;
/// in an answer to an RPC (`rpc`), with the procedure's RETURNSTATUS.
fn part(s: &Summary, last: bool, rpc: bool) -> Part {
    let statuses = if rpc { s.statuses.min(1) } else { 0 };
    if s.error || s.attention {
        Part::Error
    } else if s.results > 1 || s.extras > statuses || !s.envs.is_empty() {
        Part::NotPlain
    } else if last && s.results == 1 {
        Part::Result
    } else {
        Part::Keep
    }
}

/// Scans one packet of an answer; a stream that is not TDS, or that does not end at a
/// token boundary with its message, ends the session (what follows could not be told
/// apart).
fn scan(scanner: &mut Scanner, p: &Packet) -> Result<(), SessionError> {
    scanner.feed(p.payload()).map_err(SessionError::Origin)?;
    if p.is_eom() && !scanner.at_boundary() {
        return Err(SessionError::Origin("an answer ended inside a token"));
    }
    Ok(())
}

impl Session {
    pub fn on_origin(&mut self, p: &Packet) -> Result<(), SessionError> {
        if let Some(a) = self.core.refresh_answer() {
            // A refresh ahead of expiry was sent before anything now pending.
            scan(&mut a.scanner, p)?;
            let part = part(&a.scanner.summary, p.is_eom(), a.rpc);
            let acked = p.is_eom() && a.scanner.summary.attention;
            self.core.tee_refresh(p.payload(), part, p.is_eom());
            if acked && self.swallowing() {
                self.own_ack_arrived();
            }
            return Ok(());
        }
        if self.own_cancel == OwnCancel::AckOwed {
            // The acknowledgement of wirecache's own Attention comes before anything
            // owed after it.
            return self.on_stray(p);
        }
        let Some(owed) = self.core.front_owed() else {
            return self.on_stray(p);
        };
        let tee = owed.tee;
        let a: &mut Answer = &mut owed.answer;
        scan(&mut a.scanner, p)?;
        let summary = std::mem::take(&mut a.scanner.summary.envs);
        let part = part(&a.scanner.summary, p.is_eom(), a.rpc);
        let attention = a.scanner.summary.attention;
        // A prepare's answer: its handle now stands for the statement.
        let learned = match (&a.prepare, a.scanner.summary.returned_int) {
            (Some(_), Some(h)) if p.is_eom() && !a.scanner.summary.error => {
                a.prepare.take().map(|s| (h, s))
            }
            _ => None,
        };
        if let Some((handle, stmt)) = learned {
            self.handles.insert(handle, stmt);
        }
        if tee {
            self.core.tee(p.payload(), part);
        }
        self.on_envs(&summary);
        let swallowed = self.swallows_answer();
        self.answer_started = !p.is_eom() && !swallowed;
        if p.is_eom() {
            if swallowed {
                let told = self.cancelled_answer_ended(attention);
                self.core.to_client(&told);
            } else {
                if attention {
                    self.attention = false;
                }
                self.relayed_answer_ended(attention);
            }
            // Applied at the acknowledgement and remembered for the end of the
            // transaction (design §4.4); outside one, the acknowledgement was its end.
            self.core.acknowledged();
            if self.core.txn().is_idle() {
                self.core.transaction_ended(false);
            }
            self.core.answered();
            if tee {
                self.core.finish_fill();
            }
        }
        if !swallowed {
            self.core.to_client(&p.bytes);
        }
        Ok(())
    }

    /// A message no request owns: an Attention's acknowledgement, or something the
    /// origin says before closing. Passed on.
    fn on_stray(&mut self, p: &Packet) -> Result<(), SessionError> {
        scan(&mut self.stray, p)?;
        let envs = std::mem::take(&mut self.stray.summary.envs);
        self.on_envs(&envs);
        // Wirecache's own Attention's acknowledgement is not the client's.
        let own = self.own_cancel == OwnCancel::AckOwed;
        if p.is_eom() {
            if own && self.stray.summary.attention {
                self.own_ack_arrived();
            } else if self.stray.summary.attention {
                self.attention = false;
            }
            self.stray.reset();
        }
        if !own {
            self.core.to_client(&p.bytes);
        }
        Ok(())
    }

    /// Follows the environment changes the origin reported: transaction begin and
    /// end, the current database, language and collation (both part of the
    /// namespace), the packet size.
    fn on_envs(&mut self, envs: &[Env]) {
        for env in envs {
            match env {
                Env::Begin(descriptor) => {
                    self.txn_descriptor = *descriptor;
                    self.core.set_txn(TxnState::Open);
                }
                Env::Commit | Env::Rollback => {
                    self.txn_descriptor = 0;
                    self.core.transaction_ended(matches!(env, Env::Commit));
                    self.core.set_txn(TxnState::Idle);
                }
                Env::Distributed => {
                    // A distributed transaction: its end is decided elsewhere.
                    self.core.transaction_ended(true);
                }
                Env::Database(v) | Env::Language(v) | Env::Collation(v) => {
                    let mut text = b"\0env ".to_vec();
                    text.extend_from_slice(v);
                    self.core.remember_session_text(&text);
                }
                Env::PacketSize(n) => {
                    self.packet_size =
                        (*n).clamp(super::codec::MIN_PACKET, super::codec::MAX_PACKET);
                }
                // Followed when the request asking for it was sent.
                Env::Reset | Env::Routing | Env::Other(_) => {}
            }
        }
    }
}
