//! The test TDS origin's own token encoding (written apart from wirecache's scanner,
//! so the two do not share mistakes): the login answer, results as COLMETADATA and
//! ROW/NBCROW tokens (int columns as INTN, everything else as NVARCHAR(MAX) sent in
//! PLP chunks, or as NTEXT to clients older than TDS 7.2), DONE, ERROR and
//! ENVCHANGE, each as wide as the client's TDS version has it.

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::Type;

pub const DONE_MORE: u16 = 0x1;
pub const DONE_ERROR: u16 = 0x2;
pub const DONE_COUNT: u16 = 0x10;
pub const DONE_ATTN: u16 = 0x20;

/// A value of one column of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    /// A DATE: days since 0001-01-01.
    Date(u32),
}

/// What a client's TDS version lets the origin send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// TDS 7.2+: MAX types, eight-byte DONE counts, four-byte user types.
    pub modern: bool,
    /// TDS 7.3+: DATE, TIME, DATETIME2 and DATETIMEOFFSET; older clients are sent
    /// them as NVARCHAR text, as SQL Server does.
    pub dates: bool,
}

/// A column's type as the origin describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Int4,
    Int8,
    /// NVARCHAR(MAX), sent as PLP (TDS 7.2 and later).
    Text,
    /// DATEN (TDS 7.3 and later).
    Date,
    /// What SQL Server sends NVARCHAR(MAX) as to clients older than TDS 7.2, which
    /// know no MAX types: NTEXT (a text pointer, a timestamp, then the data).
    NText,
}

pub fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn b_varchar(out: &mut BytesMut, s: &str) {
    out.put_u8(s.encode_utf16().count() as u8);
    out.put_slice(&utf16(s));
}

fn us_varchar(out: &mut BytesMut, s: &str) {
    out.put_u16_le(s.encode_utf16().count() as u16);
    out.put_slice(&utf16(s));
}

const COLLATION: [u8; 5] = [0x09, 0x04, 0xD0, 0x00, 0x34];

pub fn env_change(out: &mut BytesMut, kind: u8, new: &[u8], old: &[u8], bytes: bool) {
    let mut body = BytesMut::new();
    body.put_u8(kind);
    for v in [new, old] {
        body.put_u8(if bytes { v.len() } else { v.len() / 2 } as u8);
        body.put_slice(v);
    }
    out.put_u8(0xE3);
    out.put_u16_le(body.len() as u16);
    out.put_slice(&body);
}

pub fn env_string(out: &mut BytesMut, kind: u8, new: &str, old: &str) {
    env_change(out, kind, &utf16(new), &utf16(old), false);
}

pub fn login_ack(out: &mut BytesMut, tds_version: u32) {
    let mut body = BytesMut::new();
    body.put_u8(1); // SQL interface
    body.put_u32(tds_version); // big-endian, as sent
    b_varchar(&mut body, "wirecache test origin");
    body.put_slice(&[16, 0, 0, 1]);
    out.put_u8(0xAD);
    out.put_u16_le(body.len() as u16);
    out.put_slice(&body);
}

/// A DONE token; `modern` (TDS 7.2+): an eight-byte row count, else four.
pub fn done(out: &mut BytesMut, modern: bool, token: u8, status: u16, rows: u64) {
    out.put_u8(token);
    out.put_u16_le(status);
    out.put_u16_le(0xC1);
    if modern {
        out.put_u64_le(rows);
    } else {
        out.put_u32_le(rows as u32);
    }
}

/// An ERROR token; `modern` (TDS 7.2+): a four-byte line number, else two.
pub fn error(out: &mut BytesMut, modern: bool, number: i32, class: u8, text: &str) {
    let mut body = BytesMut::new();
    body.put_i32_le(number);
    body.put_u8(1);
    body.put_u8(class);
    us_varchar(&mut body, text);
    b_varchar(&mut body, "testorigin");
    b_varchar(&mut body, "");
    if modern {
        body.put_i32_le(1);
    } else {
        body.put_u16_le(1);
    }
    out.put_u8(0xAA);
    out.put_u16_le(body.len() as u16);
    out.put_slice(&body);
}

