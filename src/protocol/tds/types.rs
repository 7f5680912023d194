//! Data types in a token stream (MS-TDS 2.2.5.4): how a column's TYPE_INFO is laid
//! out, and from it how each of its values is framed, so rows can be stepped over
//! without decoding a single value. Also the small reader the token scanner uses.

/// Why a parse stopped: the bytes so far end early, or they are not TDS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    More,
    Bad(&'static str),
}

/// A cursor over bytes that answers `Stop::More` past their end.
pub struct Reader<'a> {
    pub bytes: &'a [u8],
    pub at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Stop> {
        let end = self.at.checked_add(n).ok_or(Stop::Bad("length overflow"))?;
        let s = self.bytes.get(self.at..end).ok_or(Stop::More)?;
        self.at = end;
        Ok(s)
    }

    pub fn u8(&mut self) -> Result<u8, Stop> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }

    pub fn u16(&mut self) -> Result<u16, Stop> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes(b.try_into().unwrap_or_default()))
    }

    pub fn u32(&mut self) -> Result<u32, Stop> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes(b.try_into().unwrap_or_default()))
    }

    pub fn u64(&mut self) -> Result<u64, Stop> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().unwrap_or_default()))
    }

    /// A B_VARCHAR (one-byte count of UTF-16 units) as bytes.
    pub fn b_varchar(&mut self) -> Result<&'a [u8], Stop> {
        let n = usize::from(self.u8()?);
        self.take(n * 2)
    }

    /// A US_VARCHAR (two-byte count of UTF-16 units) as bytes.
    pub fn us_varchar(&mut self) -> Result<&'a [u8], Stop> {
        let n = usize::from(self.u16()?);
        self.take(n * 2)
    }

    pub fn rest(&self) -> usize {
        self.bytes.len().saturating_sub(self.at)
    }
}

/// How one value of a column is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many bytes (fixed-length types; never NULL).
    Fixed(usize),
    /// A one-byte length, then that many bytes (0: NULL for most types).
    Byte,
    /// A two-byte length, then that many bytes (0xFFFF: NULL).
    UShort,
    /// A four-byte length, then that many bytes (sql_variant).
    Long,
    /// Partially length-prefixed: an eight-byte total, then chunks (MAX types, XML, UDT).
    Plp,
    /// TEXT, NTEXT, IMAGE: a text pointer (its length 0: NULL), a timestamp, a
    /// four-byte length, then the data.
    Text,
}

const COLLATION: usize = 5;

/// What follows a TEXT/NTEXT/IMAGE TYPE_INFO: nothing (RETURNVALUE), or in
/// COLMETADATA the table name, in parts (TDS 7.2+) or as one US_VARCHAR (7.0/7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableName {
    Absent,
    Parts,
    Single,
}

impl TableName {
    /// The table name of COLMETADATA for a client of TDS 7.0/7.1 when `narrow`.
    pub fn in_metadata(narrow: bool) -> Self {
        if narrow {
            TableName::Single
        } else {
            TableName::Parts
        }
    }
}

/// The user type of a column in COLMETADATA or RETURNVALUE: four bytes from TDS 7.2,
/// two before (`narrow`).
pub fn user_type(r: &mut Reader<'_>, narrow: bool) -> Result<(), Stop> {
    r.take(if narrow { 2 } else { 4 }).map(|_| ())
}

/// Reads one TYPE_INFO (and, for TEXT/NTEXT/IMAGE, the `table_name` that follows it),
/// and answers how the column's values are framed.
pub fn type_info(r: &mut Reader<'_>, table_name: TableName) -> Result<Framing, Stop> {
    let t = r.u8()?;
    Ok(match t {
        0x1F => Framing::Fixed(0),
        0x30 | 0x32 => Framing::Fixed(1),
        0x34 => Framing::Fixed(2),
        0x38 | 0x3A | 0x3B | 0x7A => Framing::Fixed(4),
        0x3C | 0x3D | 0x3E | 0x7F => Framing::Fixed(8),
        // GUID, INTN, BITN, FLTN, MONEYN, DATETIMN, legacy CHAR/VARCHAR/BINARY/VARBINARY.
        0x24 | 0x26 | 0x68 | 0x6D | 0x6E | 0x6F | 0x2F | 0x27 | 0x2D | 0x25 => {
            r.u8()?;
            Framing::Byte
        }
        // DECIMAL, NUMERIC (legacy and N): length, precision, scale.
        0x37 | 0x3F | 0x6A | 0x6C => {
            r.take(3)?;
            Framing::Byte
        }
        0x28 => Framing::Byte,
        // TIMEN, DATETIME2N, DATETIMEOFFSETN: scale.
        0x29..=0x2B => {
            r.u8()?;
            Framing::Byte
        }
        0xA5 | 0xAD => ushort_len(r, false, t == 0xA5)?,
        0xA7 | 0xE7 => ushort_len(r, true, true)?,
        0xAF | 0xEF => ushort_len(r, true, false)?,
        0x23 | 0x63 | 0x22 => text_info(r, t, table_name)?,
        0xF1 => {
            if r.u8()? != 0 {
                r.b_varchar()?;
                r.b_varchar()?;
                r.us_varchar()?;
            }
            Framing::Plp
        }
        0xF0 => {
            r.u16()?;
            r.b_varchar()?;
            r.b_varchar()?;
            r.b_varchar()?;
            r.us_varchar()?;
            Framing::Plp
        }
        0x62 => {
            r.u32()?;
            Framing::Long
        }
        _ => return Err(Stop::Bad("unknown data type")),
    })
}

