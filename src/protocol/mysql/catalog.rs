//! Asking the origin's information_schema about relations and functions (design §3),
//! over the session's own origin connection while nothing else is in flight and no
//! transaction is open. The answers never reach the client. The SQL and what its rows
//! mean are the engine's (`engine::catalog::mysql`); here, sending it, decoding text
//! rows, and classifying views' definitions.

use super::codec::{self, Reader};
use super::errors::MyError;
use super::response::{Event, Shape};
use super::session::Session;
use crate::classify::{StatementKind, TableRef};
use crate::engine::catalog::Row;
use crate::engine::catalog::mysql::{catalog_sql, facts_from_rows};
use crate::engine::{CatalogQuestion, Fact, FactKey};

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
    /// The tables a view definition reads, if it is a plain cacheable read.
    fn view_tables(&self, definition: &str) -> Option<Vec<TableRef>> {
        let c = self.core.cache().classifier.classify(definition);
        let plain = c.kind == StatementKind::Read
            && c.uncacheable.is_none()
            && c.unknown_functions.is_empty();
        plain.then(|| c.reads.clone())
    }

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
            while let Some(p) = codec::decode(&mut io.oin)? {
                let before_rows = in_rows;
                match tracker.step(p.payload()) {
                    Event::Error => failed = true,
                    Event::Part if before_rows => rows.extend(columns(p.payload())),
                    _ => {}
                }
                in_rows = tracker.in_rows();
                if tracker.is_done() {
                    return Ok((!failed).then_some(rows));
                }
            }
            io.read_origin().await?;
        }
    }

    /// Asks the catalog about `q`. A view whose definition reads another view (found
    /// with a second query) is marked `volatile_view`.
    pub async fn ask_catalog(
        &mut self,
        q: &CatalogQuestion,
    ) -> Result<Vec<(FactKey, Fact)>, MyError> {
        let Some(sql) = catalog_sql(q) else {
            return Ok(Vec::new());
        };
        self.core.count_catalog_query();
        let Some(rows) = self.catalog_rows(&sql).await? else {
            tracing::warn!(cache = %self.core.cache().id, "catalog query failed");
            return Ok(Vec::new());
        };
        let classify = |d: &str| self.view_tables(d);
        let mut facts = facts_from_rows(q, &rows, &classify);
        let inner: Vec<TableRef> = rows
            .iter()
            .filter(|c| c.get(2).cloned().flatten().as_deref() == Some("VIEW"))
            .filter_map(|c| c.get(4).cloned().flatten())
            .filter_map(|d| self.view_tables(&d))
            .flatten()
            .collect();
        if inner.is_empty() {
            return Ok(facts);
        }
        let nested = CatalogQuestion {
            relations: inner,
            functions: Vec::new(),
        };
        let views = match catalog_sql(&nested) {
            Some(sql) => {
                self.core.count_catalog_query();
                self.catalog_rows(&sql).await?
            }
            None => None,
        };
        let nested_views: Option<Vec<Box<str>>> = views.map(|rows| {
            rows.iter()
                .filter(|c| c.get(2).cloned().flatten().as_deref() != Some("BASE TABLE"))
                .filter_map(|c| c.get(1).cloned().flatten()?.parse::<usize>().ok())
                .filter_map(|i| nested.relations.get(i))
                .map(|t| t.name.to_lowercase().into_boxed_str())
                .collect()
        });
        for (_, fact) in &mut facts {
            if let Fact::Relation(r) = fact
                && !r.base.is_empty()
            {
                let bad = nested_views
                    .as_ref()
                    .is_none_or(|v| r.base.iter().any(|b| v.contains(b)));
                r.volatile_view |= bad;
            }
        }
        Ok(facts)
    }
}
