//! Queries of wirecache's own (the catalog round of `session::catalog`), over the
//! session's own origin connection while nothing else is in flight and no
//! transaction is open: sending one as COM_QUERY and decoding its text rows. The
//! answers never reach the client.
//!
//! On MariaDB a catalog query (it reads `information_schema` tables) clears the
//! connection's diagnostics area, so it would take the warnings and errors of the
//! client's previous statement from a `SHOW WARNINGS` or `@@warning_count` that
//! follows. So no catalog round runs while the area may hold the client's conditions
//! (`pooled_diag::Conditions`: in pass-through the session tracks them from its
//! answers; under transaction pooling its lender does): the request is judged without
//! the facts, assuming the worst, and a later request asks for them. Conditions that
//! may be gone ("maybe": a statement without any ran since) are asked for first
//! (`SELECT @@warning_count`, which keeps them). The session's isolation level is not
//! asked for then either (`SHOW SESSION VARIABLES` reads a table). Refreshing a hit ahead of expiry
//! sends the cached SELECT, which clears the area too: not while it may hold the
//! client's conditions either.

use super::codec::{self, Reader};
use super::errors::MyError;
use super::pooled_diag::Conditions;
use super::response::{Event, Shape};
use super::session::{Answer, Session};
use crate::engine::catalog::Row;
use crate::session::{Catalog, Core};

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

    /// Pass-through: one packet of an answer to the client's command (`done`: its
    /// last) and the conditions it leaves in the diagnostics area.
    pub fn conditions_answer(&mut self, event: Event, done: bool) {
        match event {
            Event::Error => self.conditions = Conditions::Here,
            Event::Status { warnings, .. } if warnings > 0 => self.conditions = Conditions::Here,
            Event::Status { .. } if done && self.conditions == Conditions::Here => {
                // A statement without conditions: it cleared them if it used a table.
                self.conditions = Conditions::Maybe;
            }
            _ => {}
        }
    }

    /// What the diagnostics area may hold of the client's conditions.
    pub fn client_conditions(&mut self) -> Conditions {
        if self.txn_pooled {
            return self
                .lender()
                .map_or(Conditions::None, |l| l.diag.conditions);
        }
        self.conditions
    }

    /// Whether the diagnostics area holds none of the client's conditions, which a
    /// catalog query would clear ("maybe" is asked for first). Nothing is in flight.
    pub async fn conditions_clear(&mut self) -> Result<bool, MyError> {
        if self.txn_pooled {
            self.diag_settle().await?;
        } else if self.conditions == Conditions::Maybe {
            let count = self.own_statement("SELECT @@warning_count").await?;
            self.conditions = if count.as_deref() == Some(b"0".as_slice()) {
                Conditions::None
            } else {
                Conditions::Here
            };
        }
        Ok(self.client_conditions() == Conditions::None)
    }
}

impl Catalog for Session {
    type Answer = Answer;

    fn core(&mut self) -> &mut Core<Answer> {
        &mut self.core
    }

    fn may_ask(&self) -> bool {
        true
    }

    async fn results(&mut self, sql: &str) -> Result<Option<Vec<Vec<Row>>>, MyError> {
        Ok(self.catalog_rows(sql).await?.map(|rows| vec![rows]))
    }

    async fn catalog_harmless(&mut self) -> Result<bool, MyError> {
        self.conditions_clear().await
    }
}
