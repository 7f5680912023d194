//! Rules (`[[rules]]`): operator decisions that win over TTL learning, one
//! [`RuleDef`] each, and the checks that the config reader and the admin API
//! share ([`parse_template_id`], [`parse_rule_action`],
//! [`RuleDef::validate_matchers`]).

use std::time::Duration;

use serde::{Serialize, Serializer};

use super::kinds::{Kind, Opt, TemplateId, check_cache_id};
use super::size::format_duration;
use super::types::TxnPolicy;

/// Keys of a rule that select queries; at least one must be given.
pub(super) const MATCHER_KEYS: [&str; 4] = ["template", "pattern", "table", "cache"];

/// One `[[rules]]` entry: which queries it matches and what it decides for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleDef {
    /// Matchers: all given must match; at least one is required.
    ///
    /// The template ID, written as 16 hex digits such as `"9f86d081884c7d65"`.
    #[serde(with = "Opt::<TemplateId>")]
    pub template: Option<u64>,
    /// A glob over the template text: `*` any run, `?` one character, ignoring case.
    pub pattern: Option<String>,
    /// A table the query reads, as written.
    pub table: Option<String>,
    /// A cache ID; the config checks that it names a configured cache.
    pub cache: Option<String>,
    /// Written as the keys `action` and `ttl`.
    #[serde(flatten)]
    pub action: RuleAction,
    /// Overrides the cache's `transactions` policy for the queries it matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactions: Option<TxnPolicy>,
}

impl RuleDef {
    /// Checks the matchers as the config does: at least one is given, `pattern`
    /// and `table` are not blank, `cache` is a well-formed cache ID. Whether
    /// that cache is configured is the caller's check (`Config::cache`).
    pub fn validate_matchers(&self) -> Result<(), String> {
        if self.template.is_none()
            && self.pattern.is_none()
            && self.table.is_none()
            && self.cache.is_none()
        {
            return Err(NO_MATCHER.to_owned());
        }
        for (key, text) in [("pattern", &self.pattern), ("table", &self.table)] {
            if let Some(text) = text {
                check_matcher_text(text).map_err(|reason| format!("{key}: {reason}"))?;
            }
        }
        match &self.cache {
            Some(id) => check_cache_id(id)
                .map_err(|reason| format!("cache: invalid cache ID {id:?}: {reason}")),
            None => Ok(()),
        }
    }
}

/// What a rule decides for the queries it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleAction {
    /// Cache with this fixed TTL instead of the learned one (`action = "cache"`, `ttl` required).
    Ttl(Duration),
    /// Never cache (`action = "never"`, no `ttl` allowed).
    Never,
    /// Cache even when the classifier would refuse for a reason an operator may
    /// override (`action = "always"`), with a fixed TTL if `ttl` is given.
    Always(Option<Duration>),
    /// Decide as without a rule (a rule that only sets `transactions`: no `action`,
    /// no `ttl`).
    Learn,
}

impl RuleAction {
    /// The `action` names, as written in the config.
    pub const NAMES: [&'static str; 3] = ["cache", "never", "always"];

    /// The `action` name (also the metric label).
    pub fn as_str(&self) -> &'static str {
        match self {
            RuleAction::Ttl(_) => "cache",
            RuleAction::Never => "never",
            RuleAction::Always(_) => "always",
            RuleAction::Learn => "learn",
        }
    }

    /// The fixed TTL the rule sets, if any.
    pub fn ttl(&self) -> Option<Duration> {
        match *self {
            RuleAction::Ttl(ttl) => Some(ttl),
            RuleAction::Never | RuleAction::Learn => None,
            RuleAction::Always(ttl) => ttl,
        }
    }
}

impl Serialize for RuleAction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if *self == RuleAction::Learn {
            return s.collect_map(std::iter::empty::<(&str, String)>());
        }
        let ttl = self.ttl().map(|ttl| ("ttl", format_duration(ttl)));
        s.collect_map(
            [("action", self.as_str().to_owned())]
                .into_iter()
                .chain(ttl),
        )
    }
}

/// Why no matcher is an error, as the config and [`RuleDef::validate_matchers`] say it.
pub(super) const NO_MATCHER: &str =
    "no matcher (set at least one of template, pattern, table or cache)";

