//! Binary-protocol prepared statements under transaction pooling. The client gets
//! statement ids of the session's own (counting from 1) in its PREPARE_OK; each
//! connection keeps the statements prepared on it by SQL text, with the origin's ids,
//! so any session of its pool reuses them. Before a command naming a statement goes
//! to the attached connection, the statement is prepared there if it is missing (a
//! round trip of wirecache's own, its answer never relayed), and the command's id is
//! translated. A statement whose column or parameter count differs on the connection
//! from what the client was sent is refused (ER_NEED_REPREPARE). COM_STMT_CLOSE is
//! answered here (nothing is owed) and leaves the statement on the connection for
//! reuse; a connection keeps at most [`MAX_PER_CONN`] (and 16 MiB of text), closing
//! one to make room, and a session at most 10,000 (16 MiB of text).

use std::collections::HashMap;

use bytes::Bytes;

use super::codec::{self, Packet, Reader};
use super::command::{COM_STMT_CLOSE, COM_STMT_PREPARE, COM_STMT_RESET};
use super::errors::{MyError, err_packet};
use super::pooled_diag::{self, Reads};
use super::pooled_state::{self, Note};
use super::response::Shape;
use super::session::Session;
use crate::pool::metrics::PinReason;

/// Statements one connection keeps prepared, at most.
pub const MAX_PER_CONN: usize = 256;
/// Statements one session may hold, at most, and their text's bytes.
const MAX_PER_SESSION: usize = 10_000;
const MAX_SESSION_BYTES: usize = 16 << 20;
/// The bytes of the statement texts one connection keeps, at most.
const MAX_CONN_BYTES: usize = 16 << 20;
/// MariaDB: "the statement prepared last".
pub const LAST_PREPARED: u32 = u32::MAX;
const ER_UNKNOWN_STMT_HANDLER: u16 = 1243;
const ER_NEED_REPREPARE: u16 = 1615;

/// A statement prepared on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerStmt {
    pub id: u32,
    pub columns: u16,
    pub params: u16,
}

/// A statement the client prepared, as its PREPARE_OK described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientStmt {
    pub sql: Vec<u8>,
    pub columns: u16,
    pub params: u16,
    /// What executing it needs first, judged once from its text.
    pub verdict: ExecVerdict,
}

/// What executing a prepared statement needs first under transaction pooling, judged
/// once from its text at PREPARE, as a COM_QUERY of that text is (`pooled_state`,
/// `pooled_diag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExecVerdict {
    /// State that cannot move: the session keeps its connection.
    pub pin: Option<PinReason>,
    /// It reads the last insert id: the session's is set first where needed.
    pub insert_id: bool,
    /// What it reads of the previous statement's diagnostics. Never
    /// `row_count_alone`: its rows are binary, and are not rewritten.
    pub reads: Reads,
}

/// The verdict on a prepared statement's text (not UTF-8: nothing, as the text
/// protocol judges such a query).
pub fn exec_verdict(sql: &[u8]) -> ExecVerdict {
    let Ok(sql) = std::str::from_utf8(sql) else {
        return ExecVerdict::default();
    };
    let (pin, insert_id) = match pooled_state::note(sql) {
        Note::Pin(reason) => (Some(reason), false),
        Note::InsertId => (None, true),
        // Its parameters are not replayed on another connection: the setting
        // stays with this one.
        Note::Set(_) | Note::Use(_) => (Some(PinReason::UntrackedState), false),
        Note::Nothing | Note::RowCount(_) => (None, false),
    };
    let reads = Reads {
        row_count_alone: false,
        ..pooled_diag::reads(sql)
    };
    ExecVerdict {
        pin,
        insert_id,
        reads,
    }
}

/// Id, columns and parameters of a PREPARE_OK payload.
pub fn prepare_ok(payload: &[u8]) -> Option<ServerStmt> {
    let mut r = Reader::new(payload);
    if r.u8()? != 0 {
        return None;
    }
    Some(ServerStmt {
        id: r.u32()?,
        columns: r.u16()?,
        params: r.u16()?,
    })
}

/// `packet` (a command naming a statement, or a PREPARE_OK) with its statement id
/// replaced by `id`.
pub fn with_id(packet: &Packet, id: u32) -> Bytes {
    let mut bytes = packet.bytes.to_vec();
    // Header (4), command byte or OK header (1), then the id.
    if let Some(b) = bytes.get_mut(5..9) {
        b.copy_from_slice(&id.to_le_bytes());
    }
    Bytes::from(bytes)
}

