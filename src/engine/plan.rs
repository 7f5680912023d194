//! Planning a request that missed: classification plus catalog facts → [`Decision`].
//! This is where design §3 and §4.3 meet: what a statement reads decides whether it
//! may be cached; what it writes (including implicitly) decides what it invalidates.

mod recall;
mod resolve;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::rules::{self, RuleSubject};
use super::{
    Admission, BypassReason, CatalogQuestion, Decision, Effects, Engine, FillTicket, ReadContext,
    Scope, Storing, TemplateStats,
};
use crate::cache::ttl::TtlState;
use crate::classify::{Analysis, StatementKind, Uncacheable};
use crate::config::{CacheMode, RuleAction, TxnPolicy};
use resolve::{Resolver, bare, functions, reads, write_effects};

/// One request as the engine sees it.
#[derive(Debug, Clone, Copy)]
pub struct QueryRequest<'a> {
    pub sql: &'a str,
    /// Why this request may not use the cache whatever it is, if so: an open
    /// transaction block (from the server's status, design §4.4) or a pipeline.
    pub blocked: Option<BypassReason>,
    /// Whether the session can read the origin's catalog for this request.
    pub catalog: CatalogAccess,
    /// Where the request runs: autocommit, or inside a transaction at some level.
    pub context: ReadContext,
}

/// Whether a session can read the origin's catalog while it plans a request. The
/// catalog is read over the session's own origin connection, so only between
/// requests and never inside the client's transaction (where a failed catalog query
/// would abort it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogAccess {
    /// Nothing is in flight and no transaction is open: ask now.
    Now,
    /// Busy or inside a transaction: judge without the missing facts (assuming the
    /// worst) and ask for them once the session can.
    Later,
    /// The session has just asked: whatever is still missing stays unknown.
    Asked,
}

impl CatalogAccess {
    /// `Now` if the session can ask now, else `Later`.
    pub fn now_or_later(can_ask: bool) -> Self {
        if can_ask {
            CatalogAccess::Now
        } else {
            CatalogAccess::Later
        }
    }
}

/// The TTL policy gives a result: learned for its template, or pinned by a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    Learned(Duration),
    Pinned(Duration),
}

impl Ttl {
    pub fn duration(self) -> Duration {
        match self {
            Ttl::Learned(d) | Ttl::Pinned(d) => d,
        }
    }
}

/// What classification and catalog facts say about a request, before policy
/// (rules, the cache's mode, learned TTLs) is applied.
#[derive(Debug)]
pub struct Verdict {
    pub analysis: Arc<Analysis>,
    /// Why it cannot be cached, if it cannot.
    pub reason: Option<BypassReason>,
    /// Tables a cacheable read depends on (bare names).
    pub deps: Vec<Box<str>>,
    pub effects: Effects,
    /// Facts still missing from the catalog.
    pub missing: CatalogQuestion,
}

/// The catalog-dependent part of a judgement ([`Engine::resolve`]).
struct Resolved {
    /// What it writes, and the functions' effects.
    effects: Effects,
    function_verdict: Result<(), BypassReason>,
    /// A read's dependencies (empty where not worked out).
    read_verdict: Result<Vec<Box<str>>, BypassReason>,
    missing: CatalogQuestion,
}

impl Engine {
    /// Classifies a request and judges it against what the catalog told us.
    pub fn judge(&self, scope: &Scope, req: QueryRequest<'_>) -> Verdict {
        let analysis = scope.cache.classifier.classify(req.sql);
        self.judge_analysis(scope, req, analysis)
    }

