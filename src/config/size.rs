//! Human-readable byte sizes ("512MiB", "100MB", "4096") and durations
//! ("30s", "500ms", "1.5s"): parsing with exact decimal arithmetic, and printing
//! back in the largest unit that represents the value exactly.

use std::time::Duration;

/// Why a size or duration string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty value")]
    Empty,
    #[error("expected a number followed by a unit")]
    NoNumber,
    #[error("missing unit (expected {0})")]
    MissingUnit(&'static str),
    #[error("unknown unit {unit:?} (expected {expected})")]
    UnknownUnit {
        unit: String,
        expected: &'static str,
    },
    #[error("too large")]
    Overflow,
    #[error("not a whole number of {0}")]
    NotWhole(&'static str),
    #[error("too many decimal places")]
    TooPrecise,
}

/// Size units, matched ignoring ASCII case. The empty unit means bytes.
const SIZE_UNITS: &[(&str, u128)] = &[
    ("", 1),
    ("B", 1),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];
const SIZE_EXPECTED: &str = "B, KB, MB, GB, TB, KiB, MiB, GiB or TiB";

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Duration units in nanoseconds, matched ignoring ASCII case.
const DURATION_UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("h", 3_600 * NANOS_PER_SEC),
    ("d", 86_400 * NANOS_PER_SEC),
];
const DURATION_EXPECTED: &str = "ns, us, ms, s, m, h or d";

/// Most significant fractional digits accepted; keeps the arithmetic in `u128`.
const MAX_FRACTION_DIGITS: usize = 20;

/// Parses a byte size: a decimal number and an optional unit (bytes when absent).
pub fn parse_size(s: &str) -> Result<u64, ParseError> {
    let (number, unit) = split(s)?;
    let scale = lookup(SIZE_UNITS, unit).ok_or_else(|| ParseError::UnknownUnit {
        unit: unit.to_owned(),
        expected: SIZE_EXPECTED,
    })?;
    let bytes = number.times(scale, "bytes")?;
    u64::try_from(bytes).map_err(|_| ParseError::Overflow)
}

/// Parses a duration: a decimal number and a unit, which is required.
pub fn parse_duration(s: &str) -> Result<Duration, ParseError> {
    let (number, unit) = split(s)?;
    if unit.is_empty() {
        return Err(ParseError::MissingUnit(DURATION_EXPECTED));
    }
    let scale = lookup(DURATION_UNITS, unit).ok_or_else(|| ParseError::UnknownUnit {
        unit: unit.to_owned(),
        expected: DURATION_EXPECTED,
    })?;
    let nanos = number.times(scale, "nanoseconds")?;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| ParseError::Overflow)?;
    let subsec = u32::try_from(nanos % NANOS_PER_SEC).map_err(|_| ParseError::Overflow)?;
    Ok(Duration::new(secs, subsec))
}

/// Prints a size in the largest binary, then decimal, unit that is exact.
pub fn format_size(bytes: u64) -> String {
    in_largest_unit(bytes.into(), SIZE_UNITS.iter().rev(), "B")
}

/// Prints a duration in the largest unit that is exact, from hours down to nanoseconds.
pub fn format_duration(d: Duration) -> String {
    let units = DURATION_UNITS
        .iter()
        .rev()
        .filter(|(unit, _)| !matches!(*unit, "d" | "µs"));
    in_largest_unit(d.as_nanos(), units, "s")
}

/// `n` in the first of `units` that divides it; zero in `zero_unit`.
fn in_largest_unit<'a>(
    n: u128,
    units: impl IntoIterator<Item = &'a (&'a str, u128)>,
    zero_unit: &str,
) -> String {
    match units
        .into_iter()
        .find(|(_, scale)| n != 0 && n.is_multiple_of(*scale))
    {
        Some((unit, scale)) => format!("{}{unit}", n / scale),
        None => format!("{n}{zero_unit}"),
    }
}

/// A non-negative decimal number as written: digits before and after the point.
struct Decimal<'a> {
    whole: &'a str,
    fraction: &'a str,
}

impl Decimal<'_> {
    /// `self * scale`, which must be a whole number.
    fn times(&self, scale: u128, unit_name: &'static str) -> Result<u128, ParseError> {
        let whole: u128 = self.whole.parse().map_err(|_| ParseError::Overflow)?;
        let whole = whole.checked_mul(scale).ok_or(ParseError::Overflow)?;
        let fraction = self.fraction.trim_end_matches('0');
        if fraction.is_empty() {
            return Ok(whole);
        }
        if fraction.len() > MAX_FRACTION_DIGITS {
            return Err(ParseError::TooPrecise);
        }
        let digits: u128 = fraction.parse().map_err(|_| ParseError::NoNumber)?;
        let denominator = 10u128.pow(fraction.len() as u32);
        let scaled = digits.checked_mul(scale).ok_or(ParseError::Overflow)?;
        if !scaled.is_multiple_of(denominator) {
            return Err(ParseError::NotWhole(unit_name));
        }
        whole
            .checked_add(scaled / denominator)
            .ok_or(ParseError::Overflow)
    }
}

