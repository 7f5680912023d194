//! Prepared statements (COM_STMT_*): statement id → SQL and parameter count, learned
//! from PREPARE_OK; the parameter types last bound. An EXECUTE is cacheable when it
//! asks for no cursor and no long data was sent for it: its key is the statement text,
//! the parameter types, the NULL bitmap and the parameter values (binary results).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::codec::{Packet, Reader};
use super::command::{COM_STMT_CLOSE, COM_STMT_FETCH, COM_STMT_RESET, COM_STMT_SEND_LONG_DATA};
use super::errors::MyError;
use super::miss::Miss;
use super::response::Shape;
use super::session::{After, Session};
use crate::cache::KeyKind;
use crate::engine::{BypassReason, Effects};

/// Statements tracked per session, at most; past it new ones are not cached.
const MAX_TRACKED: usize = 10_000;
/// MariaDB: "the statement prepared last" (used when PREPARE and EXECUTE are pipelined).
const LAST_PREPARED: u32 = u32::MAX;

#[derive(Debug)]
pub struct Stmt {
    /// `None` when the text is not UTF-8: executes are then never cached.
    pub sql: Option<Arc<str>>,
    pub params: u16,
    /// Parameter types last sent with new-params-bound = 1.
    pub types: Option<Bytes>,
    /// Parameter types the origin last received. An EXECUTE that binds types the
    /// origin has not seen must reach it (later executes rely on them), so it is
    /// never answered from the cache.
    pub origin_types: Option<Bytes>,
    /// Long data was sent since the last execute or reset.
    pub long_data: bool,
}

#[derive(Debug, Default)]
pub struct Statements {
    map: HashMap<u32, Stmt>,
    last: Option<u32>,
}

impl Statements {
    pub fn clear(&mut self) {
        self.map.clear();
        self.last = None;
    }

    pub fn remove(&mut self, id: u32) {
        self.map.remove(&id);
    }

    fn get_mut(&mut self, id: u32) -> Option<&mut Stmt> {
        let id = if id == LAST_PREPARED { self.last? } else { id };
        self.map.get_mut(&id)
    }
}

/// The parts of an EXECUTE payload that make its key.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Execute<'a> {
    id: u32,
    flags: u8,
    /// Types sent with this execute, if new-params-bound was set.
    types: Option<&'a [u8]>,
    bitmap: &'a [u8],
    values: &'a [u8],
}

/// Parses COM_STMT_EXECUTE's body (after the command byte) for `params` parameters.
pub(super) fn parse_execute(body: &[u8], params: u16) -> Option<Execute<'_>> {
    let mut r = Reader::new(body);
    let id = r.u32()?;
    let flags = r.u8()?;
    r.u32()?;
    if params == 0 {
        return Some(Execute {
            id,
            flags,
            types: None,
            bitmap: &[],
            values: r.rest(),
        });
    }
    let n = usize::from(params);
    let bitmap = r.take(n.div_ceil(8))?;
    let types = match r.u8()? {
        1 => Some(r.take(2 * n)?),
        _ => None,
    };
    Some(Execute {
        id,
        flags,
        types,
        bitmap,
        values: r.rest(),
    })
}

impl Session {
    pub fn on_prepare(&mut self, p: Packet) {
        self.forward(&p);
        let raw = p.payload().get(1..).unwrap_or_default().to_vec();
        if let Some(l) = self.lender() {
            l.preparing.push_back(raw);
        }
        let sql = std::str::from_utf8(p.payload().get(1..).unwrap_or_default())
            .ok()
            .filter(|_| !p.is_full())
            .map(Arc::from);
        self.expect(
            Shape::Prepare,
            Effects::default(),
            false,
            After::Prepared(sql),
        );
    }

    /// The first packet answering a PREPARE: remember the statement if it is an OK.
    pub fn on_prepare_ok(&mut self, payload: &[u8], sql: Option<Arc<str>>) {
        let mut r = Reader::new(payload);
        if r.u8() != Some(0) {
            return;
        }
        let (Some(id), Some(_columns), Some(params)) = (r.u32(), r.u16(), r.u16()) else {
            return;
        };
        if self.stmts.map.len() >= MAX_TRACKED {
            return;
        }
        let stmt = Stmt {
            sql,
            params,
            types: None,
            origin_types: None,
            long_data: false,
        };
        self.stmts.map.insert(id, stmt);
        self.stmts.last = Some(id);
    }

    /// SEND_LONG_DATA, CLOSE and RESET (no caching involved), and FETCH.
    pub fn on_statement(&mut self, p: Packet) {
        self.forward(&p);
        let id = Reader::new(p.payload().get(1..).unwrap_or_default()).u32();
        let cmd = p.first();
        if cmd == Some(COM_STMT_CLOSE) {
            if let Some(id) = id {
                self.stmts.map.remove(&id);
            }
            return;
        }
        let stmt = id.and_then(|id| self.stmts.get_mut(id));
        match cmd {
            Some(COM_STMT_SEND_LONG_DATA) => {
                if let Some(s) = stmt {
                    s.long_data = true;
                }
            }
            Some(COM_STMT_RESET) => {
                if let Some(s) = stmt {
                    s.long_data = false;
                }
                self.expect(Shape::Single, Effects::default(), false, After::Nothing);
            }
            Some(COM_STMT_FETCH) => {
                self.expect(Shape::Rows, Effects::default(), false, After::Nothing)
            }
            _ => {}
        }
    }

