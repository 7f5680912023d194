//! Queries of wirecache's own on a session's origin connection (the catalog round of
//! `session::catalog`): sent as a SQLBatch while nothing else is in flight and no
//! transaction is open, their answer read whole and decoded into text rows. Only the
//! types catalog queries return are decoded (integers and character strings); any
//! other, or an error, makes the answer `None`.

use bytes::BytesMut;

use super::codec::{self, Assembler, Kind};
use super::session::Session;
use super::types::{
    Framing, PLP_NULL, Reader, Stop, TableName, to_utf16, type_info, user_type, utf16,
};
use crate::engine::catalog::Row;
use crate::protocol::{SessionError, Side};

/// The largest answer to a query of wirecache's own.
const MAX_ANSWER: usize = 16 << 20;

/// ALL_HEADERS with a transaction descriptor of 0 (no transaction open) and one
/// outstanding request.
fn all_headers(out: &mut Vec<u8>) {
    out.extend_from_slice(&22u32.to_le_bytes());
    out.extend_from_slice(&18u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
}

impl Session {
    /// Runs `sql` on the origin and returns its results' rows; `None` if it failed.
    pub async fn own_query(&mut self, sql: &str) -> Result<Option<Vec<Vec<Row>>>, SessionError> {
        let mut payload = Vec::with_capacity(22 + sql.len() * 2);
        if self.all_headers {
            all_headers(&mut payload);
        }
        payload.extend_from_slice(&to_utf16(sql));
        let wire = codec::message(Kind::SqlBatch, &payload, self.packet_size);
        self.core.io().send_to_origin(&wire).await?;
        let mut asm = Assembler::new(Side::Origin, MAX_ANSWER);
        // Bounded by `query_timeout` in `session::catalog::query`.
        let answer = loop {
            if let Some(m) = asm.next(&mut self.core.io().origin.inbox)? {
                break m;
            }
            self.core.io().read_origin().await?;
        };
        let narrow = self.tds_version < super::login::TDS_72;
        Ok(decode(&answer.payload, narrow).ok())
    }
}

/// How a column's values become text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Text {
    Int,
    Utf16,
    Bytes,
}

/// The rows of each result of a token stream (`narrow`: TDS 7.0/7.1 DONE tokens).
fn decode(payload: &[u8], narrow: bool) -> Result<Vec<Vec<Row>>, Stop> {
    let mut r = Reader::new(payload);
    let mut results: Vec<Vec<Row>> = Vec::new();
    let mut cols: Vec<(Framing, Text)> = Vec::new();
    while r.rest() > 0 {
        match r.u8()? {
            0x81 => {
                cols = columns(&mut r, narrow)?;
                results.push(Vec::new());
            }
            t @ (0xD1 | 0xD2) => {
                let row = row(&mut r, &cols, t == 0xD2)?;
                results
                    .last_mut()
                    .ok_or(Stop::Bad("row before metadata"))?
                    .push(row);
            }
            0xFD..=0xFF => {
                r.take(if narrow { 8 } else { 12 })?;
            }
            0xE3 | 0xAB | 0xA9 => {
                let n = usize::from(r.u16()?);
                r.take(n)?;
            }
            0x79 => {
                r.u32()?;
            }
            _ => return Err(Stop::Bad("unexpected token in a catalog answer")),
        }
    }
    Ok(results)
}

fn columns(r: &mut Reader<'_>, narrow: bool) -> Result<Vec<(Framing, Text)>, Stop> {
    let n = r.u16()?;
    let mut cols = Vec::new();
    for _ in 0..n.min(1024) {
        user_type(r, narrow)?;
        r.u16()?;
        let ty = r.bytes.get(r.at).copied().ok_or(Stop::More)?;
        let text = match ty {
            0x26 | 0x30 | 0x34 | 0x38 | 0x7F => Text::Int,
            // NTEXT and TEXT: what SQL Server sends NVARCHAR(MAX) and VARCHAR(MAX)
            // columns (`sys.sql_modules.definition`) as to clients older than TDS 7.2.
            0xE7 | 0xEF | 0x63 => Text::Utf16,
            0xA7 | 0xAF | 0x23 => Text::Bytes,
            _ => return Err(Stop::Bad("a catalog answer of an unexpected type")),
        };
        cols.push((type_info(r, TableName::in_metadata(narrow))?, text));
        r.b_varchar()?;
    }
    Ok(cols)
}

fn row(r: &mut Reader<'_>, cols: &[(Framing, Text)], nbc: bool) -> Result<Row, Stop> {
    let bitmap = if nbc {
        r.take(cols.len().div_ceil(8))?.to_vec()
    } else {
        Vec::new()
    };
    let mut out = Vec::with_capacity(cols.len());
    for (i, (framing, text)) in cols.iter().enumerate() {
        let null = bitmap.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0);
        out.push(if null {
            None
        } else {
            value(r, *framing, *text)?
        });
    }
    Ok(out)
}

fn value(r: &mut Reader<'_>, framing: Framing, text: Text) -> Result<Option<String>, Stop> {
    let bytes = match framing {
        Framing::Fixed(n) => r.take(n)?.to_vec(),
        Framing::Byte => {
            let n = usize::from(r.u8()?);
            if n == 0 {
                return Ok(None);
            }
            r.take(n)?.to_vec()
        }
        Framing::UShort => match r.u16()? {
            0xFFFF => return Ok(None),
            n => r.take(usize::from(n))?.to_vec(),
        },
        Framing::Plp => {
            if r.u64()? == PLP_NULL {
                return Ok(None);
            }
            let mut all = BytesMut::new();
            loop {
                let n = usize::try_from(r.u32()?).map_err(|_| Stop::Bad("length overflow"))?;
                if n == 0 {
                    break all.to_vec();
                }
                all.extend_from_slice(r.take(n)?);
            }
        }
        Framing::Text => match r.u8()? {
            0 => return Ok(None),
            pointer => {
                r.take(usize::from(pointer) + 8)?;
                let n = usize::try_from(r.u32()?).map_err(|_| Stop::Bad("length overflow"))?;
                r.take(n)?.to_vec()
            }
        },
        Framing::Long => return Err(Stop::Bad("unexpected framing")),
    };
    Ok(Some(match text {
        Text::Int => {
            let mut le = [0u8; 8];
            let fill = if bytes.last().is_some_and(|b| b & 0x80 != 0) {
                0xFF
            } else {
                0
            };
            le.fill(fill);
            for (d, s) in le.iter_mut().zip(&bytes) {
                *d = *s;
            }
            i64::from_le_bytes(le).to_string()
        }
        Text::Utf16 => utf16(&bytes),
        Text::Bytes => String::from_utf8_lossy(&bytes).into_owned(),
    }))
}
