//! A statement's judgement against the catalog, kept with its analysis for the next
//! texts of its template: the tables a write invalidates (with triggers, cascades
//! and views), the functions' verdict, and the tables a read depends on. Working
//! these out reads several facts (each a hashed look-up and a clock read) and
//! lower-cases and sorts names; a pgbench TPC-B transaction paid about 6,000
//! instructions for it on every run of the same four writes.
//!
//! What is kept is exactly what [`super::resolve`] gave, and only when every fact it
//! needed was known. It is given again only in the same namespace and schema epoch,
//! and only while every fact it used is still trusted (the facts' own lifetime,
//! `facts::FACT_LIFETIME`, bounds how long DDL made directly at the origin goes
//! unnoticed; it bounds this too). A schema change through wirecache moves the epoch,
//! so nothing kept before it is given again.

use std::time::Instant;

use super::super::{BypassReason, CatalogQuestion, Effects};
use crate::classify::Analysis;

/// The catalog-dependent part of one judgement.
#[derive(Debug)]
pub(super) struct Resolution {
    namespace: u64,
    epoch: u64,
    /// When the earliest-expiring fact it used stops being trusted; `None`: it used
    /// none.
    trusted_until: Option<Instant>,
    /// What the statement writes and the functions' effects (before the session's
    /// own facts and the locking clause are added).
    pub effects: Effects,
    pub functions: Result<(), BypassReason>,
    /// The read's dependencies, if they were worked out (a read that could be cached).
    pub reads: Option<Result<Vec<Box<str>>, BypassReason>>,
}

impl Resolution {
    pub fn new(
        namespace: u64,
        epoch: u64,
        trusted_until: Option<Instant>,
        effects: Effects,
        functions: Result<(), BypassReason>,
        reads: Option<Result<Vec<Box<str>>, BypassReason>>,
    ) -> Resolution {
        Resolution {
            namespace,
            epoch,
            trusted_until,
            effects,
            functions,
            reads,
        }
    }
}

/// The judgement kept with `analysis`, if it holds for `namespace` at `epoch` now
/// and has the read's dependencies where `needs_reads` (then given with them).
pub(super) fn recall(
    analysis: &Analysis,
    namespace: u64,
    epoch: u64,
    needs_reads: bool,
) -> Option<super::Resolved> {
    analysis.resolved.with(|kept| {
        let kept = kept.downcast_ref::<Resolution>()?;
        let holds = kept.namespace == namespace
            && kept.epoch == epoch
            && (!needs_reads || kept.reads.is_some())
            && kept.trusted_until.is_none_or(|t| Instant::now() < t);
        holds.then(|| super::Resolved {
            effects: kept.effects.clone(),
            function_verdict: kept.functions,
            read_verdict: match &kept.reads {
                Some(reads) if needs_reads => reads.clone(),
                _ => Ok(Vec::new()),
            },
            missing: CatalogQuestion::default(),
        })
    })
}

/// Keeps `r` with `analysis` (in place of what was kept).
pub(super) fn keep(analysis: &Analysis, r: Resolution) {
    analysis.resolved.set(Box::new(r));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Classifier, Dialect};
    use std::time::Duration;

    fn kept(until: Option<Instant>, reads: bool) -> Resolution {
        let effects = Effects {
            tables: vec!["t".into()],
            ..Effects::default()
        };
        Resolution::new(
            7,
            3,
            until,
            effects,
            Ok(()),
            reads.then(|| Ok(vec!["t".into()])),
        )
    }

    /// Given again only for the namespace and epoch it was made in, with the read's
    /// dependencies where asked for, and while its facts are trusted.
    #[test]
    fn a_judgement_is_given_again_only_where_it_holds() {
        let classifier = Classifier::new(Dialect::Postgres);
        let a = classifier.classify("SELECT v FROM t WHERE id = 1");
        assert!(recall(&a, 7, 3, false).is_none(), "nothing kept yet");
        let later = Instant::now() + Duration::from_secs(60);
        keep(&a, kept(Some(later), false));
        assert!(recall(&a, 7, 3, false).is_some());
        assert!(recall(&a, 8, 3, false).is_none(), "another namespace");
        assert!(recall(&a, 7, 4, false).is_none(), "another schema epoch");
        assert!(
            recall(&a, 7, 3, true).is_none(),
            "no read dependencies kept"
        );
        keep(&a, kept(Some(later), true));
        assert_eq!(
            recall(&a, 7, 3, true).map(|r| r.read_verdict),
            Some(Ok(vec!["t".into()]))
        );
        let gone = Instant::now().checked_sub(Duration::from_millis(1));
        keep(&a, kept(gone, true));
        assert!(recall(&a, 7, 3, false).is_none(), "a fact it used expired");
        keep(&a, kept(None, true));
        assert!(recall(&a, 7, 3, true).is_some(), "it used no fact");
        // Texts of one template share it; a clone of the analysis does not.
        let b = classifier.classify("SELECT v FROM t WHERE id = 2");
        assert!(recall(&b, 7, 3, true).is_some());
        assert!(recall(&(*a).clone(), 7, 3, true).is_none());
    }
}