/// TEXT, NTEXT, IMAGE (type `t`, already read): a four-byte maximum, a collation for
/// text, then `table_name`.
fn text_info(r: &mut Reader<'_>, t: u8, table_name: TableName) -> Result<Framing, Stop> {
    r.u32()?;
    if t != 0x22 {
        r.take(COLLATION)?;
    }
    match table_name {
        TableName::Absent => {}
        TableName::Single => {
            r.us_varchar()?;
        }
        TableName::Parts => {
            let parts = r.u8()?;
            for _ in 0..parts {
                r.us_varchar()?;
            }
        }
    }
    Ok(Framing::Text)
}

/// The USHORTLEN types: a two-byte maximum length (0xFFFF: a MAX type, sent as PLP
/// where `may_be_max`), then a collation for character types.
fn ushort_len(r: &mut Reader<'_>, collation: bool, may_be_max: bool) -> Result<Framing, Stop> {
    let max = r.u16()?;
    if collation {
        r.take(COLLATION)?;
    }
    Ok(if max == 0xFFFF && may_be_max {
        Framing::Plp
    } else {
        Framing::UShort
    })
}

/// The head of one value: how many data bytes follow it (`None`: it is NULL or, for
/// PLP, its chunks follow).
pub fn value_head(r: &mut Reader<'_>, f: Framing) -> Result<Option<usize>, Stop> {
    Ok(match f {
        Framing::Fixed(n) => Some(n),
        Framing::Byte => Some(usize::from(r.u8()?)),
        Framing::UShort => match r.u16()? {
            0xFFFF => None,
            n => Some(usize::from(n)),
        },
        Framing::Long => Some(len32(r.u32()?)?),
        Framing::Plp => {
            r.u64()?;
            None
        }
        Framing::Text => match r.u8()? {
            0 => None,
            n => {
                r.take(usize::from(n) + 8)?;
                Some(len32(r.u32()?)?)
            }
        },
    })
}

fn len32(n: u32) -> Result<usize, Stop> {
    usize::try_from(n).map_err(|_| Stop::Bad("length overflow"))
}

/// UTF-16LE bytes as text (unpaired surrogates become U+FFFD).
pub fn utf16(bytes: &[u8]) -> String {
    let units = bytes.chunks_exact(2).map(|c| {
        u16::from_le_bytes([
            c.first().copied().unwrap_or(0),
            c.get(1).copied().unwrap_or(0),
        ])
    });
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// UTF-16LE bytes of `text`.
pub fn to_utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// PLP_NULL: an eight-byte total length meaning NULL (no chunks follow).
pub const PLP_NULL: u64 = u64::MAX;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_infos() {
        let cases: &[(&[u8], Framing, usize)] = &[
            (&[0x38], Framing::Fixed(4), 1),
            (&[0x26, 4], Framing::Byte, 2),
            (&[0x6C, 17, 38, 2], Framing::Byte, 4),
            (&[0xE7, 0x40, 0, 9, 4, 0xD0, 0, 0x34], Framing::UShort, 8),
            (&[0xE7, 0xFF, 0xFF, 9, 4, 0xD0, 0, 0x34], Framing::Plp, 8),
            (&[0xAD, 0xFF, 0xFF], Framing::UShort, 3),
            (&[0x29, 7], Framing::Byte, 2),
            (&[0x62, 0x10, 0, 0, 0], Framing::Long, 5),
            (&[0x22, 1, 0, 0, 0, 1, 1, 0, b'a', 0], Framing::Text, 10),
        ];
        for (bytes, f, used) in cases {
            let mut r = Reader::new(bytes);
            assert_eq!(type_info(&mut r, TableName::Parts), Ok(*f), "{bytes:?}");
            assert_eq!(r.at, *used);
            for cut in 0..*used {
                let mut r = Reader::new(&bytes[..cut]);
                assert_eq!(type_info(&mut r, TableName::Parts), Err(Stop::More));
            }
        }
        assert!(matches!(
            type_info(&mut Reader::new(&[0x99]), TableName::Absent),
            Err(Stop::Bad(_))
        ));
    }

    #[test]
    fn ntext_table_name_by_version() {
        // NTEXT, its length and collation, then the table name "t".
        let head: &[u8] = &[0x63, 0, 0, 0, 0x40, 9, 4, 0xD0, 0, 0x34];
        let parts = [head, &[1, 1, 0, b't', 0]].concat();
        let single = [head, &[1, 0, b't', 0]].concat();
        for (bytes, names) in [(&parts, TableName::Parts), (&single, TableName::Single)] {
            let mut r = Reader::new(bytes);
            assert_eq!(type_info(&mut r, names), Ok(Framing::Text));
            assert_eq!(r.at, bytes.len(), "{names:?}");
        }
        let mut r = Reader::new(head);
        assert_eq!(type_info(&mut r, TableName::Absent), Ok(Framing::Text));
        assert_eq!(r.at, head.len());
    }
}
