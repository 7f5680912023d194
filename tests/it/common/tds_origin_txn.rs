//! What a failed statement does at the test TDS origin, as SQL Server with its default
//! `XACT_ABORT OFF`: which error number the client sees, and what the error ends —
//! the statement alone (constraint violations, lock timeouts: the batch and the
//! transaction go on), the batch (compile errors such as an unknown table: the
//! transaction goes on), or the batch and the transaction (deadlock victim 1205,
//! snapshot update conflict 3960, and every other error, as SQL Server's
//! batch-aborting errors). Inside a transaction each data statement runs under a
//! PostgreSQL savepoint ([`GUARD`]), so that undoing one statement leaves the
//! transaction usable, as SQL Server leaves it. Here too the origin connection's
//! other transaction handling: begin and end with their ENVCHANGEs, and `SET
//! IMPLICIT_TRANSACTIONS ON` (a data statement outside a transaction opens one).

use bytes::BytesMut;
use tokio_postgres::Client;

use super::tds_origin::{Connection, Res};
use super::tds_rpc::RpcState;
use super::tds_sql::{Verb, is_catalog, verb};
use super::tds_wire as wire;

/// The savepoint each data statement of a transaction runs under.
const GUARD: &str = "tds_statement";

/// What an error ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ends {
    Statement,
    Batch,
    Transaction,
}

impl Ends {
    pub fn as_str(self) -> &'static str {
        match self {
            Ends::Statement => "statement",
            Ends::Batch => "batch",
            Ends::Transaction => "transaction",
        }
    }
}

/// A failed statement as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// SQL Server's error number (50000: no closer one).
    pub number: i32,
    pub ends: Ends,
    pub message: String,
}

impl Failed {
    /// From PostgreSQL's SQLSTATE (`None`: not a server error, e.g. the connection).
    pub fn of(code: Option<&str>, message: String) -> Failed {
        let (number, ends) = match code.unwrap_or("") {
            "23505" => (2627, Ends::Statement),
            c if c.starts_with("23") => (547, Ends::Statement),
            "55P03" => (1222, Ends::Statement),
            "40P01" => (1205, Ends::Transaction),
            "40001" => (3960, Ends::Transaction),
            "42P01" => (208, Ends::Batch),
            c if c.starts_with("42") => (102, Ends::Batch),
            _ => (50000, Ends::Transaction),
        };
        Failed {
            number,
            ends,
            message,
        }
    }

    pub fn from_pg(e: &tokio_postgres::Error) -> Failed {
        match e.as_db_error() {
            Some(d) => Failed::of(Some(d.code().code()), d.message().to_string()),
            None => Failed::of(None, e.to_string()),
        }
    }
}

impl From<String> for Failed {
    fn from(message: String) -> Failed {
        Failed::of(None, message)
    }
}

impl From<&str> for Failed {
    fn from(message: &str) -> Failed {
        Failed::of(None, message.to_string())
    }
}

/// Before a data statement inside a transaction: its savepoint.
pub async fn guard(pg: &Client, in_txn: bool) -> Result<(), tokio_postgres::Error> {
    if in_txn {
        pg.batch_execute(&format!("SAVEPOINT {GUARD}")).await?;
    }
    Ok(())
}

/// After a data statement that succeeded inside a transaction.
pub async fn release(pg: &Client, in_txn: bool) -> Result<(), tokio_postgres::Error> {
    if in_txn {
        pg.batch_execute(&format!("RELEASE SAVEPOINT {GUARD}"))
            .await?;
    }
    Ok(())
}

/// After a statement that failed: undoes what the error ends at PostgreSQL (the
/// statement, back to its savepoint; or the whole transaction). Returns whether the
/// transaction was rolled back (the client is then told with ENVCHANGE).
pub async fn undo(pg: &Client, in_txn: bool, guarded: bool, failed: &Failed) -> bool {
    if !in_txn {
        return false;
    }
    if failed.ends != Ends::Transaction && guarded {
        let back = format!("ROLLBACK TO SAVEPOINT {GUARD}; RELEASE SAVEPOINT {GUARD}");
        if pg.batch_execute(&back).await.is_ok() {
            return false;
        }
    }
    let _ = pg.batch_execute("ROLLBACK").await;
    true
}

