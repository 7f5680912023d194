//! The catalog round, written once for every protocol: the engine's question as the
//! origin's dialect asks it (`engine::catalog`), sent over the session's own origin
//! connection (leased first under transaction pooling) while nothing else is in flight, and the facts its rows give. The
//! client never sees any of it. A protocol only runs SQL and decodes rows
//! ([`Catalog::results`]).

use super::Catalog;
use crate::classify::{Dialect, StatementKind, TableRef};
use crate::engine::catalog::{self, Row, mssql, mysql, postgres};
use crate::engine::{CatalogQuestion, Fact, FactKey};
use crate::protocol::SessionError;

/// Asks the origin's catalog about `q`; what cannot be learned stays unknown.
pub async fn ask<S: Catalog>(
    s: &mut S,
    q: &CatalogQuestion,
) -> Result<Vec<(FactKey, Fact)>, SessionError> {
    let dialect = s.core().scope.cache.classifier.dialect();
    let sql = match dialect {
        Dialect::Postgres => postgres::catalog_sql(q),
        Dialect::MySql | Dialect::MariaDb => mysql::catalog_sql(q),
        Dialect::MsSql => mssql::catalog_sql(q),
    };
    if sql.is_none() && dialect == Dialect::MsSql {
        // Only functions: SQL Server's are all taken as volatile, unasked.
        return Ok(mssql::facts_from_rows(q, &[], &|_| None));
    }
    let Some(sql) = sql else {
        return Ok(Vec::new());
    };
    let Some(results) = query(s, &sql).await? else {
        tracing::warn!(cache = %s.core().scope.cache.id, "catalog query failed");
        return Ok(Vec::new());
    };
    match dialect {
        Dialect::Postgres => Ok(postgres::facts_from_rows(q, &results)),
        Dialect::MySql | Dialect::MariaDb => {
            let rows = results.into_iter().next().unwrap_or_default();
            mysql_facts(s, q, &rows).await
        }
        Dialect::MsSql => {
            let rows = results.into_iter().next().unwrap_or_default();
            let classifier = &s.core().scope.cache.classifier;
            let classify = |d: &str| view_tables(classifier, d);
            Ok(mssql::facts_from_rows(q, &rows, &classify))
        }
    }
}

/// A MySQL answer's facts. A view's base tables come from classifying its
/// definition; a second query finds the views among them (a view of a view is never
/// cached).
async fn mysql_facts<S: Catalog>(
    s: &mut S,
    q: &CatalogQuestion,
    rows: &[Row],
) -> Result<Vec<(FactKey, Fact)>, SessionError> {
    let (mut facts, nested) = {
        let classifier = &s.core().scope.cache.classifier;
        let classify = |d: &str| view_tables(classifier, d);
        (
            mysql::facts_from_rows(q, rows, &classify),
            mysql::nested_question(rows, &classify),
        )
    };
    let Some(nested) = nested else {
        return Ok(facts);
    };
    let answer = match mysql::catalog_sql(&nested) {
        Some(sql) => query(s, &sql).await?,
        None => None,
    };
    let first = answer.as_ref().and_then(|r| r.first()).map(Vec::as_slice);
    mysql::mark_nested_views(&mut facts, &nested, first);
    Ok(facts)
}

/// The tables a view definition reads, if it is a plain cacheable read.
fn view_tables(
    classifier: &crate::classify::Classifier,
    definition: &str,
) -> Option<Vec<TableRef>> {
    let c = classifier.classify(definition);
    let plain =
        c.kind == StatementKind::Read && c.uncacheable.is_none() && c.unknown_functions.is_empty();
    plain.then(|| c.reads.clone())
}

/// Asks the origin for the session's default isolation level; `None` if it could
/// not say.
pub async fn isolation<S: Catalog>(
    s: &mut S,
) -> Result<Option<crate::classify::Isolation>, SessionError> {
    let dialect = s.core().scope.cache.classifier.dialect();
    let results = query(s, catalog::isolation_sql(dialect)).await?;
    let first = results.and_then(|r| r.into_iter().next());
    Ok(first.and_then(|rows| catalog::isolation_from_rows(&rows, dialect)))
}

/// Runs one query of wirecache's own, counted as a catalog query. Bounded like a
/// client's query: with `query_timeout` set, an origin that has not answered in twice
/// that ends the session with the timeout error, never hangs it (no cancel: the
/// answer is read here, not relayed).
async fn query<S: Catalog>(s: &mut S, sql: &str) -> Result<Option<Vec<Vec<Row>>>, SessionError> {
    let core = s.core();
    // Under transaction pooling, lease a connection first (a no-op otherwise).
    core.io().ensure_origin().await?;
    core.flush().await?;
    core.count_catalog_query();
    let bound = core.cache().query_timeout;
    if bound.is_zero() {
        return s.results(sql).await;
    }
    tokio::time::timeout(bound * 2, s.results(sql))
        .await
        .map_err(|_| SessionError::QueryTimeout(bound))?
}