/// COLMETADATA; `modern` (TDS 7.2+): four-byte user types, else two.
pub fn col_metadata(out: &mut BytesMut, modern: bool, cols: &[(String, ColType)]) {
    out.put_u8(0x81);
    out.put_u16_le(cols.len() as u16);
    for (name, ty) in cols {
        user_type(out, modern);
        out.put_u16_le(0x0001); // nullable
        match ty {
            ColType::Int4 => out.put_slice(&[0x26, 4]),
            ColType::Int8 => out.put_slice(&[0x26, 8]),
            ColType::Date => out.put_u8(0x28),
            ColType::Text => {
                out.put_u8(0xE7);
                out.put_u16_le(0xFFFF);
                out.put_slice(&COLLATION);
            }
            ColType::NText => {
                out.put_u8(0x63);
                out.put_u32_le(0x7FFF_FFFE);
                out.put_slice(&COLLATION);
                // The table name: one US_VARCHAR before TDS 7.2 (parts after).
                us_varchar(out, "t");
            }
        }
        b_varchar(out, name);
    }
}

/// A user type of 0 (a base type), as wide as TDS `modern` (7.2+) or older has it.
pub fn user_type(out: &mut BytesMut, modern: bool) {
    if modern {
        out.put_u32_le(0);
    } else {
        out.put_u16_le(0);
    }
}

/// A row: NBCROW when it has a NULL, ROW otherwise. Text goes in PLP chunks of at
/// most 1000 bytes, so long values span chunks and packets.
pub fn row(out: &mut BytesMut, types: &[ColType], values: &[Value]) {
    let nulls = values.contains(&Value::Null);
    if nulls {
        out.put_u8(0xD2);
        let mut bitmap = vec![0u8; values.len().div_ceil(8)];
        for (i, v) in values.iter().enumerate() {
            if *v == Value::Null {
                bitmap[i / 8] |= 1 << (i % 8);
            }
        }
        out.put_slice(&bitmap);
    } else {
        out.put_u8(0xD1);
    }
    for (ty, v) in types.iter().zip(values) {
        match (ty, v) {
            (_, Value::Null) => {}
            (ColType::Int4, Value::Int(n)) => {
                out.put_u8(4);
                out.put_i32_le(*n as i32);
            }
            (ColType::Int8, Value::Int(n)) => {
                out.put_u8(8);
                out.put_i64_le(*n);
            }
            (ColType::Date, Value::Date(days)) => {
                out.put_u8(3);
                out.put_slice(&days.to_le_bytes()[..3]);
            }
            (ColType::NText, Value::Text(s)) => {
                let bytes = utf16(s);
                out.put_u8(16);
                out.put_slice(&[0xA5; 16]); // text pointer
                out.put_slice(&[0; 8]); // timestamp
                out.put_u32_le(bytes.len() as u32);
                out.put_slice(&bytes);
            }
            (_, Value::Text(s)) => {
                let bytes = utf16(s);
                out.put_u64_le(bytes.len() as u64);
                for chunk in bytes.chunks(1000) {
                    out.put_u32_le(chunk.len() as u32);
                    out.put_slice(chunk);
                }
                out.put_u32_le(0);
            }
            (t, v) => panic!("test origin: value {v:?} for a {t:?} column"),
        }
    }
}

/// The UTF-16 text of a field of LOGIN7 at offset field `off`.
pub fn login_field(p: &[u8], off: usize) -> Vec<u8> {
    let at = u16::from_le_bytes([p[off], p[off + 1]]) as usize;
    let n = u16::from_le_bytes([p[off + 2], p[off + 3]]) as usize * 2;
    p[at..at + n].to_vec()
}

