//! The shared result tier's value format (sans-I/O): what one entry looks like in
//! Redis, written by [`encode`] and read back by [`decode`], which treats its input as
//! hostile (Redis may hold anything: a corrupt value, another version's, another
//! program's).
//!
//! Layout, little-endian, version 1:
//!
//! ```text
//! "wcL2" | version u8 | key_len u32 | key | epoch_len u16 | epoch
//!        | n_fields u16 | n × (name_len u16 | name | value i64)
//!        | payload_len u32 | payload | xxh3-64 of everything before, u64
//! ```
//!
//! `key` is the full portable key (the Redis key is only its digest), `epoch` and the
//! fields are the shared generations the result was read at, `payload` the origin's
//! bytes as the local cache stores them.

use xxhash_rust::xxh3::xxh3_64;

const MAGIC: &[u8; 4] = b"wcL2";
/// The layout written here; anything else is another version's.
pub const VERSION: u8 = 1;
/// Most generation fields an entry may carry (tables it read, plus two).
pub const MAX_FIELDS: usize = 1024;
/// Longest field name (`t:` and a table name).
const MAX_FIELD_NAME: usize = 512;
/// Longest epoch text.
const MAX_EPOCH: usize = 256;

/// Why a value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Corrupt {
    #[error("not a wirecache entry")]
    Magic,
    #[error("written by another version ({0})")]
    Version(u8),
    #[error("cut short")]
    Truncated,
    #[error("a declared length is out of bounds")]
    Bounds,
    #[error("a name is not UTF-8")]
    Utf8,
    #[error("bytes after the end")]
    Trailing,
    #[error("checksum mismatch")]
    Checksum,
}

/// One entry as read: slices of the value, nothing copied but the field list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub key: &'a [u8],
    pub epoch: &'a str,
    pub fields: Vec<(&'a str, i64)>,
    pub payload: &'a [u8],
}

/// What an entry is stored with: the shared generations read before its origin query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub epoch: std::sync::Arc<str>,
    pub fields: Vec<(String, i64)>,
}

/// The encoded length of an entry (to check the size bound before encoding).
pub fn encoded_len(key: &[u8], stamp: &Stamp, payload: &[u8]) -> usize {
    let fields: usize = stamp.fields.iter().map(|(n, _)| 2 + n.len() + 8).sum();
    4 + 1 + 4 + key.len() + 2 + stamp.epoch.len() + 2 + fields + 4 + payload.len() + 8
}

/// Encodes an entry; `None` if a part exceeds what the layout can carry.
pub fn encode(key: &[u8], stamp: &Stamp, payload: &[u8]) -> Option<Vec<u8>> {
    if stamp.fields.len() > MAX_FIELDS || stamp.epoch.len() > MAX_EPOCH {
        return None;
    }
    let mut out = Vec::with_capacity(encoded_len(key, stamp, payload));
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&u32::try_from(key.len()).ok()?.to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&u16::try_from(stamp.epoch.len()).ok()?.to_le_bytes());
    out.extend_from_slice(stamp.epoch.as_bytes());
    out.extend_from_slice(&u16::try_from(stamp.fields.len()).ok()?.to_le_bytes());
    for (name, value) in &stamp.fields {
        if name.len() > MAX_FIELD_NAME {
            return None;
        }
        out.extend_from_slice(&u16::try_from(name.len()).ok()?.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&u32::try_from(payload.len()).ok()?.to_le_bytes());
    out.extend_from_slice(payload);
    let sum = xxh3_64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    Some(out)
}

/// A cursor over hostile bytes: every read checks what is left first.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Corrupt> {
        if n > self.rest.len() {
            return Err(Corrupt::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Corrupt> {
        self.take(N)?.try_into().map_err(|_| Corrupt::Truncated)
    }

    fn u16(&mut self) -> Result<usize, Corrupt> {
        Ok(usize::from(u16::from_le_bytes(self.array()?)))
    }

    fn u32(&mut self) -> Result<usize, Corrupt> {
        usize::try_from(u32::from_le_bytes(self.array()?)).map_err(|_| Corrupt::Bounds)
    }

    /// A length-prefixed text of at most `max` bytes.
    fn text(&mut self, len: usize, max: usize) -> Result<&'a str, Corrupt> {
        if len > max {
            return Err(Corrupt::Bounds);
        }
        std::str::from_utf8(self.take(len)?).map_err(|_| Corrupt::Utf8)
    }
}

