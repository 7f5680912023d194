//! One cache's origin health as `/readyz` and `/api/caches` tell it: up, or down since when
//! (UTC, and for how long) and the kind of the last failure; never an address, user or
//! error text.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::stats::HealthView;

/// `cache ID: origin up` or `cache ID: origin down since … (… s, refused)`, with its
/// newline; a recovered origin names its last fault.
pub fn line(id: &str, view: HealthView) -> String {
    let fault = view.last_fault.map_or("none", |f| f.as_str());
    match view.down_since {
        None if view.last_fault.is_none() => format!("cache {id}: origin up\n"),
        None => format!("cache {id}: origin up (last failure: {fault})\n"),
        Some(since) => {
            let for_s = SystemTime::now()
                .duration_since(since)
                .unwrap_or(Duration::ZERO)
                .as_secs();
            let at = utc(since);
            format!("cache {id}: origin down since {at} ({for_s} s, {fault})\n")
        }
    }
}

/// `{"up": …, "down_since": "…Z" | null, "last_fault": "…" | null}` for the API.
pub fn json(view: HealthView) -> serde_json::Value {
    serde_json::json!({
        "up": view.down_since.is_none(),
        "down_since": view.down_since.map(utc),
        "last_fault": view.last_fault.map(|f| f.as_str()),
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, proleptic Gregorian).
fn utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::OriginFault;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_796_041_157);
        assert_eq!(utc(t), "2026-11-30T12:19:17Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(utc(leap), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn lines() {
        let up = HealthView {
            down_since: None,
            last_fault: None,
        };
        assert_eq!(line("demo", up), "cache demo: origin up\n");
        let down = HealthView {
            down_since: Some(SystemTime::now()),
            last_fault: Some(OriginFault::Refused),
        };
        let l = line("demo", down);
        assert!(l.starts_with("cache demo: origin down since 20"), "{l}");
        assert!(l.ends_with("(0 s, refused)\n"), "{l}");
    }
}