/// The statement id a command packet names.
pub fn id_of(p: &Packet) -> Option<u32> {
    Reader::new(p.payload().get(1..)?).u32()
}

impl Session {
    /// The first packet answering a client's COM_STMT_PREPARE: on OK, the statement
    /// is recorded on the connection and the client gets an id of its own.
    pub fn txn_prepared(&mut self, p: Packet) -> Packet {
        let Some(lender) = self.lender() else {
            return p;
        };
        let sql = lender.preparing.pop_front().unwrap_or_default();
        let Some(server) = prepare_ok(p.payload()) else {
            return p;
        };
        let id = lender.next_stmt;
        lender.next_stmt = lender.next_stmt.wrapping_add(1).clamp(1, LAST_PREPARED - 1);
        let client = ClientStmt {
            verdict: exec_verdict(&sql),
            sql: sql.clone(),
            columns: server.columns,
            params: server.params,
        };
        // Past the bounds the id is given but not kept: executing it is refused.
        let bytes = lender.stmt_bytes + sql.len();
        if lender.client_stmts.len() < MAX_PER_SESSION && bytes <= MAX_SESSION_BYTES {
            lender.client_stmts.insert(id, client);
            lender.stmt_bytes = bytes;
        }
        self.record_on_conn(sql, server);
        Packet {
            bytes: with_id(&p, id),
        }
    }

    /// Records `server` as prepared on the attached connection, closing another
    /// there if it holds too many.
    fn record_on_conn(&mut self, sql: Vec<u8>, server: ServerStmt) {
        let Some(conn) = self.lender().and_then(|l| l.conn()) else {
            return;
        };
        let mut close = Vec::new();
        let full = |stmts: &HashMap<Vec<u8>, ServerStmt>| {
            let bytes: usize = stmts.keys().map(Vec::len).sum();
            stmts.len() >= MAX_PER_CONN || bytes + sql.len() > MAX_CONN_BYTES
        };
        while !conn.stmts.contains_key(&sql) && full(&conn.stmts) {
            let Some(victim) = conn.stmts.keys().next().cloned() else {
                break;
            };
            close.extend(conn.stmts.remove(&victim));
        }
        if let Some(old) = conn.stmts.insert(sql, server).filter(|o| o.id != server.id) {
            close.push(old);
        }
        for old in close {
            // COM_STMT_CLOSE has no answer.
            let mut payload = vec![COM_STMT_CLOSE];
            payload.extend_from_slice(&old.id.to_le_bytes());
            self.core.to_origin(&codec::packet(0, &payload));
        }
    }

    /// A command naming a statement, as the attached connection must get it.
    pub fn txn_translated(&mut self, p: &Packet) -> Bytes {
        let id = id_of(p).unwrap_or(0);
        if id == LAST_PREPARED {
            return p.bytes.clone();
        }
        let server = self.lender().and_then(|l| {
            let sql = l.client_stmts.get(&id)?.sql.clone();
            l.conn()?.stmts.get(&sql).map(|s| s.id)
        });
        // Unknown here: an id no statement of the connection has.
        with_id(p, server.unwrap_or(0))
    }

    /// Makes sure client statement `id` is prepared on an attached connection; false
    /// if it cannot be (the client is answered with an ERR if `report`: not for a
    /// command that has no answer).
    pub async fn txn_stmt_ready(&mut self, id: u32, report: bool) -> Result<bool, MyError> {
        let ready = self.stmt_ready(id).await?;
        match ready {
            Ok(()) => Ok(true),
            Err(err) => {
                if report {
                    self.core.local(err, false);
                }
                Ok(false)
            }
        }
    }

    /// [`Session::txn_stmt_ready`]'s work: the ERR the client gets if not.
    async fn stmt_ready(&mut self, id: u32) -> Result<Result<(), Bytes>, MyError> {
        if id == LAST_PREPARED {
            self.ensure_origin().await?;
            return Ok(Ok(()));
        }
        let Some(stmt) = self.lender().and_then(|l| l.client_stmts.get(&id).cloned()) else {
            let msg = format!("Unknown prepared statement handler ({id}) given to wirecache");
            return Ok(Err(err_packet(1, ER_UNKNOWN_STMT_HANDLER, "HY000", &msg)));
        };
        self.ensure_origin().await?;
        let on_conn = self
            .lender()
            .and_then(|l| l.conn())
            .and_then(|c| c.stmts.get(&stmt.sql).copied());
        let server = match on_conn {
            Some(s) => s,
            None => match self.prepare_here(&stmt.sql).await? {
                Ok(s) => {
                    self.record_on_conn(stmt.sql.clone(), s);
                    s
                }
                Err(err) => return Ok(Err(codec::packet(1, &err))),
            },
        };
        if (server.columns, server.params) != (stmt.columns, stmt.params) {
            let msg =
                "Prepared statement needs to be re-prepared (its shape changed at the origin)";
            return Ok(Err(err_packet(1, ER_NEED_REPREPARE, "HY000", msg)));
        }
        Ok(Ok(()))
    }