/// Decodes a value read from Redis. Every declared length is checked against what is
/// there (and the field count against [`MAX_FIELDS`]) before anything is allocated.
pub fn decode(value: &[u8]) -> Result<Decoded<'_>, Corrupt> {
    let Some(body_len) = value.len().checked_sub(8) else {
        return Err(if value.starts_with(MAGIC) || MAGIC.starts_with(value) {
            Corrupt::Truncated
        } else {
            Corrupt::Magic
        });
    };
    let (body, sum) = value.split_at(body_len);
    let mut r = Reader { rest: body };
    if r.take(4).map_err(|_| Corrupt::Magic)? != MAGIC {
        return Err(Corrupt::Magic);
    }
    let [version] = r.array()?;
    if version != VERSION {
        return Err(Corrupt::Version(version));
    }
    let sum: [u8; 8] = sum.try_into().map_err(|_| Corrupt::Truncated)?;
    if u64::from_le_bytes(sum) != xxh3_64(body) {
        return Err(Corrupt::Checksum);
    }
    let key_len = r.u32()?;
    let key = r.take(key_len)?;
    let epoch_len = r.u16()?;
    let epoch = r.text(epoch_len, MAX_EPOCH)?;
    let n = r.u16()?;
    // Each field takes at least 10 bytes: a count larger than what is left is a lie.
    if n > MAX_FIELDS || n.saturating_mul(10) > r.rest.len() {
        return Err(Corrupt::Bounds);
    }
    let mut fields = Vec::with_capacity(n);
    for _ in 0..n {
        let len = r.u16()?;
        let name = r.text(len, MAX_FIELD_NAME)?;
        fields.push((name, i64::from_le_bytes(r.array()?)));
    }
    let payload_len = r.u32()?;
    let payload = r.take(payload_len)?;
    if !r.rest.is_empty() {
        return Err(Corrupt::Trailing);
    }
    Ok(Decoded {
        key,
        epoch,
        fields,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> Stamp {
        Stamp {
            epoch: "a-123".into(),
            fields: vec![("*".into(), 0), ("!".into(), 2), ("t:orders".into(), 41)],
        }
    }

    #[test]
    fn entries_round_trip() {
        let s = stamp();
        let v = encode(b"key\0bytes", &s, b"payload").unwrap_or_default();
        assert_eq!(v.len(), encoded_len(b"key\0bytes", &s, b"payload"));
        let d = decode(&v).expect("decodes");
        assert_eq!(d.key, b"key\0bytes");
        assert_eq!(d.epoch, "a-123");
        assert_eq!(d.fields, [("*", 0), ("!", 2), ("t:orders", 41)]);
        assert_eq!(d.payload, b"payload");
        let empty = encode(
            b"",
            &Stamp {
                epoch: "".into(),
                fields: vec![],
            },
            b"",
        );
        assert!(decode(&empty.unwrap_or_default()).is_ok());
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_refused() {
        let v = encode(b"k", &stamp(), b"rows").unwrap_or_default();
        for n in 0..v.len() {
            assert!(decode(&v[..n]).is_err(), "cut at {n}");
        }
        for i in 0..v.len() {
            for bit in 0..8 {
                let mut bad = v.clone();
                bad[i] ^= 1 << bit;
                assert!(decode(&bad).is_err(), "byte {i} bit {bit}");
            }
        }
        let mut long = v.clone();
        long.push(0);
        assert!(decode(&long).is_err());
    }

    #[test]
    fn other_versions_and_foreign_values_are_named() {
        let mut v = encode(b"k", &stamp(), b"rows").unwrap_or_default();
        v[4] = 2;
        assert_eq!(decode(&v), Err(Corrupt::Version(2)));
        assert_eq!(decode(b"hello world, not ours"), Err(Corrupt::Magic));
        assert_eq!(decode(b""), Err(Corrupt::Truncated));
    }

    /// Lengths that lie, with a valid checksum (a writer with a bug, not noise).
    #[test]
    fn lying_lengths_with_a_valid_checksum_are_refused() {
        let sealed = |body: Vec<u8>| {
            let mut v = body.clone();
            v.extend_from_slice(&xxh3_64(&body).to_le_bytes());
            v
        };
        let head = |rest: &[u8]| [&MAGIC[..], &[VERSION], rest].concat();
        // A key longer than the value.
        let v = sealed(head(&u32::MAX.to_le_bytes()));
        assert_eq!(decode(&v), Err(Corrupt::Truncated));
        // 65,535 fields declared, none there.
        let v = sealed(head(&[0, 0, 0, 0, 0, 0, 0xff, 0xff]));
        assert_eq!(decode(&v), Err(Corrupt::Bounds));
        // A field name that is not UTF-8.
        let mut body = head(&[0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0xff]);
        body.extend_from_slice(&[0; 8]);
        body.extend_from_slice(&[0; 4]);
        assert_eq!(decode(&sealed(body)), Err(Corrupt::Utf8));
    }

    #[test]
    fn oversized_parts_are_not_encoded() {
        let many = Stamp {
            epoch: "e".into(),
            fields: (0..=MAX_FIELDS).map(|i| (format!("t:{i}"), 0)).collect(),
        };
        assert!(encode(b"k", &many, b"").is_none());
        let long = Stamp {
            epoch: "e".into(),
            fields: vec![("x".repeat(MAX_FIELD_NAME + 1), 0)],
        };
        assert!(encode(b"k", &long, b"").is_none());
    }
}
