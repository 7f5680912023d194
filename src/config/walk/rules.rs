//! The walker's part for `[[rules]]`: each rule's matchers, its action with
//! its TTL, and that its `cache` names a configured cache.

use std::collections::HashSet;
use std::time::Duration;

use toml::{Table, Value};

use super::{Partial, RULE_KEYS, Walker, join};
use crate::config::error::ConfigError;
use crate::config::rules::{MATCHER_KEYS, RuleAction, RuleDef, rule_action};
use crate::config::values::{
    action_name, cache_id, pattern, positive_duration, table_name, template_id, wrong_type,
};

impl Walker<'_> {
    /// Reads `[[rules]]` (absent: none); `caches` are the `[[caches]]` as read.
    pub(super) fn rules(&mut self, root: &Table, caches: &[Partial]) -> Vec<RuleDef> {
        let items = match root.get("rules") {
            None => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(other) => {
                let expected = "an array of tables ([[rules]])";
                self.errors.push(wrong_type("rules", expected, other));
                return Vec::new();
            }
        };
        let ids = self.cache_ids(caches);
        let mut rules = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let prefix = format!("rules[{i}]");
            match item.as_table() {
                Some(t) => rules.extend(self.rule_def(t, &prefix, ids.as_ref())),
                None => self.errors.push(wrong_type(&prefix, "a table", item)),
            }
        }
        rules
    }

    /// The IDs of the configured caches; `None` when an error already reported
    /// may hide one, so that no rule's cache is then called unknown.
    fn cache_ids<'p>(&self, caches: &'p [Partial]) -> Option<HashSet<&'p str>> {
        if self.invalid.contains("caches") {
            return None;
        }
        caches.iter().map(|c| c.id.as_deref()).collect()
    }

    /// One rule; `None` if its action could not be read (the problem is reported).
    fn rule_def(
        &mut self,
        t: &Table,
        prefix: &str,
        ids: Option<&HashSet<&str>>,
    ) -> Option<RuleDef> {
        self.unknown_keys(t, prefix, RULE_KEYS);
        let template = self.field(t, prefix, "template", template_id);
        let pattern = self.field(t, prefix, "pattern", pattern);
        let table = self.field(t, prefix, "table", table_name);
        let cache = self.field(t, prefix, "cache", cache_id);
        let action = self.field(t, prefix, "action", action_name);
        let ttl = self.field(t, prefix, "ttl", positive_duration);
        if !MATCHER_KEYS.iter().any(|key| t.contains_key(*key)) {
            let path = prefix.to_owned();
            self.errors.push(ConfigError::NoRuleMatcher { path });
        }
        if let (Some(id), Some(ids)) = (&cache, ids)
            && !ids.contains(id.as_str())
        {
            self.errors.push(ConfigError::UnknownRuleCache {
                path: self.path(prefix, "cache"),
                id: id.clone(),
            });
        }
        let action = self.rule_action(prefix, action.as_deref(), ttl)?;
        Some(RuleDef {
            template,
            pattern,
            table,
            cache,
            action,
        })
    }

    /// Checks `action` with `ttl`, unless either was already reported invalid.
    fn rule_action(
        &mut self,
        prefix: &str,
        action: Option<&str>,
        ttl: Option<Duration>,
    ) -> Option<RuleAction> {
        let reported = ["action", "ttl"]
            .into_iter()
            .any(|key| self.invalid.contains(&join(prefix, key)));
        if reported {
            return None;
        }
        match rule_action(action, ttl) {
            Ok(action) => Some(action),
            Err(e) => {
                self.errors.push(ConfigError::InvalidRuleAction {
                    path: self.path(prefix, e.key()),
                    reason: e.to_string(),
                });
                None
            }
        }
    }
}
