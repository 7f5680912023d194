//! The two maps behind [`super::Classifier`]: classifications by template ID and by
//! text. Read on every classified request (every miss and every write), so plain
//! maps under a read lock, without an eviction policy's bookkeeping on each read.
//! Both are bounded; past the bound an insert drops arbitrary entries: they are
//! memos, and a dropped entry is only computed again.

use crate::hashing::Map;
use std::sync::{Arc, RwLock};

use super::analysis::Analysis;

/// Classifications by template ID, at most `max` of them.
pub(super) struct TemplateMemo {
    map: RwLock<Map<u64, Arc<Analysis>>>,
    max: usize,
}

impl TemplateMemo {
    pub fn new(max: usize) -> Self {
        Self {
            map: RwLock::default(),
            max,
        }
    }

    pub fn get(&self, id: u64) -> Option<Arc<Analysis>> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.get(&id).cloned()
    }

    pub fn insert(&self, id: u64, analysis: Arc<Analysis>) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.max && !map.contains_key(&id) {
            let victim = map.keys().next().copied();
            if let Some(victim) = victim {
                map.remove(&victim);
            }
        }
        map.insert(id, analysis);
    }

    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Classifications by SQL text, weighing at most `budget` (each entry weighs what
/// the caller says: its text and an estimate of its classification).
pub(super) struct TextMemo {
    inner: RwLock<Texts>,
    budget: usize,
}

#[derive(Default)]
struct Texts {
    map: Map<Box<str>, (Arc<Analysis>, usize)>,
    weight: usize,
}

impl TextMemo {
    pub fn new(budget: usize) -> Self {
        Self {
            inner: RwLock::default(),
            budget,
        }
    }

    pub fn get(&self, sql: &str) -> Option<Arc<Analysis>> {
        let t = self.inner.read().unwrap_or_else(|e| e.into_inner());
        t.map.get(sql).map(|(a, _)| a.clone())
    }

    pub fn insert(&self, sql: &str, analysis: Arc<Analysis>, weight: usize) {
        if weight > self.budget {
            return;
        }
        let mut t = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some((_, w)) = t.map.remove(sql) {
            t.weight = t.weight.saturating_sub(w);
        }
        while t.weight.saturating_add(weight) > self.budget {
            let Some(victim) = t.map.keys().next().cloned() else {
                break;
            };
            if let Some((_, w)) = t.map.remove(&victim) {
                t.weight = t.weight.saturating_sub(w);
            }
        }
        t.map.insert(sql.into(), (analysis, weight));
        t.weight = t.weight.saturating_add(weight);
    }

    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Dialect, template, visitor};

    fn analysis(sql: &str) -> Arc<Analysis> {
        Arc::new(Analysis::new(
            visitor::classify(Dialect::Postgres, sql),
            template(Dialect::Postgres, sql),
        ))
    }

    #[test]
    fn both_maps_stay_within_their_bounds() {
        let by_id = TemplateMemo::new(3);
        let by_text = TextMemo::new(100);
        for i in 0..10u64 {
            let sql = format!("SELECT {i}");
            by_id.insert(i, analysis(&sql));
            by_text.insert(&sql, analysis(&sql), 30);
            assert!(by_id.len() <= 3);
            assert!(by_text.len() <= 3, "{}", by_text.len());
        }
        assert!(by_id.get(9).is_some(), "the newest is kept");
        assert!(by_text.get("SELECT 9").is_some());
        by_text.insert("SELECT 9", analysis("SELECT 9"), 30);
        assert!(by_text.len() <= 3);
        by_text.insert("huge", analysis("SELECT 1"), 101);
        assert!(
            by_text.get("huge").is_none(),
            "heavier than the budget: not kept"
        );
    }
}
