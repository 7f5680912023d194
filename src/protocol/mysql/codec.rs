//! Sans-I/O framing of the MySQL client/server protocol: packets of a 3-byte
//! little-endian payload length and a sequence id. A payload of exactly 0xFFFFFF bytes
//! continues in the next packet; continuations are framed like any packet and told
//! apart by the caller (see `Packet::is_full`). The 3-byte length bounds every packet
//! at 16 MiB + 4, and room is made only as the bytes arrive, so a few header bytes
//! cannot make a decode allocate megabytes.
//!
//! Also the small readers and writers of the integer and string encodings the proxy
//! inspects (little-endian integers, length-encoded integers, NUL-terminated strings).

use bytes::{Bytes, BytesMut};

use super::errors::MyError;
use crate::protocol::READ_AHEAD;

/// Largest payload of one packet; a payload of this size continues in the next packet.
pub const MAX_PAYLOAD: usize = 0xFF_FFFF;
/// Packet header size: 3 bytes of length, 1 byte of sequence id.
pub const HEADER: usize = 4;

/// One physical packet: header and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub bytes: Bytes,
}

impl Packet {
    pub fn seq(&self) -> u8 {
        self.bytes.get(3).copied().unwrap_or(0)
    }

    pub fn payload(&self) -> &[u8] {
        self.bytes.get(HEADER..).unwrap_or_default()
    }

    /// The first payload byte (the command, or the response's header byte).
    pub fn first(&self) -> Option<u8> {
        self.payload().first().copied()
    }

    /// True when the payload continues in the next packet.
    pub fn is_full(&self) -> bool {
        self.payload().len() == MAX_PAYLOAD
    }
}

/// Takes one packet off the front of `buf`, if complete.
pub fn decode(buf: &mut BytesMut) -> Result<Option<Packet>, MyError> {
    let Some(&[a, b, c, _seq]) = buf.get(..HEADER) else {
        return Ok(None);
    };
    let len = usize::from(a) | usize::from(b) << 8 | usize::from(c) << 16;
    let total = len + HEADER;
    if buf.len() < total {
        buf.reserve((total - buf.len()).min(READ_AHEAD));
        return Ok(None);
    }
    Ok(Some(Packet {
        bytes: buf.split_to(total).freeze(),
    }))
}

/// Appends one packet (payload below 16 MiB) with sequence id `seq`.
pub fn put_packet(out: &mut BytesMut, seq: u8, payload: &[u8]) {
    let len = payload.len().min(MAX_PAYLOAD - 1);
    let b = (len as u32).to_le_bytes();
    out.extend_from_slice(&[b[0], b[1], b[2], seq]);
    out.extend_from_slice(payload.get(..len).unwrap_or_default());
}

/// A packet as a `Bytes`.
pub fn packet(seq: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + HEADER);
    put_packet(&mut out, seq, payload);
    out.freeze()
}