    pub async fn on_execute(&mut self, p: Packet) -> Result<(), MyError> {
        let started = Instant::now();
        let body = p.payload().get(1..).unwrap_or_default();
        let id = Reader::new(body).u32().unwrap_or(0);
        let known = self.stmts.get_mut(id).map(|s| {
            let long_data = std::mem::take(&mut s.long_data);
            (s.sql.clone(), s.params, s.types.clone(), long_data)
        });
        self.txn_execute(body);
        let Some((Some(sql), params, types, long_data)) = known.filter(|_| !p.is_full()) else {
            // Unknown statement, not UTF-8, or over 16 MiB.
            if !self.txn_pooled || self.txn_stmt_ready(id, true).await? {
                let reads = self.txn_exec_note(id).await?;
                if self.diag_before(reads).await? {
                    self.forward_unknown(&p, Shape::Results);
                }
            }
            return Ok(());
        };
        let exec = parse_execute(body, params);
        let new_types = exec
            .as_ref()
            .and_then(|e| e.types)
            .map(Bytes::copy_from_slice);
        let types = new_types.clone().or(types);
        let origin_knows = match (&new_types, self.stmts.get_mut(id)) {
            (Some(t), Some(s)) => {
                s.types = Some(t.clone());
                s.origin_types.as_ref() == Some(t)
            }
            _ => true,
        };
        let cursor = exec.as_ref().is_none_or(|e| e.flags != 0);
        let shape = if cursor {
            Shape::Cursor
        } else {
            Shape::Results
        };
        let mut blocked = self.core.blocked();
        let cacheable = !cursor && !long_data && (params == 0 || types.is_some());
        if let (Some(e), true) = (&exec, cacheable) {
            let types = types.as_deref().unwrap_or_default();
            let parts = [sql.as_bytes(), types, e.bitmap, e.values];
            self.core.key(KeyKind::MySqlBinary, &parts);
            // A hit may refresh ahead by sending this same EXECUTE again: the origin
            // knows its types, so it means there what it means here.
            if blocked.is_none() && origin_knows && self.try_hit(started, Some(&p)) {
                return Ok(());
            }
        } else if blocked.is_none() {
            blocked = Some(BypassReason::RowLimit);
        }
        let miss = Miss {
            shape,
            sql: &sql,
            may_follow: origin_knows,
        };
        // Boxed: the miss path's future (catalog round, single-flight) is large, and
        // inline it would make every hit build and copy it.
        Box::pin(self.execute_miss(p, id, blocked, started, miss)).await
    }

    /// Transaction pooling: an execute consumes the long data; one asking for a
    /// cursor pins the session (its rows are fetched from this connection).
    fn txn_execute(&mut self, body: &[u8]) {
        if !self.txn_pooled {
            return;
        }
        if let Some(l) = self.lender() {
            l.long_data = false;
        }
        if parse_execute(body, 0).is_none_or(|e| e.flags != 0) {
            self.pin(crate::pool::metrics::PinReason::Cursor);
        }
    }

    /// A COM_STMT_EXECUTE (of statement `id`) that was not answered from the cache.
    async fn execute_miss(
        &mut self,
        p: Packet,
        id: u32,
        blocked: Option<BypassReason>,
        started: Instant,
        miss: Miss<'_>,
    ) -> Result<(), MyError> {
        if self.txn_pooled && !self.txn_stmt_ready(id, true).await? {
            return Ok(());
        }
        // Transaction pooling: as for its text sent as a query (`query_miss`).
        let reads = self.txn_exec_note(id).await?;
        let decision = crate::session::decide(self, miss.sql, blocked).await?;
        if !self.diag_before(reads).await? {
            return Ok(());
        }
        if let Some(s) = self.stmts.get_mut(id) {
            // Unless answered after following an identical miss (only possible when
            // the origin knows these types already), this EXECUTE reaches the origin.
            s.origin_types.clone_from(&s.types);
        }
        self.carry_out(&p, decision, started, miss).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execute_bodies() {
        let none = [7, 0, 0, 0, 0, 1, 0, 0, 0];
        let e = parse_execute(&none, 0).unwrap();
        assert_eq!((e.id, e.flags, e.values), (7, 0, &[][..]));
        // Two parameters: bitmap, bound flag, types, one 8-byte value (second is NULL).
        let mut two = vec![7, 0, 0, 0, 0, 1, 0, 0, 0, 0b10, 1, 8, 0, 8, 0];
        two.extend_from_slice(&5u64.to_le_bytes());
        let e = parse_execute(&two, 2).unwrap();
        assert_eq!(e.types, Some(&[8, 0, 8, 0][..]));
        assert_eq!(e.bitmap, &[0b10]);
        assert_eq!(e.values, &5u64.to_le_bytes());
        let rebound = [7, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 2];
        let e = parse_execute(&rebound, 2).unwrap();
        assert_eq!((e.flags, e.types), (1, None));
        for cut in 0..two.len() {
            let _ = parse_execute(&two[..cut], 2);
        }
    }
}
