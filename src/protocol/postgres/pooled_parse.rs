//! A client's Parse of a named statement under transaction pooling, answered as a
//! connection of its own would answer it: a text that fails fails at the Parse, in
//! the Parse's place of its batch (the origin then skips to Sync), and the
//! statement is not created.
//!
//! Where the answer comes from:
//! - **here** (ParseComplete at once) when nothing is owed at the origin, the
//!   session's transaction has not failed, and the origin is known to accept the
//!   statement: it is on the attached connection, or, with none attached, the origin
//!   prepared it without error before (`StmtNames::checked`, shared by the cache).
//!   Nothing before it in the batch can fail any more, so the answer is final. This
//!   is what lets `pgbench -M prepared` prepare while holding no transaction (it
//!   prepares synchronously, and may block on it while another of its clients holds
//!   the only connection): every client after the first finds the text checked.
//! - **the origin**, otherwise: with no connection attached one is leased (as for a
//!   Bind), and the statement is prepared there under its server-side name (Close +
//!   Parse); the Parse's answer, ParseComplete or the error, is the client's.
//! - **an echo** when the attached connection has the statement but the answer
//!   cannot be made here (something before it is owed, or the transaction failed):
//!   a Parse of a bare `SELECT` under a name of wirecache's own, closed right after,
//!   stands for it. It succeeds or fails (25P02, or skipped after an earlier error)
//!   exactly where the client's would have, and touches nothing. (Not an empty
//!   text: PostgreSQL parses that even in a failed transaction.)
//!
//! Each Parse sent carries its [`ClientParse`]: when its answer arrives the session
//! learns whether the statement exists. A failed or skipped one is forgotten (a
//! later Bind gets 26000 from the origin, a later Parse of the name succeeds), and a
//! failed text is no longer taken as checked; a completed one is checked.
//!
//! The unnamed statement's Parse (`Parse ""`) follows the same rule: answered here
//! (and deferred until a Bind or Describe needs it, `extended`) only where the text
//! is checked and nothing owed or failed can change the answer; otherwise sent at
//! once as the client sent it, its ParseComplete or error the client's. A failed or
//! skipped one leaves the session with no unnamed statement.
//!
//! The session's named statements are bounded: [`MAX_TRACKED`] of them and
//! [`MAX_TEXT_BYTES`] of text; a Parse past either is refused (`pooled_refusals`).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::batch::{MAX_TRACKED, Prepared};
use super::errors::{self, PgError};
use super::messages::{self, PARSE_COMPLETE, tag};
use super::pooled_refusals::OnError;
use super::session::{Answer, Expect, Session};
use crate::engine::Effects;
use crate::session::TxnState;

/// Bytes of statement text (and parameter types) one session may hold, at most.
pub const MAX_TEXT_BYTES: usize = 16 << 20;

/// The statement an echo prepares and closes at once.
const ECHO: &[u8] = b"wc_echo\0";

/// A Parse of the client's, sent to the origin.
#[derive(Debug, Clone)]
pub struct ClientParse {
    /// The server-side statement.
    pub id: u64,
    /// The client's name for it, and what the session recorded under that name.
    pub name: Bytes,
    pub stmt: Arc<Prepared>,
    /// An echo stands for it: its outcome says nothing of the statement's text.
    pub echo: bool,
}

/// How the origin answered a [`ClientParse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// ParseComplete.
    Prepared,
    /// Its own ErrorResponse.
    Failed,
    /// Skipped after an earlier error of its batch.
    Skipped,
}

impl Settled {
    /// Its own answer: an ErrorResponse (`failed`) or ParseComplete.
    pub fn of(failed: bool) -> Settled {
        match failed {
            true => Settled::Failed,
            false => Settled::Prepared,
        }
    }
}

