//! A request that missed the cache (design §2 steps 5 and 6): planned by the engine
//! (with a catalog round when it needs one), then filled (leading, or first waiting
//! for, an identical miss of another session: single-flight) or forwarded with the
//! statement's effects. A session enters it through a boxed future ([`Session::query_miss`],
//! `execute_miss` in `prepared`), so a hit never builds this path's large future.

use std::time::Instant;

use super::codec::Packet;
use super::errors::MyError;
use super::response::Shape;
use super::session::{After, Session};
use crate::classify::TxnEnd;
use crate::engine::{BypassReason, Decision, Effects};
use crate::session::{self, Lead};

/// How a request that missed is forwarded.
pub struct Miss<'a> {
    pub shape: Shape,
    pub sql: &'a str,
    /// It may wait for an identical miss of another session and be answered from
    /// the cache (not when the origin must see this request itself).
    pub may_follow: bool,
}

/// What to do after single-flight: fill (leading or not), or nothing (answered).
pub enum Followed {
    Fill(Option<crate::engine::FlightGuard>),
    Served,
}

impl Session {
    /// A COM_QUERY that was not answered from the cache.
    pub async fn query_miss(
        &mut self,
        p: Packet,
        sql: String,
        blocked: Option<BypassReason>,
        started: Instant,
    ) -> Result<(), MyError> {
        self.txn_note(&sql).await?;
        let decision = session::decide(self, &sql, blocked).await?;
        if !self.txn_diagnostics(&sql).await? {
            return Ok(());
        }
        let miss = Miss {
            shape: Shape::Results,
            sql: &sql,
            may_follow: true,
        };
        self.carry_out(&p, decision, started, miss).await
    }

    /// Carries out the decision for a request that missed: fill (first leading, or
    /// waiting for, an identical miss elsewhere when `may_follow`), or forward with the
    /// statement's effects.
    pub async fn carry_out(
        &mut self,
        p: &Packet,
        decision: Decision,
        started: Instant,
        miss: Miss<'_>,
    ) -> Result<(), MyError> {
        match decision {
            Decision::Fill(mut ticket) => {
                let flight = if miss.may_follow {
                    let Followed::Fill(flight) = self.lead_or_serve(started, &mut ticket).await?
                    else {
                        return Ok(());
                    };
                    flight
                } else {
                    None
                };
                self.forward(p);
                self.core.start_fill(ticket, flight);
                self.expect(miss.shape, Effects::default(), true, After::Nothing);
            }
            Decision::Forward { effects, .. } => {
                self.forward(p);
                let after = match effects.txn_end {
                    Some(TxnEnd::Commit) => After::Commit,
                    Some(TxnEnd::Rollback) => After::Rollback,
                    None => After::Nothing,
                };
                let effects = self.core.session_effects(effects, miss.sql);
                self.expect(miss.shape, effects, false, after);
            }
            Decision::NeedCatalog(_) => self.forward_unknown(p, miss.shape),
        }
        Ok(())
    }

    /// Before filling the current key: lead its fill, or wait for the session
    /// already filling it and answer from the cache (single-flight).
    pub async fn lead_or_serve(
        &mut self,
        started: Instant,
        ticket: &mut crate::engine::FillTicket,
    ) -> Result<Followed, MyError> {
        Ok(match self.core.lead_or_follow(ticket).await? {
            Lead::Leader(guard) => Followed::Fill(guard),
            Lead::Followed if self.try_hit(started, None) => Followed::Served,
            Lead::Followed => Followed::Fill(None),
        })
    }
}
