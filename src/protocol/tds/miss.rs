//! A SQLBatch or a statement's RPC that missed the cache (design §2 steps 5 and 6):
//! planned by the engine, then filled (leading, or first waiting for, an identical
//! miss of another session: single-flight) or forwarded with the statement's effects.
//! Entered through a boxed future, so a hit never builds this path's large future.

use std::time::Instant;

use super::codec::Message;
use super::session::Session;
use crate::engine::{BypassReason, Decision, Effects};
use crate::protocol::SessionError;
use crate::session::{self, Lead};

impl Session {
    /// `rpc`: the request is an RPC (`sql` is its statement as the classifier sees it).
    pub async fn miss(
        &mut self,
        m: Message,
        sql: String,
        blocked: Option<BypassReason>,
        started: Instant,
        rpc: bool,
    ) -> Result<(), SessionError> {
        let decision = session::decide(self, &sql, blocked).await?;
        match decision {
            Decision::Fill(mut ticket) => {
                let flight = match self.core.lead_or_follow(&mut ticket).await? {
                    Lead::Leader(guard) => guard,
                    Lead::Followed if self.try_hit(started, None, rpc) => return Ok(()),
                    Lead::Followed => None,
                };
                self.forward(&m);
                self.core.start_fill(ticket, flight);
                let answer = self.answer_to(rpc);
                self.core.expect(answer, Effects::default(), true);
            }
            Decision::Forward { effects, .. } => {
                // Transaction ends are followed from the origin's ENVCHANGE tokens,
                // not from the text.
                self.forward(&m);
                let effects = self.core.session_effects(effects, &sql);
                let answer = self.answer_to(rpc);
                self.core.expect(answer, effects, false);
            }
            Decision::NeedCatalog(_) => self.forward_unknown(&m),
        }
        Ok(())
    }
}
