//! The typed parameter values of the test TDS origin's RPC requests (see
//! `tds_rpc`): each TYPE_INFO and value read with a cursor that fails rather than
//! panics past the request's end, and made a value PostgreSQL binds (a type without
//! a binding here, such as DECIMAL, DATE or UNIQUEIDENTIFIER, as text it casts).

use tokio_postgres::types::{ToSql, Type};

use super::tds_wire as wire;

/// A parameter's value, typed as PostgreSQL will receive it.
#[derive(Debug, Clone)]
pub(super) enum Typed {
    Null(Type),
    I16(i16),
    I32(i32),
    I64(i64),
    Bool(bool),
    F32(f32),
    F64(f64),
    Text(String),
    Bytes(Vec<u8>),
    /// Text PostgreSQL casts to this type (numeric, date, time, timestamp, uuid).
    Cast(String, &'static str),
}

impl Typed {
    pub(super) fn pg(&self) -> (Type, Option<&'static str>) {
        match self {
            Typed::Null(t) => (t.clone(), None),
            Typed::I16(_) => (Type::INT2, None),
            Typed::I32(_) => (Type::INT4, None),
            Typed::I64(_) => (Type::INT8, None),
            Typed::Bool(_) => (Type::BOOL, None),
            Typed::F32(_) => (Type::FLOAT4, None),
            Typed::F64(_) => (Type::FLOAT8, None),
            Typed::Text(_) => (Type::TEXT, None),
            Typed::Bytes(_) => (Type::BYTEA, None),
            Typed::Cast(_, to) => (Type::TEXT, Some(to)),
        }
    }

    pub(super) fn sql(&self) -> Box<dyn ToSql + Sync + Send> {
        match self.clone() {
            Typed::Null(t) if t == Type::INT8 => Box::new(None::<i64>),
            Typed::Null(t) if t == Type::BOOL => Box::new(None::<bool>),
            Typed::Null(t) if t == Type::FLOAT8 => Box::new(None::<f64>),
            Typed::Null(t) if t == Type::BYTEA => Box::new(None::<Vec<u8>>),
            Typed::Null(_) => Box::new(None::<String>),
            Typed::I16(v) => Box::new(v),
            Typed::I32(v) => Box::new(v),
            Typed::I64(v) => Box::new(v),
            Typed::Bool(v) => Box::new(v),
            Typed::F32(v) => Box::new(v),
            Typed::F64(v) => Box::new(v),
            Typed::Text(v) | Typed::Cast(v, _) => Box::new(v),
            Typed::Bytes(v) => Box::new(v),
        }
    }

    pub(super) fn int(&self) -> Option<i32> {
        match self {
            Typed::I32(n) => Some(*n),
            _ => None,
        }
    }