    /// Prepares `sql` on the attached connection, once nothing else is in flight
    /// there; the origin's ERR payload if it refuses.
    async fn prepare_here(&mut self, sql: &[u8]) -> Result<Result<ServerStmt, Vec<u8>>, MyError> {
        if sql.len() + 1 >= codec::MAX_PAYLOAD {
            let e = MyError::Unsupported("re-preparing a statement over 16 MiB");
            return Ok(Err(e.to_string().into_bytes()));
        }
        self.wait_quiet().await?;
        let mut payload = Vec::with_capacity(sql.len() + 1);
        payload.push(COM_STMT_PREPARE);
        payload.extend_from_slice(sql);
        let mut tracker = self.tracker(Shape::Prepare);
        let io = self.core.io();
        io.send_to_origin(&codec::packet(0, &payload)).await?;
        let mut first: Option<Vec<u8>> = None;
        loop {
            while let Some(p) = codec::decode(&mut io.origin.inbox)? {
                if first.is_none() {
                    first = Some(p.payload().to_vec());
                }
                tracker.step(p.payload());
                if tracker.is_done() {
                    let first = first.unwrap_or_default();
                    return Ok(prepare_ok(&first).ok_or(first));
                }
            }
            io.read_origin().await?;
        }
    }

    /// COM_STMT_SEND_LONG_DATA, CLOSE, RESET and FETCH under transaction pooling.
    pub async fn txn_on_statement(&mut self, p: Packet) -> Result<(), MyError> {
        let id = id_of(&p).unwrap_or(0);
        match p.first() {
            Some(COM_STMT_CLOSE) => {
                // No answer is owed; the statement stays on its connections.
                if let Some(l) = self.lender()
                    && let Some(gone) = l.client_stmts.remove(&id)
                {
                    l.stmt_bytes = l.stmt_bytes.saturating_sub(gone.sql.len());
                }
                self.stmts.remove(id);
                return Ok(());
            }
            Some(COM_STMT_RESET) if !self.core.io().origin_attached() => {
                // Nothing of it is on a connection: no long data, no cursor.
                let ok = super::pooled::ok_packet(self.status);
                self.core.local(codec::packet(1, &ok), false);
                return Ok(());
            }
            _ => {}
        }
        let long_data = p.first() == Some(super::command::COM_STMT_SEND_LONG_DATA);
        let ready = self.txn_stmt_ready(id, !long_data).await?;
        if long_data {
            // No answer is owed: an unknown statement's data is dropped (its
            // execute is refused).
            if let Some(l) = self.lender() {
                l.long_data = true;
            }
        }
        if ready {
            self.on_statement(p);
        }
        Ok(())
    }

    /// Reads and relays the origin's answers until nothing is in flight there.
    pub async fn wait_quiet(&mut self) -> Result<(), MyError> {
        loop {
            self.core.flush().await?;
            if self.core.origin_quiet() {
                return Ok(());
            }
            self.core.io().read_origin().await?;
            while let Some(p) = codec::decode(&mut self.core.io().origin.inbox)? {
                self.on_origin(p)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_ok_is_read_and_renumbered() {
        let payload = [0, 7, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0];
        let p = Packet {
            bytes: codec::packet(1, &payload),
        };
        let s = prepare_ok(p.payload()).unwrap();
        assert_eq!((s.id, s.columns, s.params), (7, 2, 1));
        let renumbered = Packet {
            bytes: with_id(&p, 3),
        };
        assert_eq!(prepare_ok(renumbered.payload()).unwrap().id, 3);
        assert_eq!(id_of(&renumbered), Some(3));
        for cut in 0..payload.len() {
            let _ = prepare_ok(&payload[..cut]);
        }
        let short = Packet {
            bytes: codec::packet(0, &[0x17, 1]),
        };
        assert_eq!(with_id(&short, 9), short.bytes);
        assert_eq!(prepare_ok(&[0xFF, 1, 2]), None);
    }
}
