//! Sorting and paging of `/api/templates`: the dashboard asks for one page at a time
//! (`offset`, `limit`), sorted by a column (`sort`, `order`), so it stays responsive at
//! thousands of templates.

use std::cmp::Ordering as CmpOrdering;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::engine::TemplateStats;

/// Most templates one page may hold.
pub const MAX_LIMIT: usize = 1000;
/// Page size when none is asked for.
pub const DEFAULT_LIMIT: usize = 100;

/// A column the template list can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    TimeSaved,
    Calls,
    HitRatio,
    OriginP50,
    OriginP99,
    Bytes,
    Ttl,
}

impl SortKey {
    pub const ALL: [SortKey; 7] = [
        Self::TimeSaved,
        Self::Calls,
        Self::HitRatio,
        Self::OriginP50,
        Self::OriginP99,
        Self::Bytes,
        Self::Ttl,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TimeSaved => "saved",
            Self::Calls => "calls",
            Self::HitRatio => "hit_ratio",
            Self::OriginP50 => "p50",
            Self::OriginP99 => "p99",
            Self::Bytes => "bytes",
            Self::Ttl => "ttl",
        }
    }

    pub fn parse(s: &str) -> Option<SortKey> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn value(self, t: &TemplateStats) -> f64 {
        match self {
            Self::TimeSaved => t.saved_us.load(Ordering::Relaxed) as f64,
            Self::Calls => t.calls.load(Ordering::Relaxed) as f64,
            Self::HitRatio => t.hit_ratio(),
            Self::OriginP50 => t.origin_latency.quantile(0.5).as_secs_f64(),
            Self::OriginP99 => t.origin_latency.quantile(0.99).as_secs_f64(),
            Self::Bytes => t.bytes.load(Ordering::Relaxed) as f64,
            Self::Ttl => t.ttl_state().ttl.as_secs_f64(),
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Desc,
    Asc,
}

impl Order {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Desc => "desc",
            Self::Asc => "asc",
        }
    }

    pub fn parse(s: &str) -> Option<Order> {
        [Self::Desc, Self::Asc]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// Sorts `list` by `key` (ties: more calls first, then by ID, so pages are stable) and
/// returns the page `offset..offset + limit` (limit clamped to [`MAX_LIMIT`]).
pub fn page(
    mut list: Vec<Arc<TemplateStats>>,
    key: SortKey,
    order: Order,
    offset: usize,
    limit: usize,
) -> Vec<Arc<TemplateStats>> {
    let mut keyed: Vec<(f64, u64, Arc<TemplateStats>)> = list
        .drain(..)
        .map(|t| (key.value(&t), t.calls.load(Ordering::Relaxed), t))
        .collect();
    keyed.sort_by(|a, b| {
        let primary = match order {
            Order::Desc => b.0.total_cmp(&a.0),
            Order::Asc => a.0.total_cmp(&b.0),
        };
        primary.then(b.1.cmp(&a.1)).then_with(|| cmp_id(&a.2, &b.2))
    });
    keyed
        .into_iter()
        .skip(offset)
        .take(limit.min(MAX_LIMIT))
        .map(|(_, _, t)| t)
        .collect()
}

fn cmp_id(a: &TemplateStats, b: &TemplateStats) -> CmpOrdering {
    a.id.cmp(&b.id).then_with(|| a.cache.cmp(&b.cache))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::series::tests::engine;
    use crate::classify::Template;

    #[test]
    fn a_thousand_templates_page_in_order() {
        let e = engine();
        let Some(c) = e.caches().by_id("demo") else {
            panic!("no demo cache")
        };
        for i in 1..=1000u64 {
            let t = Template {
                id: i,
                text: format!("select * from t{i}").into(),
            };
            let s = e.templates().get_or_register(&c.key, &t, &c.bounds);
            s.calls.store(i % 97, Ordering::Relaxed);
            s.saved_us.store(i * 10, Ordering::Relaxed);
        }
        let all = e.templates().all();
        let first = page(all.clone(), SortKey::TimeSaved, Order::Desc, 0, 50);
        assert_eq!(first.len(), 50);
        assert_eq!(first[0].id, 1000);
        assert_eq!(first[49].id, 951);
        let last = page(all.clone(), SortKey::TimeSaved, Order::Desc, 950, 100);
        assert_eq!(last.len(), 50);
        assert_eq!(last[49].id, 1);
        let by_calls = page(all.clone(), SortKey::Calls, Order::Asc, 0, 1000);
        let calls: Vec<u64> = by_calls
            .iter()
            .map(|t| t.calls.load(Ordering::Relaxed))
            .collect();
        assert!(calls.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(page(all, SortKey::Calls, Order::Desc, 0, 5000).len(), 1000);
    }

    #[test]
    fn keys_and_orders_round_trip() {
        for k in SortKey::ALL {
            assert_eq!(SortKey::parse(k.as_str()), Some(k));
        }
        assert_eq!(SortKey::parse("text"), None);
        assert_eq!(Order::parse("asc"), Some(Order::Asc));
        assert_eq!(Order::parse("up"), None);
    }
}
