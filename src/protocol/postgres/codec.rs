//! Sans-I/O framing of PostgreSQL protocol 3 messages: the untagged startup packets and
//! the tagged messages after them. Every declared length is checked against a maximum
//! before anything is allocated, and room is made only as the bytes arrive.

use bytes::{Buf, Bytes, BytesMut};

use super::errors::{PgError, Side};
use crate::protocol::READ_AHEAD;

/// Largest startup packet accepted (PostgreSQL itself allows 10000 bytes).
pub const MAX_STARTUP: usize = 10_000;
/// Largest message accepted from a client.
pub const MAX_CLIENT_MESSAGE: usize = 64 << 20;
/// Largest message accepted from an origin (one DataRow may be large).
pub const MAX_ORIGIN_MESSAGE: usize = 1 << 30;

/// One tagged message: its whole bytes (tag, length, body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub bytes: Bytes,
}

impl Frame {
    pub fn tag(&self) -> u8 {
        self.bytes.first().copied().unwrap_or(0)
    }

    pub fn body(&self) -> &[u8] {
        self.bytes.get(5..).unwrap_or_default()
    }
}

/// Takes one tagged message off the front of `buf`, if complete; `side` sent it.
pub fn decode(buf: &mut BytesMut, max: usize, side: Side) -> Result<Option<Frame>, PgError> {
    let Some(&[tag, a, b, c, d]) = buf.get(..5) else {
        return Ok(None);
    };
    let len = i32::from_be_bytes([a, b, c, d]);
    let framing = |what| PgError::Framing { side, what };
    let len = usize::try_from(len).map_err(|_| framing("negative message length"))?;
    if len < 4 {
        return Err(framing("message length below 4"));
    }
    if len > max {
        return Err(PgError::TooLarge { side, tag, len });
    }
    if buf.len() < len + 1 {
        buf.reserve((len + 1 - buf.len()).min(READ_AHEAD));
        return Ok(None);
    }
    Ok(Some(Frame {
        bytes: buf.split_to(len + 1).freeze(),
    }))
}

/// Takes one untagged startup-phase packet (length, then body) off `buf`.
pub fn decode_startup(buf: &mut BytesMut) -> Result<Option<Bytes>, PgError> {
    let Some(&[a, b, c, d]) = buf.get(..4) else {
        return Ok(None);
    };
    let len = i32::from_be_bytes([a, b, c, d]);
    let framing = |what| PgError::Framing {
        side: Side::Client,
        what,
    };
    let len = usize::try_from(len).map_err(|_| framing("negative startup length"))?;
    if !(8..=MAX_STARTUP).contains(&len) {
        return Err(framing("startup packet length out of range"));
    }
    if buf.len() < len {
        return Ok(None);
    }
    let mut packet = buf.split_to(len);
    packet.advance(4);
    Ok(Some(packet.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn a_declared_length_does_not_allocate_ahead_of_the_bytes() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"D");
        buf.extend_from_slice(&(60i32 << 20).to_be_bytes());
        assert!(matches!(
            decode(&mut buf, MAX_ORIGIN_MESSAGE, Side::Client),
            Ok(None)
        ));
        assert!(buf.capacity() <= 2 * READ_AHEAD, "{}", buf.capacity());
    }

    #[test]
    fn whole_byte_by_byte_and_split_everywhere() {
        let mut stream = msg(b'Q', b"select 1\0");
        stream.extend(msg(b'S', b""));
        stream.extend(msg(b'X', b""));
        let expect = [b'Q', b'S', b'X'];
        for split in 0..=stream.len() {
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for chunk in [&stream[..split], &stream[split..]] {
                for b in chunk {
                    buf.extend_from_slice(&[*b]);
                    while let Some(f) = decode(&mut buf, 1024, Side::Client).unwrap() {
                        got.push(f.tag());
                    }
                }
            }
            assert_eq!(got, expect, "split at {split}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn rejects_bad_lengths() {
        let mut buf = BytesMut::from(&[b'Q', 0, 0, 0, 3][..]);
        assert!(decode(&mut buf, 1024, Side::Client).is_err());
        let mut buf = BytesMut::from(&[b'Q', 0xff, 0xff, 0xff, 0xff][..]);
        assert!(decode(&mut buf, 1024, Side::Client).is_err());
        let mut buf = BytesMut::from(&[b'Q', 0, 1, 0, 0][..]);
        assert!(matches!(
            decode(&mut buf, 1024, Side::Client),
            Err(PgError::TooLarge { .. })
        ));
        let mut buf = BytesMut::from(&[0, 0, 0, 4][..]);
        assert!(decode_startup(&mut buf).is_err());
        let mut buf = BytesMut::from(&[0x7f, 0, 0, 0][..]);
        assert!(decode_startup(&mut buf).is_err());
    }

    #[test]
    fn startup_packet() {
        let mut v = 8i32.to_be_bytes().to_vec();
        v.extend_from_slice(&80877103i32.to_be_bytes());
        let mut buf = BytesMut::from(&v[..3]);
        assert!(decode_startup(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&v[3..]);
        let p = decode_startup(&mut buf).unwrap().unwrap();
        assert_eq!(&p[..], &80877103i32.to_be_bytes());
    }
}