    /// [`Engine::judge`] once the text is classified.
    fn judge_analysis(
        &self,
        scope: &Scope,
        req: QueryRequest<'_>,
        analysis: Arc<Analysis>,
    ) -> Verdict {
        let c = &analysis.classification;
        let epoch = scope.db.schema_epoch();
        let needs_reads =
            c.kind == StatementKind::Read && c.uncacheable.is_none() && req.blocked.is_none();
        let Resolved {
            mut effects,
            function_verdict,
            read_verdict,
            missing,
        } = match recall::recall(&analysis, scope.namespace, epoch, needs_reads) {
            Some(kept) => kept,
            None => self.resolve(scope, epoch, &analysis, needs_reads),
        };
        effects.locks = c.uncacheable == Some(Uncacheable::LockingClause);
        super::effects::session_control(scope, req.sql, &analysis, &mut effects);
        if !missing.is_empty() && req.catalog != CatalogAccess::Now {
            // Facts we could not learn: assume the worst about writes.
            if c.kind != StatementKind::Read || !c.unknown_functions.is_empty() {
                effects.whole_database = true;
            }
        }
        let reason = if let Some(blocked) = req.blocked {
            Some(blocked)
        } else if let Some(u) = c.uncacheable {
            Some(BypassReason::from(u))
        } else if let Err(reason) = function_verdict {
            Some(reason)
        } else if !missing.is_empty() {
            Some(BypassReason::CatalogUnknown)
        } else if effects.writes() || effects.taints_session {
            Some(BypassReason::NotARead)
        } else {
            read_verdict.as_ref().err().copied()
        };
        let deps = read_verdict.unwrap_or_default();
        Verdict {
            analysis,
            reason,
            deps,
            effects,
            missing,
        }
    }

    /// The catalog-dependent part of a judgement, worked out from the facts known
    /// (and kept with the analysis when none was missing): what it writes, the
    /// functions' verdict, what a read depends on (where `needs_reads`), and the
    /// facts still missing.
    fn resolve(
        &self,
        scope: &Scope,
        epoch: u64,
        analysis: &Analysis,
        needs_reads: bool,
    ) -> Resolved {
        let c = &analysis.classification;
        let mut r = Resolver {
            engine: self,
            scope,
            epoch,
            missing: CatalogQuestion::default(),
            trusted_until: None,
        };
        let mut effects = write_effects(c, &mut r);
        let function_verdict = functions(c, &mut r, &mut effects);
        let read_verdict = needs_reads.then(|| reads(c, &mut r));
        if r.missing.is_empty() {
            let kept = recall::Resolution::new(
                scope.namespace,
                epoch,
                r.trusted_until,
                effects.clone(),
                function_verdict,
                read_verdict.clone(),
            );
            recall::keep(analysis, kept);
        }
        Resolved {
            effects,
            function_verdict,
            read_verdict: read_verdict.unwrap_or(Ok(Vec::new())),
            missing: r.missing,
        }
    }

    /// Decides what to do with a request that missed the cache.
    ///
    /// `deferred` holds the facts this session could not ask for earlier (see
    /// [`CatalogAccess::Later`]); they are asked for together with the request's
    /// own at the next request that can ask, so that a write inside a transaction
    /// to a table not seen before invalidates the whole database only until then.
    pub fn plan(
        &self,
        scope: &Scope,
        req: QueryRequest<'_>,
        deferred: &mut CatalogQuestion,
    ) -> Decision {
        if scope.cache.mode == CacheMode::Off {
            // Nothing is ever stored for this cache, so nothing needs judging or
            // invalidating: a plain relay.
            scope.cache.metrics.bypass(BypassReason::RuleSaysNo);
            return Decision::Forward {
                reason: BypassReason::RuleSaysNo,
                effects: Effects::default(),
            };
        }
        let analysis = scope.cache.classifier.classify(req.sql);
        let probe = match self.skip_unrepeating(scope, req, &analysis) {
            Ok(decision) => return decision,
            Err(probe) => probe,
        };
        let mut v = self.judge_analysis(scope, req, analysis);
        let missing = std::mem::take(&mut v.missing);
        match req.catalog {
            CatalogAccess::Now if !missing.is_empty() || !deferred.is_empty() => {
                let mut question = std::mem::take(deferred);
                question.merge(missing);
                return Decision::NeedCatalog(question);
            }
            CatalogAccess::Later => deferred.merge(missing),
            CatalogAccess::Now | CatalogAccess::Asked => {}
        }
        let stats = self.templates.get_or_register(
            &scope.cache.key,
            &v.analysis.template,
            &scope.cache.bounds,
        );
        let policy = self.policy_where(scope, &v, &stats, req.context);
        // A rule's pinned TTL is the operator's word: only learned ones are judged.
        let policy = match policy {
            Ok(Ttl::Learned(_)) if !probe && !stats.worth_filling(Instant::now()) => {
                Err(BypassReason::NotRepeating)
            }
            p => p,
        };
        match policy {
            Ok(ttl) => self.fill(scope, v, stats, ttl),
            Err(reason) => {
                scope.cache.metrics.bypass(reason);
                stats.on_bypass(reason);
                if !v.effects.tables.is_empty() {
                    // Once per write statement (its invalidation is applied several
                    // times, at the acknowledgement and at the transaction's end).
                    self.templates.write_seen(
                        &scope.cache.key,
                        &v.effects.tables,
                        &scope.cache.bounds,
                    );
                }
                Decision::Forward {
                    reason,
                    effects: v.effects,
                }
            }
        }
    }