/// The origin connection's transaction handling: statements under their savepoint,
/// RPC requests likewise, implicit transactions, begin and end.
impl Connection {
    /// One statement of a batch; inside a transaction a data statement runs under
    /// its savepoint (`tds_origin_txn`). On failure: the error, and whether the
    /// statement had its savepoint.
    pub(super) async fn run_one(
        &mut self,
        stmt: &str,
        last: bool,
        out: &mut BytesMut,
    ) -> Result<(), (Failed, bool)> {
        let data = matches!(verb(stmt), Verb::Select | Verb::Output | Verb::Other);
        let guarded = self.txn.is_some() && data;
        let pg = self.pg.as_ref().expect("logged in");
        let unguarded = |e: tokio_postgres::Error| (Failed::from_pg(&e), false);
        guard(pg, guarded).await.map_err(unguarded)?;
        let failed = |e: tokio_postgres::Error| (Failed::from_pg(&e), guarded);
        self.statement(stmt, last, out).await.map_err(failed)?;
        let pg = self.pg.as_ref().expect("logged in");
        release(pg, guarded).await.map_err(failed)
    }

    /// An RPC request (`tds_rpc`), under a savepoint inside a transaction; a failure
    /// ends what SQL Server's would.
    pub(super) async fn rpc(&mut self, state: &mut RpcState, payload: &[u8]) -> Res<BytesMut> {
        let mut begun = BytesMut::new();
        self.implicit_begin(None, &mut begun).await?;
        let mut out = self.rpc_run(state, payload).await?;
        begun.extend_from_slice(&out);
        std::mem::swap(&mut begun, &mut out);
        Ok(out)
    }

    async fn rpc_run(&mut self, state: &mut RpcState, payload: &[u8]) -> Res<BytesMut> {
        let in_txn = self.txn.is_some();
        let pg = self.pg.as_ref().ok_or("no session")?;
        let counters = [&self.counters.statements, &self.counters.selects];
        guard(pg, in_txn).await?;
        let failed = match super::tds_rpc::rpc(state, pg, self.modern, payload, counters).await {
            Ok(out) => match release(pg, in_txn).await {
                Ok(()) => return Ok(out),
                Err(e) => Failed::from_pg(&e),
            },
            Err(f) => f,
        };
        let rolled_back = undo(pg, in_txn, in_txn, &failed).await;
        let mut out = BytesMut::new();
        wire::error(&mut out, self.modern, failed.number, 16, &failed.message);
        if rolled_back {
            self.end_txn(&mut out, 10);
        }
        wire::done(&mut out, self.modern, 0xFE, wire::DONE_ERROR, 0);
        Ok(out)
    }

    /// Under `SET IMPLICIT_TRANSACTIONS ON`, a data statement (`None`: an RPC) outside a
    /// transaction opens one first, as SQL Server does (not a read of the emulated
    /// catalog, which stands for wirecache's own questions).
    pub(super) async fn implicit_begin(
        &mut self,
        stmt: Option<&str>,
        out: &mut BytesMut,
    ) -> Result<(), tokio_postgres::Error> {
        let data = stmt.is_none_or(|s| {
            matches!(verb(s), Verb::Select | Verb::Output | Verb::Other) && !is_catalog(s)
        });
        if self.implicit && self.txn.is_none() && data {
            self.begin(out).await?;
        }
        Ok(())
    }

    pub(super) async fn begin(&mut self, out: &mut BytesMut) -> Result<(), tokio_postgres::Error> {
        let pg = self.pg.as_ref().expect("logged in");
        pg.batch_execute("BEGIN").await?;
        let d = self.next_txn;
        self.next_txn += 1;
        self.txn = Some(d);
        wire::env_change(out, 8, &d.to_le_bytes(), &[], true);
        Ok(())
    }

    pub(super) fn end_txn(&mut self, out: &mut BytesMut, kind: u8) {
        if let Some(d) = self.txn.take() {
            wire::env_change(out, kind, &[], &d.to_le_bytes(), true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_end_what_sql_server_ends() {
        let f = |code| Failed::of(Some(code), String::new());
        assert_eq!(
            (f("23505").number, f("23505").ends),
            (2627, Ends::Statement)
        );
        assert_eq!(f("55P03").ends, Ends::Statement);
        assert_eq!(
            (f("40P01").number, f("40P01").ends),
            (1205, Ends::Transaction)
        );
        assert_eq!(f("40001").number, 3960);
        assert_eq!(f("42P01").ends, Ends::Batch);
        assert_eq!(f("22012").ends.as_str(), "transaction");
    }
}