pub fn from_utf16(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// LOGIN7 passwords are sent with each byte's nibbles swapped and XORed with 0xA5.
pub fn clear_password(b: &[u8]) -> Vec<u8> {
    b.iter().map(|x| (x ^ 0xA5).rotate_left(4)).collect()
}

pub fn col_type(t: &Type, client: Client) -> ColType {
    match *t {
        Type::INT2 | Type::INT4 => ColType::Int4,
        Type::INT8 => ColType::Int8,
        Type::DATE if client.dates => ColType::Date,
        _ if client.modern => ColType::Text,
        _ => ColType::NText,
    }
}

pub fn value(row: &tokio_postgres::Row, i: usize, ty: ColType) -> Value {
    let v = match ty {
        ColType::Int4 => row
            .try_get::<_, Option<i32>>(i)
            .ok()
            .flatten()
            .map(|n| Value::Int(n.into()))
            .or_else(|| {
                row.try_get::<_, Option<i16>>(i)
                    .ok()
                    .flatten()
                    .map(|n| Value::Int(n.into()))
            }),
        ColType::Int8 => row.get::<_, Option<i64>>(i).map(Value::Int),
        ColType::Date => row
            .get::<_, Option<PgDate>>(i)
            .map(|d| Value::Date((d.0 + DAYS_0001_TO_2000) as u32)),
        ColType::Text | ColType::NText => text_of(row, i).map(Value::Text),
    };
    v.unwrap_or(Value::Null)
}

/// A non-integer column as text: text types as they are, others through their
/// PostgreSQL text form is not available on the binary protocol, so only text-like
/// and boolean columns are supported.
fn text_of(row: &tokio_postgres::Row, i: usize) -> Option<String> {
    if let Ok(v) = row.try_get::<_, Option<String>>(i) {
        return v;
    }
    if let Ok(v) = row.try_get::<_, Option<bool>>(i) {
        return v.map(|b| if b { "1" } else { "0" }.to_string());
    }
    if let Ok(v) = row.try_get::<_, Option<PgDate>>(i) {
        return v.map(|d| d.iso());
    }
    panic!("test origin: unsupported column type of column {i}")
}

/// PostgreSQL's DATE epoch (2000-01-01) in days since 0001-01-01, SQL Server's.
const DAYS_0001_TO_2000: i32 = 730_119;

/// A PostgreSQL DATE as it comes on the binary protocol: days since 2000-01-01.
struct PgDate(i32);

impl<'a> tokio_postgres::types::FromSql<'a> for PgDate {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(PgDate(i32::from_be_bytes(raw.try_into()?)))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::DATE
    }
}

impl PgDate {
    /// As `YYYY-MM-DD` (the proleptic Gregorian calendar, from days since 1970).
    fn iso(&self) -> String {
        let z = i64::from(self.0) + 10_957 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!("{year:04}-{month:02}-{day:02}")
    }
}

/// A result set: COLMETADATA for `columns`, a ROW or NBCROW per row, and a DONE-type
/// `token` with the row count (`more`: DONE_MORE if the answer goes on). Dates go as
/// text; [`result_for`] sends them as a client of TDS 7.3+ gets them.
pub fn result(
    out: &mut BytesMut,
    modern: bool,
    token: u8,
    more: u16,
    columns: &[tokio_postgres::Column],
    rows: &[tokio_postgres::Row],
) {
    let client = Client {
        modern,
        dates: false,
    };
    result_for(out, client, token, more, columns, rows);
}

/// [`result`] for `client`.
pub fn result_for(
    out: &mut BytesMut,
    client: Client,
    token: u8,
    more: u16,
    columns: &[tokio_postgres::Column],
    rows: &[tokio_postgres::Row],
) {
    let modern = client.modern;
    let cols: Vec<(String, ColType)> = columns
        .iter()
        .map(|c| (c.name().to_string(), col_type(c.type_(), client)))
        .collect();
    let types: Vec<ColType> = cols.iter().map(|c| c.1).collect();
    col_metadata(out, modern, &cols);
    for r in rows {
        let values: Vec<Value> = (0..types.len()).map(|i| value(r, i, types[i])).collect();
        row(out, &types, &values);
    }
    done(out, modern, token, more | DONE_COUNT, rows.len() as u64);
}