    pub(super) fn text(&self) -> Option<&str> {
        match self {
            Typed::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// A cursor over the request that fails (rather than panics) past its end.
pub(super) struct Cur<'a>(pub(super) &'a [u8]);

pub(super) type R<T> = Result<T, String>;

impl<'a> Cur<'a> {
    pub(super) fn bytes(&mut self, n: usize) -> R<&'a [u8]> {
        if self.0.len() < n {
            return Err("the RPC request ends early".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    pub(super) fn u8(&mut self) -> R<u8> {
        Ok(self.bytes(1)?[0])
    }
    pub(super) fn u16(&mut self) -> R<u16> {
        Ok(u16::from_le_bytes(self.bytes(2)?.try_into().unwrap()))
    }
    pub(super) fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(self.bytes(4)?.try_into().unwrap()))
    }
    pub(super) fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(self.bytes(8)?.try_into().unwrap()))
    }
}

/// One TYPE_INFO and its value.
pub(super) fn typed(c: &mut Cur<'_>) -> R<Typed> {
    let t = c.u8()?;
    match t {
        0x26 | 0x30 | 0x34 | 0x38 | 0x7F => {
            let fixed = match t {
                0x30 => Some(1),
                0x34 => Some(2),
                0x38 => Some(4),
                0x7F => Some(8),
                _ => None,
            };
            let len = match fixed {
                Some(n) => n,
                None => {
                    c.u8()?;
                    c.u8()? as usize
                }
            };
            let b = c.bytes(len)?;
            Ok(match len {
                0 => Typed::Null(Type::INT8),
                1 => Typed::I16(b[0].into()),
                2 => Typed::I16(i16::from_le_bytes(b.try_into().unwrap())),
                4 => Typed::I32(i32::from_le_bytes(b.try_into().unwrap())),
                8 => Typed::I64(i64::from_le_bytes(b.try_into().unwrap())),
                n => return Err(format!("an integer of {n} bytes")),
            })
        }
        0x68 | 0x32 => {
            if t == 0x68 {
                c.u8()?;
            }
            let len = if t == 0x68 { c.u8()? } else { 1 };
            Ok(match len {
                0 => Typed::Null(Type::BOOL),
                _ => Typed::Bool(c.u8()? != 0),
            })
        }
        0x6D => {
            c.u8()?;
            let len = c.u8()? as usize;
            let b = c.bytes(len)?;
            Ok(match len {
                0 => Typed::Null(Type::FLOAT8),
                4 => Typed::F32(f32::from_le_bytes(b.try_into().unwrap())),
                _ => Typed::F64(f64::from_le_bytes(b.try_into().map_err(|_| "float")?)),
            })
        }
        0xE7 | 0xA7 | 0xEF | 0xAF | 0xA5 | 0xAD => {
            let max = c.u16()?;
            let chars = matches!(t, 0xE7 | 0xA7 | 0xEF | 0xAF);
            if chars {
                c.bytes(5)?;
            }
            let data = if max == 0xFFFF { plp(c)? } else { short(c)? };
            Ok(match (data, t) {
                (None, 0xA5 | 0xAD) => Typed::Null(Type::BYTEA),
                (None, _) => Typed::Null(Type::TEXT),
                (Some(d), 0xE7 | 0xEF) => Typed::Text(wire::from_utf16(&d)),
                (Some(d), 0xA7 | 0xAF) => Typed::Text(d.iter().map(|&b| b as char).collect()),
                (Some(d), _) => Typed::Bytes(d),
            })
        }
        // NTEXT, TEXT, IMAGE (what clients older than TDS 7.2 send long values as):
        // a four-byte maximum, a collation for text, then a four-byte length.
        0x63 | 0x23 | 0x22 => {
            c.u32()?;
            if t != 0x22 {
                c.bytes(5)?;
            }
            let n = c.u32()?;
            let data = match n {
                u32::MAX => None,
                n => Some(c.bytes(n as usize)?.to_vec()),
            };
            Ok(match (data, t) {
                (None, 0x22) => Typed::Null(Type::BYTEA),
                (None, _) => Typed::Null(Type::TEXT),
                (Some(d), 0x63) => Typed::Text(wire::from_utf16(&d)),
                (Some(d), 0x23) => Typed::Text(d.iter().map(|&b| b as char).collect()),
                (Some(d), _) => Typed::Bytes(d),
            })
        }
        _ => other(t, c),
    }
}

fn short(c: &mut Cur<'_>) -> R<Option<Vec<u8>>> {
    let n = c.u16()?;
    if n == 0xFFFF {
        return Ok(None);
    }
    Ok(Some(c.bytes(n as usize)?.to_vec()))
}

fn plp(c: &mut Cur<'_>) -> R<Option<Vec<u8>>> {
    if c.u64()? == u64::MAX {
        return Ok(None);
    }
    let mut out = Vec::new();
    loop {
        let n = c.u32()? as usize;
        if n == 0 {
            return Ok(Some(out));
        }
        out.extend_from_slice(c.bytes(n)?);
    }
}

/// DECIMAL/NUMERIC, DATE, TIME, DATETIME2 and UNIQUEIDENTIFIER, as text PostgreSQL
/// casts.
fn other(t: u8, c: &mut Cur<'_>) -> R<Typed> {
    let (cast, scale) = match t {
        0x6A | 0x6C => {
            c.u8()?;
            c.u8()?;
            ("numeric", c.u8()?)
        }
        0x28 => ("date", 0),
        0x29 => ("time", c.u8()?),
        0x2A => ("timestamp", c.u8()?),
        0x24 => {
            c.u8()?;
            ("uuid", 0)
        }
        _ => {
            return Err(format!(
                "parameter type 0x{t:02X} is not run by the test origin"
            ));
        }
    };
    let len = c.u8()? as usize;
    if len == 0 {
        return Ok(Typed::Null(Type::TEXT));
    }
    let b = c.bytes(len)?;
    let text = match t {
        0x6A | 0x6C => decimal(b, scale),
        0x28 => date(b),
        0x29 => time(b, scale),
        0x2A => {
            let (tm, d) = b.split_at(len - 3);
            format!("{} {}", date(d), time(tm, scale))
        }
        _ => {
            let h = |r: std::ops::Range<usize>, rev: bool| {
                let mut v = b[r].to_vec();
                if rev {
                    v.reverse();
                }
                v.iter().map(|x| format!("{x:02x}")).collect::<String>()
            };
            format!(
                "{}-{}-{}-{}-{}",
                h(0..4, true),
                h(4..6, true),
                h(6..8, true),
                h(8..10, false),
                h(10..16, false)
            )
        }
    };
    Ok(Typed::Cast(text, cast))
}

fn le(b: &[u8]) -> u128 {
    b.iter()
        .rev()
        .fold(0u128, |acc, &x| (acc << 8) | u128::from(x))
}

fn decimal(b: &[u8], scale: u8) -> String {
    let digits = format!("{:0>width$}", le(&b[1..]), width = scale as usize + 1);
    let (int, frac) = digits.split_at(digits.len() - scale as usize);
    let sign = if b[0] == 1 { "" } else { "-" };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// Days since 0001-01-01 as a date (the proleptic Gregorian calendar).
fn date(b: &[u8]) -> String {
    // Days from 0000-03-01 (the civil-from-days algorithm's epoch).
    let z = le(b) as i64 + 306;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Units of 10^-scale seconds since midnight.
fn time(b: &[u8], scale: u8) -> String {
    let units = le(b);
    let per = 10u128.pow(u32::from(scale));
    let secs = units / per;
    let frac = units % per;
    let hms = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if scale == 0 {
        hms
    } else {
        format!("{hms}.{frac:0>w$}", w = scale as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_as_text() {
        assert_eq!(date(&[0, 0, 0]), "0001-01-01");
        // 2024-02-29 is day 738944 after 0001-01-01.
        assert_eq!(date(&738_944u32.to_le_bytes()[..3]), "2024-02-29");
        assert_eq!(decimal(&[1, 0x39, 0x30, 0, 0], 2), "123.45");
        assert_eq!(decimal(&[0, 5, 0, 0, 0], 2), "-0.05");
        assert_eq!(time(&[0x10, 0x0E, 0, 0, 0], 3), "00:00:03.600");
    }
}