/// Appends a length-encoded integer.
pub fn put_lenenc(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=250 => out.push(n as u8),
        251..=0xFFFF => {
            out.push(0xFC);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xFF_FFFF => {
            out.push(0xFD);
            out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        }
        _ => {
            out.push(0xFE);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// A cursor over a payload. Every read checks the remaining length.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.buf.split_at_checked(n)?;
        self.buf = tail;
        Some(head)
    }

    pub fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    pub fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_le_bytes([*b.first()?, *b.get(1)?]))
    }

    pub fn u32(&mut self) -> Option<u32> {
        let b: [u8; 4] = self.take(4)?.try_into().ok()?;
        Some(u32::from_le_bytes(b))
    }

    /// A length-encoded integer; `None` for 0xFB (NULL) and 0xFF (invalid).
    pub fn lenenc(&mut self) -> Option<u64> {
        let n = |b: &[u8]| b.iter().rev().fold(0u64, |acc, x| acc << 8 | u64::from(*x));
        match self.u8()? {
            x @ 0..=250 => Some(u64::from(x)),
            0xFC => self.take(2).map(n),
            0xFD => self.take(3).map(n),
            0xFE => self.take(8).map(n),
            _ => None,
        }
    }

    /// A length-encoded string; `Ok(None)` for SQL NULL (0xFB).
    pub fn lenenc_str(&mut self) -> Option<Option<&'a [u8]>> {
        if self.buf.first() == Some(&0xFB) {
            self.take(1)?;
            return Some(None);
        }
        let len = usize::try_from(self.lenenc()?).ok()?;
        self.take(len).map(Some)
    }

    /// A NUL-terminated string (without its NUL); the rest if there is no NUL.
    pub fn cstr(&mut self) -> &'a [u8] {
        match self.buf.iter().position(|b| *b == 0) {
            Some(i) => {
                let s = self.buf.get(..i).unwrap_or_default();
                self.buf = self.buf.get(i + 1..).unwrap_or_default();
                s
            }
            None => std::mem::take(&mut self.buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_length_does_not_allocate_ahead_of_the_bytes() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0]);
        assert!(matches!(decode(&mut buf), Ok(None)));
        assert!(buf.capacity() <= 2 * READ_AHEAD, "{}", buf.capacity());
    }

    fn stream() -> Vec<u8> {
        let mut out = BytesMut::new();
        put_packet(&mut out, 0, b"\x03SELECT 1");
        put_packet(&mut out, 1, b"");
        put_packet(&mut out, 2, &[7u8; 300]);
        out.to_vec()
    }

    fn decode_all(chunks: &[&[u8]]) -> Vec<Packet> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            while let Some(p) = decode(&mut buf).unwrap() {
                out.push(p);
            }
        }
        assert!(buf.is_empty());
        out
    }

    #[test]
    fn whole_byte_by_byte_and_split_everywhere() {
        let s = stream();
        let whole = decode_all(&[&s]);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].payload(), b"\x03SELECT 1");
        assert_eq!(whole[1].seq(), 1);
        assert_eq!(whole[2].payload().len(), 300);
        let bytes: Vec<&[u8]> = s.chunks(1).collect();
        assert_eq!(decode_all(&bytes), whole);
        for i in 0..s.len() {
            let (a, b) = s.split_at(i);
            assert_eq!(decode_all(&[a, b]), whole);
        }
    }

    #[test]
    fn full_packets_are_marked() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0]);
        buf.extend_from_slice(&vec![0u8; MAX_PAYLOAD]);
        let p = decode(&mut buf).unwrap().unwrap();
        assert!(p.is_full());
    }

    #[test]
    fn hostile_lengths_do_not_allocate_past_one_packet() {
        let mut buf = BytesMut::from(&[0xFF, 0xFF, 0xFF, 0][..]);
        assert!(decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() <= MAX_PAYLOAD + HEADER + 64);
    }

    #[test]
    fn lenenc_round_trip_and_truncation() {
        for n in [
            0u64,
            250,
            251,
            0xFFFF,
            0x1_0000,
            0xFF_FFFF,
            0x100_0000,
            u64::MAX,
        ] {
            let mut v = Vec::new();
            put_lenenc(&mut v, n);
            assert_eq!(Reader::new(&v).lenenc(), Some(n));
            assert_eq!(Reader::new(&v[..v.len() - 1]).lenenc(), None);
        }
        assert_eq!(Reader::new(&[0xFB]).lenenc_str(), Some(None));
        assert_eq!(
            Reader::new(&[2, b'a', b'b']).lenenc_str(),
            Some(Some(&b"ab"[..]))
        );
        assert_eq!(Reader::new(&[3, b'a']).lenenc_str(), None);
        let mut r = Reader::new(b"ab\0cd");
        assert_eq!(r.cstr(), b"ab");
        assert_eq!(r.cstr(), b"cd");
        assert_eq!(r.u32(), None);
    }
}
