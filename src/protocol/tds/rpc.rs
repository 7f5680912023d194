//! The RPC request (MS-TDS 2.2.6.6), decoded without I/O from an assembled message's
//! payload: ALL_HEADERS (the transaction descriptor), the procedure (by ID or by
//! name), the option flags and each parameter as borrowed slices (name, status,
//! TYPE_INFO, value), so a key can be made of their exact bytes. Only the types
//! drivers send with `sp_executesql` and the prepare family are stepped over; any
//! other type, an encrypted parameter or a batch of several RPCs is reported as such
//! (relayed, never cached). Every length is checked against the bytes present before
//! anything is read or allocated.

use super::types::{Reader, Stop};

/// `sp_executesql`, `sp_prepare`, … as procedure IDs (MS-TDS 2.2.6.6).
pub const SP_EXECUTESQL: u16 = 10;
pub const SP_PREPARE: u16 = 11;
pub const SP_EXECUTE: u16 = 12;
pub const SP_PREPEXEC: u16 = 13;
pub const SP_UNPREPARE: u16 = 15;

/// Status flag of a parameter: passed by reference (an OUTPUT parameter).
pub const BY_REF: u8 = 0x01;
/// Status flag of a parameter: encrypted (Always Encrypted; crypto metadata follows).
const ENCRYPTED: u8 = 0x08;
/// TDS 7.2+: another RPC follows (BatchFlag), or one not to execute (NoExecFlag).
const BATCH_FLAG: u8 = 0xFF;
const NO_EXEC_FLAG: u8 = 0xFE;
/// TDS 7.0/7.1: another RPC follows.
const BATCH_FLAG_71: u8 = 0x80;
/// PLP: an eight-byte total meaning NULL, and one meaning "length unknown".
const PLP_NULL: u64 = u64::MAX;
const PLP_UNKNOWN: u64 = u64::MAX - 1;
/// ALL_HEADERS' header type of the transaction descriptor.
const TXN_DESCRIPTOR: u16 = 2;
/// SQL Server takes at most 2100 parameters in a request (and the procedures'
/// own, such as `@stmt`); past this many the request is relayed undecoded, so a
/// request of many tiny parameters costs no more memory than its bytes.
const MAX_PARAMS: usize = 2_110;

/// Which procedure an RPC calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proc<'a> {
    /// A well-known procedure by ID.
    Id(u16),
    /// A procedure by name (UTF-16LE bytes).
    Name(&'a [u8]),
}

/// One parameter's value as it was framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Null,
    /// A value of one piece (its length prefix excluded).
    Bytes(&'a [u8]),
    /// A PLP value's chunks as sent (each after its four-byte length, checked when
    /// decoded), without the total before them and the terminator after them.
    Chunks(&'a [u8]),
}

impl Value<'_> {
    /// The value's bytes joined (a PLP value's chunks copied together).
    pub fn joined(&self) -> Option<Vec<u8>> {
        match self {
            Value::Null => None,
            Value::Bytes(b) => Some(b.to_vec()),
            Value::Chunks(chunks) => {
                let mut c: &[u8] = chunks;
                let mut out = Vec::with_capacity(c.len());
                while let Some((len, rest)) = c.split_first_chunk::<4>() {
                    let n = usize::try_from(u32::from_le_bytes(*len)).unwrap_or(usize::MAX);
                    let (chunk, rest) = rest.split_at_checked(n)?;
                    out.extend_from_slice(chunk);
                    c = rest;
                }
                Some(out)
            }
        }
    }
}

/// One parameter: its parts as slices of the payload, and `raw`, all of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param<'a> {
    /// B_VARCHAR name (UTF-16LE bytes; empty for a positional parameter).
    pub name: &'a [u8],
    pub status: u8,
    /// The type's byte and its TYPE_INFO as sent.
    pub type_info: &'a [u8],
    pub value: Value<'a>,
    pub raw: &'a [u8],
}

impl Param<'_> {
    pub fn type_id(&self) -> u8 {
        self.type_info.first().copied().unwrap_or(0)
    }

    pub fn is_output(&self) -> bool {
        self.status & BY_REF != 0
    }
}

/// A decoded RPC request holding one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rpc<'a> {
    /// The transaction descriptor the client sent in ALL_HEADERS (0: none open).
    pub txn: u64,
    pub proc: Proc<'a>,
    pub options: u16,
    pub params: Vec<Param<'a>>,
}

