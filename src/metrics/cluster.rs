//! The cluster bus's part of `/metrics`: its state, the cross-instance invalidation
//! delay, and its counters; with `cluster.l2`, the shared result tier's.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cluster::{BusState, Cluster, Figures, L2Drop, L2Error, L2Figures, L2Miss, Resync};

/// Where a plain metric's value is read.
type Read = fn(&Figures) -> &AtomicU64;

/// Counters and gauges of the bus: name, type, help, and where to read it.
const PLAIN: [(&str, &str, &str, Read); 6] = [
    (
        "wirecache_cluster_published_total",
        "counter",
        "Invalidations recorded in Redis by this instance.",
        |f| &f.published,
    ),
    (
        "wirecache_cluster_publish_failures_total",
        "counter",
        "Invalidations Redis did not record in time (owed, retried).",
        |f| &f.publish_failures,
    ),
    (
        "wirecache_cluster_received_total",
        "counter",
        "Bus messages received.",
        |f| &f.received,
    ),
    (
        "wirecache_cluster_undecodable_total",
        "counter",
        "Bus messages that were not wirecache bumps.",
        |f| &f.undecodable,
    ),
    (
        "wirecache_cluster_strict_refusals_total",
        "counter",
        "Strict mode: client requests whose hits were refused (the bus could not vouch).",
        |f| &f.strict_refusals,
    ),
    (
        "wirecache_cluster_owed",
        "gauge",
        "Databases whose invalidations wait for Redis to answer again.",
        |f| &f.owed,
    ),
];

/// Appends the bus's metrics to the exposition.
pub fn render_cluster(out: &mut String, c: &Cluster) {
    let f = &c.figures;
    let label = format!("instance=\"{}\"", c.instance());
    let name = "wirecache_cluster_bus_state";
    head(out, name, "gauge", "1 for the bus's current state.");
    let now = c.state();
    for s in BusState::ALL {
        let (v, state) = (u8::from(s == now), s.as_str());
        let _ = writeln!(out, "{name}{{{label},state=\"{state}\"}} {v}");
    }
    let name = "wirecache_cluster_invalidation_lag_seconds";
    let help = "Delay from another instance's publish to its bump applied here.";
    head(out, name, "histogram", help);
    super::histogram(out, name, &label, &f.lag);
    for (name, kind, help, read) in PLAIN {
        head(out, name, kind, help);
        let _ = writeln!(out, "{name}{{{label}}} {}", read(f).load(Ordering::Relaxed));
    }
    let name = "wirecache_cluster_resyncs_total";
    head(
        out,
        name,
        "counter",
        "Shared generations re-read, by reason.",
    );
    for r in Resync::ALL {
        let n = f
            .resyncs
            .get(r as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed));
        let reason = r.as_str();
        let _ = writeln!(out, "{name}{{{label},reason=\"{reason}\"}} {n}");
    }
    if let Some(l2) = c.l2() {
        render_l2(out, &label, &l2.figures);
    }
}

/// One counter per value of a reason enum: `name{instance,key="value"} n`.
struct PerLabel<'a> {
    name: &'a str,
    help: &'a str,
    key: &'a str,
    values: &'a [&'static str],
    counters: &'a [AtomicU64],
}

fn per_label(out: &mut String, label: &str, m: PerLabel<'_>) {
    head(out, m.name, "counter", m.help);
    for (value, c) in m.values.iter().zip(m.counters) {
        let (name, key, n) = (m.name, m.key, c.load(Ordering::Relaxed));
        let _ = writeln!(out, "{name}{{{label},{key}=\"{value}\"}} {n}");
    }
}

/// The shared result tier's plain counters and gauge: name, type, help, where.
type L2Plain = (
    &'static str,
    &'static str,
    &'static str,
    fn(&L2Figures) -> &AtomicU64,
);

const L2_PLAIN: [L2Plain; 3] = [
    (
        "wirecache_cluster_l2_hits_total",
        "counter",
        "Misses answered from the shared result tier.",
        |f| &f.hits,
    ),
    (
        "wirecache_cluster_l2_writes_total",
        "counter",
        "Results written to the shared result tier.",
        |f| &f.writes,
    ),
    (
        "wirecache_cluster_l2_queued",
        "gauge",
        "Results waiting to be written to the shared result tier.",
        |f| &f.queued,
    ),
];

/// The shared result tier's metrics.
fn render_l2(out: &mut String, label: &str, f: &L2Figures) {
    for (name, kind, help, read) in L2_PLAIN {
        head(out, name, kind, help);
        let _ = writeln!(out, "{name}{{{label}}} {}", read(f).load(Ordering::Relaxed));
    }
    let misses = L2Miss::ALL.map(L2Miss::as_str);
    let drops = L2Drop::ALL.map(L2Drop::as_str);
    let errors = L2Error::ALL.map(L2Error::as_str);
    let labelled = [
        PerLabel {
            name: "wirecache_cluster_l2_misses_total",
            help: "Shared result tier lookups that did not answer, by reason.",
            key: "reason",
            values: &misses,
            counters: &f.misses,
        },
        PerLabel {
            name: "wirecache_cluster_l2_dropped_total",
            help: "Results not written to the shared result tier, by reason.",
            key: "reason",
            values: &drops,
            counters: &f.dropped,
        },
        PerLabel {
            name: "wirecache_cluster_l2_errors_total",
            help: "Redis errors of the shared result tier, by kind.",
            key: "kind",
            values: &errors,
            counters: &f.errors,
        },
    ];
    for m in labelled {
        per_label(out, label, m);
    }
    let name = "wirecache_cluster_l2_lookup_seconds";
    head(
        out,
        name,
        "histogram",
        "Shared result tier lookups that reached Redis: request to answer.",
    );
    super::histogram(out, name, label, &f.lookup);
}

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}