impl Session {
    /// The client's Parse of named statement `stmt` (already recorded under `name`);
    /// false outside transaction pooling. See the module docs.
    pub async fn txn_parse(&mut self, name: &[u8], stmt: &Arc<Prepared>) -> Result<bool, PgError> {
        let Some(id) = self.server_id(stmt) else {
            return Ok(false);
        };
        if !self.answerable_here(id) && !self.core.io().origin_attached() {
            self.ensure_origin().await?;
        }
        if self.answerable_here(id) {
            self.core.reply(&[&PARSE_COMPLETE]);
            return Ok(true);
        }
        let attached = self.core.io().origin_attached();
        let parse = ClientParse {
            id,
            name: Bytes::copy_from_slice(name),
            stmt: stmt.clone(),
            echo: attached && self.lender().is_some_and(|l| l.prepared.has(id)),
        };
        if parse.echo {
            self.echo(parse);
        } else {
            // Unreachable origin (no connection after the lease): this goes out
            // like any request then, and is answered 57P03 (`offline`).
            self.sending(id);
            let on_error = Some(OnError::Relay(Box::new(parse)));
            self.prepare_server(id, stmt, false, on_error);
        }
        Ok(true)
    }

    /// The client's Parse of the unnamed statement `stmt` (already recorded, its
    /// Parse kept): true if it was sent to the origin now, false if its ParseComplete
    /// may be answered here (the origin accepted the text before, and nothing owed or
    /// failed can change that answer; the Parse then waits until a Bind or Describe
    /// needs it). Its answer settles as a named one's does.
    pub async fn txn_parse_unnamed(&mut self, stmt: &Arc<Prepared>) -> Result<bool, PgError> {
        let Some(id) = self.server_id(stmt) else {
            return Ok(false);
        };
        if self.unnamed_answerable_here(id) {
            return Ok(false);
        }
        self.ensure_origin().await?;
        let Some(frame) = self.ext.unnamed.parse.clone() else {
            return Ok(false);
        };
        self.ext.unnamed.at_origin = true;
        self.core.to_origin(&frame.bytes);
        let parse = ClientParse {
            id,
            name: Bytes::new(),
            stmt: stmt.clone(),
            echo: false,
        };
        let answer = Answer {
            expect: Expect::Parse,
            swallow: false,
            on_error: Some(OnError::Relay(Box::new(parse))),
        };
        self.core.expect(answer, Effects::default(), false);
        self.ext.batch_forwarded = true;
        Ok(true)
    }

    /// Whether the unnamed statement's Parse of statement `id`'s text may be
    /// answered here now: its text is known good, whatever the connection holds.
    fn unnamed_answerable_here(&mut self, id: u64) -> bool {
        if !self.core.idle() || self.core.txn() == TxnState::Failed {
            return false;
        }
        let attached = self.core.io().origin_attached();
        self.lender()
            .is_some_and(|l| l.names.checked(id) || (attached && l.prepared.has(id)))
    }

    /// Whether the Parse of statement `id` may be answered here now.
    fn answerable_here(&mut self, id: u64) -> bool {
        if !self.core.idle() || self.core.txn() == TxnState::Failed {
            return false;
        }
        let attached = self.core.io().origin_attached();
        let Some(lender) = self.lender() else {
            return false;
        };
        match attached {
            true => lender.prepared.has(id),
            false => lender.names.checked(id),
        }
    }

    /// Parse + Close of a statement of wirecache's own, the Parse's answer
    /// standing for `parse`'s.
    fn echo(&mut self, parse: ClientParse) {
        self.core.to_origin(&echo_messages());
        let answer = Answer {
            expect: Expect::Parse,
            swallow: false,
            on_error: Some(OnError::Relay(Box::new(parse))),
        };
        self.core.expect(answer, Effects::default(), false);
        let close = Answer {
            expect: Expect::Close,
            swallow: true,
            on_error: None,
        };
        self.core.expect(close, Effects::default(), false);
        self.ext.batch_forwarded = true;
    }

