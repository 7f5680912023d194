//! Refreshing a bound statement ahead of its expiry (the session core decides when):
//! the statement runs again as a batch of its own under a statement and portal name of
//! wirecache's, so the client's unnamed statement and portal are left alone: Parse,
//! Bind, [Describe], Execute, Close, Sync. Its answer is collected like the original's
//! and never reaches the client.

use super::batch::Prepared;
use super::messages::{self, tag};
use super::session::{Answer, Expect, Session};
use crate::engine::RefreshClaim;

/// Statement and portal name of bound refreshes (closed again in the same batch).
const REFRESH_NAME: &[u8] = b"wirecache_refresh";

/// What a bound refresh runs again: the statement, the Bind's values and formats, and
/// whether the portal was described.
pub struct BoundRefresh<'a> {
    pub stmt: &'a Prepared,
    pub rest: &'a [u8],
    pub described: bool,
}

impl Session {
    /// Runs the bound statement `r` again in the background to refresh the entry just
    /// hit, if the session may send a refresh now.
    pub fn start_bound_refresh(&mut self, claim: RefreshClaim, r: BoundRefresh<'_>) {
        let ok = self.ext.synced() && self.refresh_origin_ready();
        if !self.core.begin_refresh(claim, Answer::of(Expect::Sync), ok) {
            return;
        }
        let name = REFRESH_NAME;
        let out = &mut self.core.io().origin.outbox;
        let mut body = Vec::with_capacity(r.stmt.sql.len() + r.rest.len() + 64);
        for (i, part) in [name, r.stmt.sql.as_bytes(), &r.stmt.param_types]
            .iter()
            .enumerate()
        {
            body.extend_from_slice(part);
            if i < 2 {
                body.push(0);
            }
        }
        messages::put_message(out, tag::PARSE, &body);
        body.clear();
        body.extend_from_slice(name);
        body.push(0);
        body.extend_from_slice(name);
        body.push(0);
        body.extend_from_slice(r.rest);
        messages::put_message(out, tag::BIND, &body);
        let mut named = name.to_vec();
        named.push(0);
        if r.described {
            messages::put_message(out, tag::DESCRIBE, &[&b"P"[..], &named].concat());
        }
        let mut execute = named.clone();
        execute.extend_from_slice(&0i32.to_be_bytes());
        messages::put_message(out, tag::EXECUTE, &execute);
        messages::put_message(out, tag::CLOSE, &[&b"S"[..], &named].concat());
        messages::put_message(out, tag::SYNC, &[]);
    }
}