    /// A miss to fill: counted, with the generations of what it reads.
    fn fill(&self, scope: &Scope, v: Verdict, stats: Arc<TemplateStats>, ttl: Ttl) -> Decision {
        scope.cache.metrics.misses.fetch_add(1, Ordering::Relaxed);
        stats.on_miss();
        self.templates.note_tables(&stats, &v.deps);
        let mut snapshot = scope.db.snapshot(v.deps.iter().map(|d| &**d));
        snapshot.push(&stats.generation);
        if v.reason.is_some() {
            // A rule overrode a refusal: what the read depends on may be
            // unknown, so any write to the database invalidates it.
            let named = v.analysis.reads.iter().map(|t| &*t.name);
            snapshot.extend(&scope.db.snapshot(named));
            snapshot.push(scope.db.any_write());
        }
        // A rule's TTL is the operator's word: stored whatever the template does.
        let admission = match (&ttl, stats.storing()) {
            (Ttl::Learned(_), Storing::Admitting) => Admission::SecondMiss,
            _ => Admission::Always,
        };
        Decision::Fill(FillTicket {
            snapshot,
            ttl,
            template: stats,
            started: Instant::now(),
            // Dependencies the shared tier can name (not after a rule's override).
            shared_deps: v.reason.is_none().then_some(v.deps),
            admission,
        })
    }

    /// The TTL to cache a judged request with, or why not: the cache's mode, the
    /// first matching rule, and the template's learned state (rules win). Also the
    /// matching rule's `transactions` policy, if it sets one.
    pub(super) fn policy(
        &self,
        scope: &Scope,
        v: &Verdict,
        state: &TtlState,
    ) -> (Result<Ttl, BypassReason>, Option<TxnPolicy>) {
        if scope.cache.mode == CacheMode::Off {
            return (Err(BypassReason::RuleSaysNo), None);
        }
        let reason = v.reason.or_else(|| {
            (!state.cacheable(Instant::now())).then_some(BypassReason::VolatileResults)
        });
        // Without rules, nothing to match: the names are not worked out.
        let rule = if self.rules.is_empty() {
            None
        } else {
            let read_names: Vec<Box<str>>;
            let tables = if v.deps.is_empty() {
                read_names = v.analysis.reads.iter().map(|t| bare(&t.name)).collect();
                &read_names
            } else {
                &v.deps
            };
            let subject = RuleSubject {
                cache: &scope.cache.id,
                template: &v.analysis.template,
                kind: v.analysis.kind,
                tables,
            };
            self.rules.matching(&subject)
        };
        let txn = rule.as_ref().and_then(|r| r.transactions);
        let ttl = match rule.map(|r| r.action) {
            Some(RuleAction::Learn) | None if scope.cache.mode == CacheMode::Manual => {
                Err(reason.unwrap_or(BypassReason::RuleSaysNo))
            }
            Some(action) => {
                let writes = v.effects.writes() || v.effects.taints_session;
                rules::apply(&action, reason, writes).map(|ttl| match ttl {
                    Some(pinned) => Ttl::Pinned(pinned),
                    None => Ttl::Learned(state.ttl),
                })
            }
            None => reason.map_or(Ok(Ttl::Learned(state.ttl)), Err),
        };
        (ttl, txn)
    }
}