    /// The origin answered a Parse sent with `answer` (any other is ignored).
    pub fn txn_parse_settled(&mut self, answer: &OnError, settled: Settled) {
        let OnError::Relay(parse) = answer else {
            return;
        };
        if !parse.echo
            && settled != Settled::Skipped
            && let Some(lender) = self.lender()
        {
            lender
                .names
                .set_checked(parse.id, settled == Settled::Prepared);
        }
        if settled == Settled::Prepared {
            return;
        }
        // Not created: forgotten, unless the name was closed and prepared again
        // since (then it names another statement). An unnamed one failed or skipped
        // leaves the origin's unnamed statement as PostgreSQL leaves it (none after
        // a failure, the one before after a skip): the session knows none.
        if parse.name.is_empty() {
            let unnamed = &self.ext.unnamed;
            if unnamed
                .stmt
                .as_ref()
                .is_some_and(|s| Arc::ptr_eq(s, &parse.stmt))
            {
                self.ext.forget_unnamed();
            }
            return;
        }
        let same = self.ext.statements.get(&parse.name[..]);
        if same.is_some_and(|s| Arc::ptr_eq(s, &parse.stmt)) {
            self.txn_forget(&parse.name);
        }
    }

    /// Why a Parse of a new name with `stmt` may not be recorded: the session's
    /// bounds (wirecache's error for the client).
    pub fn txn_refusal(&mut self, stmt: &Prepared) -> Option<Bytes> {
        if self.ext.statements.len() >= MAX_TRACKED {
            return Some(errors::statement_limit(MAX_TRACKED));
        }
        let held = self.lender().map_or(0, |l| l.text_bytes);
        if held + text_bytes(stmt) > MAX_TEXT_BYTES {
            return Some(errors::statement_text_limit(MAX_TEXT_BYTES));
        }
        None
    }

    /// Records the client's statement `name`.
    pub fn txn_keep(&mut self, name: Vec<u8>, stmt: Arc<Prepared>) {
        if let Some(lender) = self.lender() {
            lender.text_bytes += text_bytes(&stmt);
        }
        self.ext.statements.insert(name, stmt);
    }

    /// Forgets the client's statement `name`, if it has one.
    pub fn txn_forget(&mut self, name: &[u8]) -> Option<Arc<Prepared>> {
        let stmt = self.ext.statements.remove(name)?;
        if let Some(lender) = self.lender() {
            lender.text_bytes = lender.text_bytes.saturating_sub(text_bytes(&stmt));
        }
        Some(stmt)
    }
}

/// An echo's Parse and Close.
fn echo_messages() -> BytesMut {
    let mut out = BytesMut::new();
    messages::put_message(&mut out, tag::PARSE, &[ECHO, b"SELECT\0\0\0"].concat());
    messages::put_message(&mut out, tag::CLOSE, &[b"S", ECHO].concat());
    out
}

/// What a statement counts against [`MAX_TEXT_BYTES`].
fn text_bytes(stmt: &Prepared) -> usize {
    stmt.sql.len() + stmt.param_types.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_parses_and_closes_its_own_statement() {
        let out = echo_messages();
        let parse_len = 1 + 4 + ECHO.len() + 7 + 2;
        let (parse, close) = out.split_at(parse_len);
        assert_eq!(parse.first(), Some(&tag::PARSE));
        let parsed = messages::parse_parse(parse.get(5..).unwrap_or_default());
        assert_eq!(parsed, Some((&b"wc_echo"[..], "SELECT", &[0u8, 0][..])));
        assert_eq!(close.first(), Some(&tag::CLOSE));
        let target = messages::parse_target(close.get(5..).unwrap_or_default());
        assert_eq!(target, Some((b'S', &b"wc_echo"[..])));
    }

    #[test]
    fn an_answer_settles_by_its_tag() {
        assert_eq!(Settled::of(true), Settled::Failed);
        assert_eq!(Settled::of(false), Settled::Prepared);
    }
}
