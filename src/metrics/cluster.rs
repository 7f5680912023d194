//! The cluster bus's part of `/metrics`: its state, the cross-instance invalidation
//! delay, and its counters.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cluster::{BusState, Cluster, Figures, Resync};

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
}

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}
