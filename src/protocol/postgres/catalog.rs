//! Queries of wirecache's own (the catalog round of `session::catalog`), over the
//! session's own origin connection while nothing else is in flight: sending one as a
//! simple query and decoding its DataRows. The answers never reach the client.

use super::codec::{self, MAX_ORIGIN_MESSAGE};
use super::errors::{PgError, Side};
use super::messages::{self, Body, tag};
use super::session::Session;
use crate::engine::catalog::Row;

/// Columns of one DataRow as optional UTF-8 strings.
pub(super) fn columns(body: &[u8]) -> Option<Row> {
    let mut b = Body::new(body);
    let n = usize::try_from(b.i16()?).ok()?;
    let mut cols = Vec::with_capacity(n.min(16));
    for _ in 0..n {
        let len = b.i32()?;
        if len < 0 {
            cols.push(None);
        } else {
            let bytes = b.take(usize::try_from(len).ok()?)?;
            cols.push(Some(std::str::from_utf8(bytes).ok()?.to_string()));
        }
    }
    Some(cols)
}

impl Session {
    /// Runs `sql` as a simple query of wirecache's own and returns the rows of each
    /// of its results; `None` if it failed. Nothing else may be in flight.
    pub async fn result_sets(&mut self, sql: &str) -> Result<Option<Vec<Vec<Row>>>, PgError> {
        let io = self.core.io();
        io.send_to_origin(&messages::query(sql)).await?;
        // A simple query replaces the unnamed statement at the origin.
        self.ext.unnamed_replaced();
        let mut results: Vec<Vec<Row>> = Vec::new();
        let mut current: Vec<Row> = Vec::new();
        let mut failed = false;
        loop {
            let io = self.core.io();
            while let Some(frame) =
                codec::decode(&mut io.origin.inbox, MAX_ORIGIN_MESSAGE, Side::Origin)?
            {
                match frame.tag() {
                    tag::DATA_ROW => current.extend(columns(frame.body())),
                    tag::COMMAND_COMPLETE => results.push(std::mem::take(&mut current)),
                    tag::ERROR => failed = true,
                    tag::READY_FOR_QUERY => return Ok((!failed).then_some(results)),
                    // Notices and parameter changes are passed on; nothing else matters.
                    tag::NOTICE | tag::NOTIFICATION | tag::PARAMETER_STATUS => {
                        io.client.outbox.extend_from_slice(&frame.bytes)
                    }
                    _ => {}
                }
            }
            io.read_origin().await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_rows_become_columns() {
        let mut v = 3i16.to_be_bytes().to_vec();
        for c in [Some("0"), None, Some("pg_temp_3")] {
            match c {
                None => v.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(s) => {
                    v.extend_from_slice(&(s.len() as i32).to_be_bytes());
                    v.extend_from_slice(s.as_bytes());
                }
            }
        }
        let want: Row = vec![Some("0".into()), None, Some("pg_temp_3".into())];
        assert_eq!(columns(&v), Some(want));
        for cut in 0..v.len() {
            assert_eq!(columns(&v[..cut]), None, "cut at {cut}");
        }
    }
}
