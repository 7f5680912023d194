//! Operator rules (design §5): from the config and changed at runtime through the admin
//! API. The first rule whose matchers all match a request decides: a fixed TTL, never
//! cache, or always cache (overriding the refusals an operator may override). Rules
//! win over learning.

use std::sync::{Arc, RwLock};

use super::BypassReason;
use crate::classify::{StatementKind, Template};
use crate::config::{RuleAction, RuleDef};

/// Refusals an `always` rule may override: the operator knows the function or view is
/// stable enough, or wants the catalog's silence ignored. Never overridden: writes,
/// transactions, locking, temporary tables, session variables, multi-statements.
fn overridable(reason: BypassReason) -> bool {
    matches!(
        reason,
        BypassReason::NonImmutableFunction
            | BypassReason::SystemCatalog
            | BypassReason::VolatileView
            | BypassReason::CatalogUnknown
            | BypassReason::Unparsable
            | BypassReason::VolatileResults
    )
}

/// What a request looks like to the rules.
pub struct RuleSubject<'a> {
    pub cache: &'a str,
    pub template: &'a Template,
    pub kind: StatementKind,
    /// Tables read (bare, lower-case names).
    pub tables: &'a [Box<str>],
}

#[derive(Default)]
pub struct Rules {
    list: RwLock<Arc<Vec<RuleDef>>>,
}

impl Rules {
    pub fn new(defs: Vec<RuleDef>) -> Self {
        Self {
            list: RwLock::new(Arc::new(defs)),
        }
    }

    pub fn list(&self) -> Arc<Vec<RuleDef>> {
        self.list.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace(&self, defs: Vec<RuleDef>) {
        *self.list.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(defs);
    }

    /// Whether there are no rules (then nothing need be worked out to match them).
    pub fn is_empty(&self) -> bool {
        self.list
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// The first rule matching `s`.
    pub fn matching(&self, s: &RuleSubject<'_>) -> Option<RuleDef> {
        self.list().iter().find(|r| matches(r, s)).cloned()
    }
}

fn matches(r: &RuleDef, s: &RuleSubject<'_>) -> bool {
    covers(r, s.cache, s.template.id, &s.template.text, s.tables)
}

/// Whether rule `r` covers the template `id` / `text` of `cache` reading `tables` (bare
/// names): what the engine asks per request, and the admin views per template.
pub fn covers(r: &RuleDef, cache: &str, id: u64, text: &str, tables: &[Box<str>]) -> bool {
    r.cache.as_deref().is_none_or(|c| c == cache)
        && r.template.is_none_or(|t| t == id)
        && r.pattern.as_deref().is_none_or(|p| glob(p, text))
        && r.table
            .as_deref()
            .is_none_or(|t| tables.iter().any(|x| x.eq_ignore_ascii_case(bare(t))))
}

fn bare(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// Applies a rule's action to what classification and learning concluded: `Ok(ttl)`
/// to cache with that TTL (None: the learned one), `Err` to refuse.
pub fn apply(
    action: &RuleAction,
    reason: Option<BypassReason>,
    writes: bool,
) -> Result<Option<std::time::Duration>, BypassReason> {
    match (action, reason) {
        (RuleAction::Never, _) => Err(BypassReason::RuleSaysNo),
        (RuleAction::Ttl(ttl), None | Some(BypassReason::VolatileResults)) => Ok(Some(*ttl)),
        (RuleAction::Ttl(_), Some(r)) => Err(r),
        (RuleAction::Always(ttl), None) => Ok(*ttl),
        (RuleAction::Always(ttl), Some(r)) if overridable(r) && !writes => Ok(*ttl),
        (RuleAction::Always(_), Some(r)) => Err(r),
        (RuleAction::Learn, reason) => reason.map_or(Ok(None), Err),
    }
}

/// Case-insensitive glob: `*` matches any run of characters, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '?' || Some(c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..).unwrap_or_default().iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn globs() {
        let cases = [
            ("select * from t*", "select a from u where id = ?", false),
            ("select * from t*", "select * from t where id = ?", true),
            ("*from users*", "SELECT name FROM users WHERE id = ?", true),
            ("select ? from t", "select 1 from t", true),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("", "x", false),
        ];
        for (p, t, want) in cases {
            assert_eq!(glob(p, t), want, "{p:?} {t:?}");
        }
    }

    #[test]
    fn actions() {
        let ttl = Duration::from_secs(9);
        use BypassReason::*;
        type Case = (
            RuleAction,
            Option<BypassReason>,
            bool,
            Result<Option<Duration>, BypassReason>,
        );
        let cases: [Case; 8] = [
            (RuleAction::Never, None, false, Err(RuleSaysNo)),
            (RuleAction::Ttl(ttl), None, false, Ok(Some(ttl))),
            (
                RuleAction::Ttl(ttl),
                Some(NonImmutableFunction),
                false,
                Err(NonImmutableFunction),
            ),
            (
                RuleAction::Ttl(ttl),
                Some(VolatileResults),
                false,
                Ok(Some(ttl)),
            ),
            (
                RuleAction::Always(None),
                Some(NonImmutableFunction),
                false,
                Ok(None),
            ),
            (
                RuleAction::Always(Some(ttl)),
                Some(SystemCatalog),
                false,
                Ok(Some(ttl)),
            ),
            (
                RuleAction::Always(None),
                Some(InTransaction),
                false,
                Err(InTransaction),
            ),
            (
                RuleAction::Always(None),
                Some(NonImmutableFunction),
                true,
                Err(NonImmutableFunction),
            ),
        ];
        for (action, reason, writes, want) in cases {
            assert_eq!(
                apply(&action, reason, writes),
                want,
                "{action:?} {reason:?}"
            );
        }
    }
}
