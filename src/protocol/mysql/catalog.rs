//! Queries of wirecache's own (the catalog round of `session::catalog`), over the
//! session's own origin connection while nothing else is in flight and no
//! transaction is open: sending one as COM_QUERY and decoding its text rows. The
//! answers never reach the client.

use super::codec::{self, Reader};
use super::errors::MyError;
use super::response::{Event, Shape};
use super::session::Session;
use crate::engine::catalog::Row;

/// One text-protocol row as optional UTF-8 strings.
pub fn columns(payload: &[u8]) -> Option<Row> {
    let mut r = Reader::new(payload);
    let mut cols = Vec::with_capacity(6);
    while !r.rest().is_empty() {
        let col = r.lenenc_str()?;
        cols.push(col.map(|b| String::from_utf8_lossy(b).into_owned()));
    }
    Some(cols)
}

impl Session {
    /// Runs `sql` on the origin connection and returns its rows; `None` on an error.
    /// Nothing else may be in flight.
    pub async fn catalog_rows(&mut self, sql: &str) -> Result<Option<Vec<Row>>, MyError> {
        let mut query = Vec::with_capacity(sql.len() + 1);
        query.push(super::command::COM_QUERY);
        query.extend_from_slice(sql.as_bytes());
        let mut tracker = self.tracker(Shape::Results);
        let io = self.core.io();
        io.send_to_origin(&codec::packet(0, &query)).await?;
        let mut rows = Vec::new();
        let (mut failed, mut in_rows) = (false, false);
        loop {
            while let Some(p) = codec::decode(&mut io.origin.inbox)? {
                let before_rows = in_rows;
                match tracker.step(p.payload()) {
                    Event::Error => failed = true,
                    Event::Part if before_rows => rows.extend(columns(p.payload())),
                    _ => {}
                }
                in_rows = tracker.in_rows();
                if tracker.is_done() {
                    self.diag_after_catalog(failed);
                    return Ok((!failed).then_some(rows));
                }
            }
            io.read_origin().await?;
        }
    }
}
