//! Whether a request may use the cache now, and what to do with one that missed:
//! the engine plans it, and when it needs catalog facts the session asks its origin
//! first (only while nothing else is in flight there and no transaction is open;
//! otherwise the question is deferred to a later request that can ask). The
//! session's default isolation level is asked the same way, once, when needed.

use std::future::Future;

use super::Core;
use crate::config::CacheMode;
use crate::engine::catalog::Row;
use crate::engine::{BypassReason, CatalogAccess, Decision, QueryRequest, ReadContext};
use crate::protocol::SessionError;

/// A protocol session that can put catalog questions to its origin.
pub trait Catalog: Send {
    type Answer: Send;

    fn core(&mut self) -> &mut Core<Self::Answer>;

    /// The protocol's own conditions for asking now (e.g. no extended-protocol
    /// batch half sent); the core adds its own.
    fn may_ask(&self) -> bool;

    /// Runs `sql` (a query of wirecache's own) on the origin connection and returns
    /// the rows of each of its results, which the client never sees; `None` if it
    /// failed. Nothing else is in flight.
    fn results(
        &mut self,
        sql: &str,
    ) -> impl Future<Output = Result<Option<Vec<Vec<Row>>>, SessionError>> + Send;

    /// Whether a catalog round now leaves what the client observes as it is (MySQL:
    /// a catalog query clears the warnings of the client's previous statement). If
    /// not, the facts are not asked for now: the request is judged without them
    /// (assuming the worst) and they are asked for by a later request.
    fn catalog_harmless(&mut self) -> impl Future<Output = Result<bool, SessionError>> + Send {
        async { Ok(true) }
    }
}

impl<A> Core<A> {
    /// Why a request may not use the cache right now, whatever it is.
    pub fn blocked(&self) -> Option<BypassReason> {
        if self.scope.cache.mode == CacheMode::Off {
            // A plain relay: nothing is looked up (the engine judges nothing either).
            Some(BypassReason::RuleSaysNo)
        } else if let Err(reason) = self.read_context() {
            Some(reason)
        } else if !self.idle() {
            Some(BypassReason::Pipeline)
        } else {
            None
        }
    }

    fn plan(&mut self, req: QueryRequest<'_>) -> Decision {
        self.engine.plan(&self.scope, req, &mut self.deferred)
    }
}

/// Plans a request that missed, asking the catalog first when the engine needs facts
/// (this request's, or ones deferred earlier) and the session can ask.
pub async fn decide<S: Catalog>(
    s: &mut S,
    sql: &str,
    blocked: Option<BypassReason>,
) -> Result<Decision, SessionError> {
    let core = s.core();
    if core.scope.cache.mode == CacheMode::Off {
        // A plain relay: no isolation level or catalog fact is ever needed, and the
        // engine judges nothing (it counts the bypass).
        return Ok(core.plan(QueryRequest {
            sql,
            blocked,
            catalog: CatalogAccess::Later,
            context: ReadContext::Autocommit(None),
        }));
    }
    let may_ask = s.may_ask();
    let core = s.core();
    let quiet = may_ask && !core.txn.is_open() && core.origin_quiet() && !core.io.origin_lost();
    if quiet && core.should_ask_isolation(sql) && Box::pin(s.catalog_harmless()).await? {
        // Boxed, as the catalog round below: rare, and inline they would make every
        // future that may decide (and so every message's) larger to build and move.
        Box::pin(ask_isolation(s)).await?;
    }
    let core = s.core();
    // Between transactions with autocommit off (MySQL) too: catalog queries read
    // information_schema, which opens no transaction.
    let can_ask = quiet;
    let req = QueryRequest {
        sql,
        blocked,
        catalog: CatalogAccess::now_or_later(can_ask),
        // Blocked requests are not judged by where they run.
        context: core.read_context().unwrap_or(ReadContext::Autocommit(None)),
    };
    let decision = core.plan(req);
    if let Decision::Forward {
        reason: BypassReason::IsolationUnknown,
        ..
    } = decision
    {
        core.want_isolation();
    }
    match decision {
        Decision::NeedCatalog(question) => {
            core.flush().await?;
            if !Box::pin(s.catalog_harmless()).await? {
                let core = s.core();
                core.deferred.merge(question);
                let req = QueryRequest {
                    catalog: CatalogAccess::Later,
                    ..req
                };
                return Ok(core.plan(req));
            }
            let asked_at = s.core().scope.db.schema_epoch();
            let facts = Box::pin(super::catalog::ask(s, &question)).await?;
            let core = s.core();
            core.engine.learn(&core.scope, asked_at, facts);
            let req = QueryRequest {
                catalog: CatalogAccess::Asked,
                ..req
            };
            Ok(core.plan(req))
        }
        d => Ok(d),
    }
}

/// Asks the origin for the session's default isolation level. Nothing is in flight
/// and no transaction is open: the answer cannot disturb the client's.
async fn ask_isolation<S: Catalog>(s: &mut S) -> Result<(), SessionError> {
    let level = super::catalog::isolation(s).await?;
    if level.is_none() {
        tracing::warn!(cache = %s.core().scope.cache.id, "the origin did not say its isolation level");
    }
    s.core().learned_isolation(level);
    Ok(())
}