/// Why an `action` and a `ttl` make no [`RuleAction`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ActionError {
    #[error("unknown action {0:?} (expected cache, never or always)")]
    Unknown(String),
    #[error("action \"cache\" requires a ttl (or use action \"never\" or \"always\")")]
    MissingTtl,
    #[error("action \"never\" takes no ttl")]
    TtlNotAllowed,
    #[error("ttl must be greater than zero")]
    ZeroTtl,
}

impl ActionError {
    /// The key at fault.
    pub(super) fn key(&self) -> &'static str {
        match self {
            ActionError::Unknown(_) => "action",
            ActionError::MissingTtl | ActionError::TtlNotAllowed | ActionError::ZeroTtl => "ttl",
        }
    }
}

/// The action of a rule from its `action` (default `"cache"`, any ASCII case)
/// and `ttl`: `cache` needs a ttl, `never` takes none, `always` may have one;
/// a ttl is never zero.
pub fn parse_rule_action(
    action: Option<&str>,
    ttl: Option<Duration>,
) -> Result<RuleAction, String> {
    rule_action(action, ttl).map_err(|e| e.to_string())
}

/// [`parse_rule_action`] with the key at fault kept.
pub(super) fn rule_action(
    action: Option<&str>,
    ttl: Option<Duration>,
) -> Result<RuleAction, ActionError> {
    let action = action.unwrap_or("cache");
    let name = RuleAction::NAMES
        .into_iter()
        .find(|n| n.eq_ignore_ascii_case(action));
    match (
        name.ok_or_else(|| ActionError::Unknown(action.to_owned()))?,
        ttl,
    ) {
        (_, Some(Duration::ZERO)) => Err(ActionError::ZeroTtl),
        ("cache", Some(ttl)) => Ok(RuleAction::Ttl(ttl)),
        ("cache", None) => Err(ActionError::MissingTtl),
        ("never", Some(_)) => Err(ActionError::TtlNotAllowed),
        ("never", None) => Ok(RuleAction::Never),
        _ => Ok(RuleAction::Always(ttl)),
    }
}

/// [`rule_action`] for a rule that may also set `transactions`: such a rule with
/// neither `action` nor `ttl` decides nothing else ([`RuleAction::Learn`]).
pub(super) fn rule_action_with(
    action: Option<&str>,
    ttl: Option<Duration>,
    sets_transactions: bool,
) -> Result<RuleAction, ActionError> {
    match (action, ttl, sets_transactions) {
        (None, None, true) => Ok(RuleAction::Learn),
        (Some(a), _, _) if a.eq_ignore_ascii_case("learn") => {
            Err(ActionError::Unknown(a.to_owned()))
        }
        _ => rule_action(action, ttl),
    }
}

/// [`parse_rule_action`] for a rule that may also set `transactions`.
pub fn parse_rule_action_with(
    action: Option<&str>,
    ttl: Option<Duration>,
    sets_transactions: bool,
) -> Result<RuleAction, String> {
    rule_action_with(action, ttl, sets_transactions).map_err(|e| e.to_string())
}

/// A template ID from its 16 hex digits (either case), as the admin API and
/// `wirecache explain` print it. The error is the reason only, without the value.
pub fn parse_template_id(s: &str) -> Result<u64, String> {
    let reason = "expected 16 hex digits, such as 9f86d081884c7d65";
    if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(reason.to_owned());
    }
    u64::from_str_radix(s, 16).map_err(|_| reason.to_owned())
}

/// A template ID as 16 lower-case hex digits; reads back with [`parse_template_id`].
pub fn format_template_id(id: u64) -> String {
    format!("{id:016x}")
}