/// What an RPC payload is, for the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// One call whose every parameter was stepped over.
    One(Rpc<'a>),
    /// Several calls in one request: relayed, never cached.
    Batch,
    /// A parameter this decoder cannot step over (its type, or encryption): relayed.
    Unsupported(&'static str),
}

impl Decoded<'_> {
    pub fn as_str(&self) -> &'static str {
        match self {
            Decoded::One(_) => "one",
            Decoded::Batch => "batch",
            Decoded::Unsupported(_) => "unsupported",
        }
    }
}

/// Why an RPC payload is not TDS: a length past its end, or nonsense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed RPC request from the client: {0}")]
pub struct Malformed(pub &'static str);

fn bad(s: Stop) -> Malformed {
    match s {
        Stop::More => Malformed("a length past the end of the request"),
        Stop::Bad(why) => Malformed(why),
    }
}

/// Decodes an RPC payload; `all_headers`: TDS 7.2 and later (ALL_HEADERS first, and
/// 0xFF/0xFE between batched calls).
pub fn decode(payload: &[u8], all_headers: bool) -> Result<Decoded<'_>, Malformed> {
    let mut r = Reader::new(payload);
    let txn = if all_headers {
        all_headers_txn(&mut r)?
    } else {
        0
    };
    let proc = procedure(&mut r).map_err(bad)?;
    let options = r.u16().map_err(bad)?;
    let mut params = Vec::new();
    while r.rest() > 0 {
        let next = r.bytes.get(r.at).copied().unwrap_or(0);
        let separator = if all_headers {
            next == BATCH_FLAG || next == NO_EXEC_FLAG
        } else {
            next == BATCH_FLAG_71
        };
        if separator {
            return Ok(Decoded::Batch);
        }
        if params.len() == MAX_PARAMS {
            return Ok(Decoded::Unsupported(
                "more parameters than SQL Server takes",
            ));
        }
        match param(&mut r).map_err(bad)? {
            Ok(p) => params.push(p),
            Err(why) => return Ok(Decoded::Unsupported(why)),
        }
    }
    Ok(Decoded::One(Rpc {
        txn,
        proc,
        options,
        params,
    }))
}

/// ALL_HEADERS: its total length counts itself; each header's length too. Returns the
/// transaction descriptor (0 when absent).
fn all_headers_txn(r: &mut Reader<'_>) -> Result<u64, Malformed> {
    let total = usize::try_from(r.u32().map_err(bad)?).map_err(|_| Malformed("overflow"))?;
    let body = total
        .checked_sub(4)
        .ok_or(Malformed("ALL_HEADERS shorter than its length"))?;
    let mut h = Reader::new(r.take(body).map_err(bad)?);
    let mut txn = 0;
    while h.rest() > 0 {
        let len = usize::try_from(h.u32().map_err(bad)?).map_err(|_| Malformed("overflow"))?;
        let inner = len
            .checked_sub(6)
            .ok_or(Malformed("a header shorter than its length"))?;
        let kind = h.u16().map_err(bad)?;
        let data = h.take(inner).map_err(bad)?;
        if kind == TXN_DESCRIPTOR {
            let d = data
                .get(..8)
                .ok_or(Malformed("short transaction descriptor"))?;
            txn = u64::from_le_bytes(d.try_into().unwrap_or_default());
        }
    }
    Ok(txn)
}

fn procedure<'a>(r: &mut Reader<'a>) -> Result<Proc<'a>, Stop> {
    let n = r.u16()?;
    if n == 0xFFFF {
        return Ok(Proc::Id(r.u16()?));
    }
    if n == 0 {
        return Err(Stop::Bad("an empty procedure name"));
    }
    Ok(Proc::Name(r.take(usize::from(n) * 2)?))
}

/// One parameter; `Ok(Err(why))` when its type cannot be stepped over.
fn param<'a>(r: &mut Reader<'a>) -> Result<Result<Param<'a>, &'static str>, Stop> {
    let start = r.at;
    let name = r.b_varchar()?;
    let status = r.u8()?;
    if status & ENCRYPTED != 0 {
        return Ok(Err("an encrypted parameter"));
    }
    let ti_start = r.at;
    let Some(framing) = param_type(r)? else {
        return Ok(Err("a parameter type not decoded"));
    };
    let type_info = r.bytes.get(ti_start..r.at).unwrap_or_default();
    let value = value(r, framing)?;
    let raw = r.bytes.get(start..r.at).unwrap_or_default();
    Ok(Ok(Param {
        name,
        status,
        type_info,
        value,
        raw,
    }))
}

/// How a parameter's value is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Exactly this many bytes.
    Fixed(usize),
    /// A one-byte length (0: NULL).
    Byte,
    /// A two-byte length (0xFFFF: NULL).
    UShort,
    /// A four-byte length (0xFFFFFFFF: NULL): TEXT, NTEXT, IMAGE parameters.
    Long,
    /// An eight-byte total, then chunks: the MAX types.
    Plp,
}