/// Splits "1.5 GiB" into the number and the unit ("GiB"); whitespace around either is allowed.
fn split(s: &str) -> Result<(Decimal<'_>, &str), ParseError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(ParseError::Empty);
    }
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_only = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    let has_point = number.contains('.');
    if whole.is_empty() || !digits_only(fraction) || (has_point && fraction.is_empty()) {
        return Err(ParseError::NoNumber);
    }
    Ok((Decimal { whole, fraction }, unit.trim_start()))
}

fn lookup(units: &[(&str, u128)], unit: &str) -> Option<u128> {
    units
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(unit))
        .map(|&(_, scale)| scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let cases: &[(&str, Result<u64, ParseError>)] = &[
            ("512MiB", Ok(512 << 20)),
            ("4MiB", Ok(4 << 20)),
            ("64KiB", Ok(64 << 10)),
            ("1GiB", Ok(1 << 30)),
            ("2TiB", Ok(2 << 40)),
            ("100MB", Ok(100_000_000)),
            ("1KB", Ok(1_000)),
            ("3GB", Ok(3_000_000_000)),
            ("4096", Ok(4096)),
            ("0", Ok(0)),
            ("12B", Ok(12)),
            ("512mib", Ok(512 << 20)),
            (" 512 MiB ", Ok(512 << 20)),
            ("1.5GiB", Ok(3 << 29)),
            ("0.5KiB", Ok(512)),
            ("1.25KB", Ok(1_250)),
            ("1.000", Ok(1)),
            ("", Err(ParseError::Empty)),
            ("   ", Err(ParseError::Empty)),
            ("MiB", Err(ParseError::NoNumber)),
            ("-1MiB", Err(ParseError::NoNumber)),
            (".5MiB", Err(ParseError::NoNumber)),
            ("5.MiB", Err(ParseError::NoNumber)),
            ("1.2.3MiB", Err(ParseError::NoNumber)),
            ("1.5B", Err(ParseError::NotWhole("bytes"))),
            ("1.0001KB", Err(ParseError::NotWhole("bytes"))),
            ("0.0000000000000000000001GiB", Err(ParseError::TooPrecise)),
            ("16EiB", Err(unknown_size("EiB"))),
            ("12 XB", Err(unknown_size("XB"))),
            ("18446744073709551615", Ok(u64::MAX)),
            ("18446744073709551616", Err(ParseError::Overflow)),
            (
                "99999999999999999999999999999999999999999",
                Err(ParseError::Overflow),
            ),
            ("20000000TiB", Err(ParseError::Overflow)),
        ];
        for (input, expected) in cases {
            assert_eq!(&parse_size(input), expected, "parse_size({input:?})");
        }
    }

    fn unknown_size(unit: &str) -> ParseError {
        ParseError::UnknownUnit {
            unit: unit.to_owned(),
            expected: SIZE_EXPECTED,
        }
    }

    #[test]
    fn durations() {
        let ms = Duration::from_millis;
        let cases: &[(&str, Result<Duration, ParseError>)] = &[
            ("30s", Ok(ms(30_000))),
            ("500ms", Ok(ms(500))),
            ("2m", Ok(ms(120_000))),
            ("1h", Ok(ms(3_600_000))),
            ("1d", Ok(ms(86_400_000))),
            ("1.5s", Ok(ms(1_500))),
            ("0.25m", Ok(ms(15_000))),
            ("250us", Ok(Duration::from_micros(250))),
            ("250µs", Ok(Duration::from_micros(250))),
            ("7ns", Ok(Duration::from_nanos(7))),
            ("0s", Ok(Duration::ZERO)),
            ("10 S", Ok(ms(10_000))),
            ("1.5ns", Err(ParseError::NotWhole("nanoseconds"))),
            ("30", Err(ParseError::MissingUnit(DURATION_EXPECTED))),
            ("", Err(ParseError::Empty)),
            ("s", Err(ParseError::NoNumber)),
            ("-1s", Err(ParseError::NoNumber)),
            ("1w", Err(unknown_duration("w"))),
            ("1h30m", Err(unknown_duration("h30m"))),
            ("99999999999999999999999h", Err(ParseError::Overflow)),
        ];
        for (input, expected) in cases {
            assert_eq!(
                &parse_duration(input),
                expected,
                "parse_duration({input:?})"
            );
        }
    }

    fn unknown_duration(unit: &str) -> ParseError {
        ParseError::UnknownUnit {
            unit: unit.to_owned(),
            expected: DURATION_EXPECTED,
        }
    }

    #[test]
    fn formatting() {
        let sizes: &[(u64, &str)] = &[
            (0, "0B"),
            (1, "1B"),
            (512 << 20, "512MiB"),
            (4 << 20, "4MiB"),
            (1 << 30, "1GiB"),
            (1536, "1536B"),
            (100_000_000, "100MB"),
            (1_000, "1KB"),
            (1_024_000, "1000KiB"),
        ];
        for &(bytes, text) in sizes {
            assert_eq!(format_size(bytes), text);
            assert_eq!(parse_size(text), Ok(bytes), "round trip of {text}");
        }
        let durations: &[(Duration, &str)] = &[
            (Duration::ZERO, "0s"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(120), "2m"),
            (Duration::from_secs(7_200), "2h"),
            (Duration::from_millis(1_500), "1500ms"),
            (Duration::from_micros(3), "3us"),
            (Duration::from_nanos(1_000_001), "1000001ns"),
        ];
        for &(d, text) in durations {
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text), Ok(d), "round trip of {text}");
        }
    }
}