/// Checks a `pattern` or `table`: anything but blank.
pub(super) fn check_matcher_text(s: &str) -> Result<(), &'static str> {
    if s.trim().is_empty() {
        Err("empty")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What [`rule_action`] gives, in a case table.
    type ActionResult = Result<RuleAction, ActionError>;

    #[test]
    fn actions() {
        let s = Duration::from_secs;
        let zero = Some(Duration::ZERO);
        let unknown = |name: &str| Err(ActionError::Unknown(name.to_owned()));
        let cases: &[(Option<&str>, Option<Duration>, ActionResult)] = &[
            (None, Some(s(10)), Ok(RuleAction::Ttl(s(10)))),
            (Some("cache"), Some(s(1)), Ok(RuleAction::Ttl(s(1)))),
            (Some("CACHE"), Some(s(1)), Ok(RuleAction::Ttl(s(1)))),
            (Some("never"), None, Ok(RuleAction::Never)),
            (Some("Never"), None, Ok(RuleAction::Never)),
            (Some("always"), None, Ok(RuleAction::Always(None))),
            (
                Some("always"),
                Some(s(5)),
                Ok(RuleAction::Always(Some(s(5)))),
            ),
            (None, None, Err(ActionError::MissingTtl)),
            (Some("cache"), None, Err(ActionError::MissingTtl)),
            (Some("never"), Some(s(5)), Err(ActionError::TtlNotAllowed)),
            (None, zero, Err(ActionError::ZeroTtl)),
            (Some("always"), zero, Err(ActionError::ZeroTtl)),
            (Some("never"), zero, Err(ActionError::ZeroTtl)),
            (Some("sometimes"), None, unknown("sometimes")),
            (Some(""), Some(s(1)), unknown("")),
            // An unknown action is reported before a zero ttl.
            (Some("x"), zero, unknown("x")),
        ];
        for (action, ttl, expected) in cases {
            assert_eq!(&rule_action(*action, *ttl), expected, "{action:?} {ttl:?}");
            let public = parse_rule_action(*action, *ttl);
            assert_eq!(public, expected.clone().map_err(|e| e.to_string()));
        }
        for (name, action) in RuleAction::NAMES.into_iter().zip([
            RuleAction::Ttl(s(1)),
            RuleAction::Never,
            RuleAction::Always(None),
        ]) {
            assert_eq!(action.as_str(), name);
        }
        assert_eq!(RuleAction::Always(Some(s(3))).ttl(), Some(s(3)));
        assert_eq!(RuleAction::Never.ttl(), None);
        let message = parse_rule_action(Some("x"), None).err().unwrap_or_default();
        assert_eq!(
            message,
            "unknown action \"x\" (expected cache, never or always)"
        );
    }

    #[test]
    fn template_ids() {
        let cases: &[(&str, Option<u64>)] = &[
            ("9f86d081884c7d65", Some(0x9f86_d081_884c_7d65)),
            ("9F86D081884C7D65", Some(0x9f86_d081_884c_7d65)),
            ("0000000000000000", Some(0)),
            ("ffffffffffffffff", Some(u64::MAX)),
            ("", None),
            ("9f86d081884c7d6", None),
            ("9f86d081884c7d650", None),
            ("0x9f86d081884c7d", None),
            ("9f86d081884c7d6g", None),
            (" 9f86d081884c7d6", None),
            ("+f86d081884c7d65", None),
            ("9f86d081884c7dé", None),
        ];
        for &(text, expected) in cases {
            assert_eq!(parse_template_id(text).ok(), expected, "{text:?}");
        }
        for id in [0, 1, 0x9f86_d081_884c_7d65, u64::MAX] {
            assert_eq!(parse_template_id(&format_template_id(id)), Ok(id));
        }
        assert_eq!(format_template_id(0xab), "00000000000000ab");
    }

    #[test]
    fn matchers() {
        let rule =
            |template, pattern: Option<&str>, table: Option<&str>, cache: Option<&str>| RuleDef {
                template,
                pattern: pattern.map(str::to_owned),
                table: table.map(str::to_owned),
                cache: cache.map(str::to_owned),
                action: RuleAction::Never,
                transactions: None,
            };
        let cases = [
            (rule(Some(7), None, None, None), Ok(())),
            (rule(None, Some("select *"), None, None), Ok(())),
            (rule(None, None, Some("orders"), None), Ok(())),
            (rule(None, None, None, Some("demo")), Ok(())),
            (rule(Some(1), Some("*"), Some("t"), Some("c")), Ok(())),
            (rule(None, None, None, None), Err(NO_MATCHER.to_owned())),
            (rule(None, Some(""), None, None), Err("pattern: empty".to_owned())),
            (rule(Some(1), None, Some("  "), None), Err("table: empty".to_owned())),
            (
                rule(None, None, None, Some("a b")),
                Err(
                    "cache: invalid cache ID \"a b\": only ASCII letters, digits, '-' and '_' are allowed"
                        .to_owned(),
                ),
            ),
        ];
        for (rule, expected) in cases {
            assert_eq!(rule.validate_matchers(), expected, "{rule:?}");
        }
    }
}