/// Reads a TYPE_INFO of the types drivers send as parameters; `None` for others.
fn param_type(r: &mut Reader<'_>) -> Result<Option<Framing>, Stop> {
    let t = r.u8()?;
    Ok(Some(match t {
        // INT1, BIT, INT2, INT4, FLT4, INT8, FLT8 (fixed length).
        0x30 | 0x32 => Framing::Fixed(1),
        0x34 => Framing::Fixed(2),
        0x38 | 0x3B => Framing::Fixed(4),
        0x7F | 0x3E => Framing::Fixed(8),
        // INTN, BITN, FLTN, MONEYN, DATETIMN, GUID: a maximum length.
        0x26 | 0x68 | 0x6D | 0x6E | 0x6F | 0x24 => {
            max_len(r.u8()?, t)?;
            Framing::Byte
        }
        // DECIMALN, NUMERICN: length, precision, scale.
        0x6A | 0x6C => {
            r.take(3)?;
            Framing::Byte
        }
        0x28 => Framing::Byte,
        // TIMEN, DATETIME2N, DATETIMEOFFSETN: a scale up to 7.
        0x29..=0x2B => {
            if r.u8()? > 7 {
                return Err(Stop::Bad("a time scale over 7"));
            }
            Framing::Byte
        }
        // BIGVARBINARY, BIGBINARY: a maximum length (0xFFFF: MAX, for VARBINARY).
        0xA5 | 0xAD => max_or_plp(r.u16()?, t == 0xA5),
        // BIGVARCHAR, NVARCHAR, BIGCHAR, NCHAR: a maximum length and a collation.
        0xA7 | 0xE7 | 0xAF | 0xEF => {
            let max = r.u16()?;
            r.take(5)?;
            max_or_plp(max, t == 0xA7 || t == 0xE7)
        }
        // TEXT, NTEXT (with a collation), IMAGE: a four-byte maximum length.
        0x23 | 0x63 | 0x22 => {
            r.u32()?;
            if t != 0x22 {
                r.take(5)?;
            }
            Framing::Long
        }
        _ => return Ok(None),
    }))
}

fn max_len(n: u8, t: u8) -> Result<(), Stop> {
    let ok = match t {
        0x26 => matches!(n, 1 | 2 | 4 | 8),
        0x68 => n == 1,
        0x6D | 0x6E => matches!(n, 4 | 8),
        0x6F => matches!(n, 4 | 8),
        _ => n == 16,
    };
    if ok {
        Ok(())
    } else {
        Err(Stop::Bad("a type's length not one it has"))
    }
}

fn max_or_plp(max: u16, may_be_max: bool) -> Framing {
    if max == 0xFFFF && may_be_max {
        Framing::Plp
    } else {
        Framing::UShort
    }
}

fn value<'a>(r: &mut Reader<'a>, f: Framing) -> Result<Value<'a>, Stop> {
    Ok(match f {
        Framing::Fixed(n) => Value::Bytes(r.take(n)?),
        Framing::Byte => match usize::from(r.u8()?) {
            0 => Value::Null,
            n => Value::Bytes(r.take(n)?),
        },
        Framing::UShort => match r.u16()? {
            0xFFFF => Value::Null,
            n => Value::Bytes(r.take(usize::from(n))?),
        },
        Framing::Long => match r.u32()? {
            u32::MAX => Value::Null,
            n => Value::Bytes(r.take(usize::try_from(n).map_err(|_| Stop::Bad("overflow"))?)?),
        },
        Framing::Plp => plp(r)?,
    })
}

/// A PLP value: the total (checked against the bytes present unless "unknown"),
/// then chunks up to a zero-length terminator.
fn plp<'a>(r: &mut Reader<'a>) -> Result<Value<'a>, Stop> {
    let total = r.u64()?;
    if total == PLP_NULL {
        return Ok(Value::Null);
    }
    if total != PLP_UNKNOWN && total > r.rest() as u64 {
        return Err(Stop::More);
    }
    let start = r.at;
    let mut sum: u64 = 0;
    let end = loop {
        let at = r.at;
        let n = r.u32()?;
        if n == 0 {
            break at;
        }
        r.take(usize::try_from(n).map_err(|_| Stop::Bad("overflow"))?)?;
        sum += u64::from(n);
    };
    if total != PLP_UNKNOWN && sum != total {
        return Err(Stop::Bad("PLP chunks differ from their total"));
    }
    Ok(Value::Chunks(r.bytes.get(start..end).unwrap_or_default()))
}
