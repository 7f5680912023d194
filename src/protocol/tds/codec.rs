//! TDS packet framing (MS-TDS 2.2.3): the 8-byte header (type, status, length, SPID,
//! packet id, window), packets decoded from a buffer without I/O, a message assembled
//! from its packets up to the one marked end-of-message, and a payload split back
//! into packets of a session's negotiated size.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::protocol::{SessionError, Side};

/// Bytes in a packet header.
pub const HEADER: usize = 8;
/// Status bit: the last packet of a message.
pub const STATUS_EOM: u8 = 0x01;
/// Status bit (client): ignore this message (an abandoned request).
pub const STATUS_IGNORE: u8 = 0x02;
/// Status bit (client): reset the connection before this request.
pub const STATUS_RESETCONNECTION: u8 = 0x08;
pub const STATUS_RESETCONNECTIONSKIPTRAN: u8 = 0x10;

/// The smallest packet size a login may negotiate, and the default before one is.
pub const MIN_PACKET: usize = 512;
pub const DEFAULT_PACKET: usize = 4096;
/// The largest packet size TDS 7.x negotiates.
pub const MAX_PACKET: usize = 32_767;

/// Packet types (MS-TDS 2.2.3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    SqlBatch,
    PreTds7Login,
    Rpc,
    TabularResult,
    Attention,
    BulkLoad,
    FedAuthToken,
    TransactionManager,
    Login7,
    Sspi,
    PreLogin,
    Other(u8),
}

impl Kind {
    pub fn from_u8(b: u8) -> Self {
        match b {
            0x01 => Kind::SqlBatch,
            0x02 => Kind::PreTds7Login,
            0x03 => Kind::Rpc,
            0x04 => Kind::TabularResult,
            0x06 => Kind::Attention,
            0x07 => Kind::BulkLoad,
            0x08 => Kind::FedAuthToken,
            0x0E => Kind::TransactionManager,
            0x10 => Kind::Login7,
            0x11 => Kind::Sspi,
            0x12 => Kind::PreLogin,
            other => Kind::Other(other),
        }
    }

    pub fn as_u8(self) -> u8 {
        match self {
            Kind::SqlBatch => 0x01,
            Kind::PreTds7Login => 0x02,
            Kind::Rpc => 0x03,
            Kind::TabularResult => 0x04,
            Kind::Attention => 0x06,
            Kind::BulkLoad => 0x07,
            Kind::FedAuthToken => 0x08,
            Kind::TransactionManager => 0x0E,
            Kind::Login7 => 0x10,
            Kind::Sspi => 0x11,
            Kind::PreLogin => 0x12,
            Kind::Other(b) => b,
        }
    }
}

/// One packet: its header fields and its bytes, header included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub bytes: Bytes,
}

impl Packet {
    pub fn kind(&self) -> Kind {
        Kind::from_u8(self.bytes.first().copied().unwrap_or(0))
    }

    pub fn status(&self) -> u8 {
        self.bytes.get(1).copied().unwrap_or(0)
    }

    /// The last packet of its message.
    pub fn is_eom(&self) -> bool {
        self.status() & STATUS_EOM != 0
    }

    pub fn spid(&self) -> u16 {
        match self.bytes.get(4..6) {
            Some(&[a, b]) => u16::from_be_bytes([a, b]),
            _ => 0,
        }
    }

    pub fn payload(&self) -> &[u8] {
        self.bytes.get(HEADER..).unwrap_or_default()
    }
}

/// Decodes one packet from the front of `buf`, if it is all there. A declared length
/// shorter than the header is a framing error of `side`; the length field is 16 bits,
/// so no packet can ask for more than 64 KiB.
pub fn decode(buf: &mut BytesMut, side: Side) -> Result<Option<Packet>, SessionError> {
    let Some(&[_, _, hi, lo]) = buf.get(..4) else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len < HEADER {
        return Err(SessionError::Framing {
            side,
            what: "TDS packet length shorter than its header",
        });
    }
    if buf.len() < len {
        buf.reserve(len - buf.len());
        return Ok(None);
    }
    Ok(Some(Packet {
        bytes: buf.split_to(len).freeze(),
    }))
}

/// A whole message: its type, the status of its first packet, its payload (the
/// packets' payloads joined) and its packets as they arrived (forwarded unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    pub status: u8,
    pub payload: Bytes,
    pub raw: Bytes,
}

/// Assembles messages from packets, bounded by `max` payload bytes.
#[derive(Debug)]
pub struct Assembler {
    side: Side,
    max: usize,
    first: Option<(Kind, u8)>,
    payload: BytesMut,
    raw: BytesMut,
}

impl Assembler {
    pub fn new(side: Side, max: usize) -> Self {
        Assembler {
            side,
            max,
            first: None,
            payload: BytesMut::new(),
            raw: BytesMut::new(),
        }
    }

    /// Part of a message has arrived and its end has not.
    pub fn is_partial(&self) -> bool {
        self.first.is_some()
    }

    /// Decodes packets from `buf` until a message is complete. A packet whose type
    /// differs from its message's first packet, or a message over `max`, is an error.
    pub fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, SessionError> {
        while let Some(p) = decode(buf, self.side)? {
            let (kind, status) = *self.first.get_or_insert((p.kind(), p.status()));
            if p.kind() != kind {
                return Err(SessionError::Framing {
                    side: self.side,
                    what: "TDS packet type changed inside a message",
                });
            }
            if self.payload.len() + p.payload().len() > self.max {
                return Err(SessionError::TooLarge {
                    side: self.side,
                    tag: kind.as_u8(),
                    len: self.payload.len() + p.payload().len(),
                });
            }
            self.payload.extend_from_slice(p.payload());
            self.raw.extend_from_slice(&p.bytes);
            if p.is_eom() {
                self.first = None;
                return Ok(Some(Message {
                    kind,
                    status,
                    payload: self.payload.split().freeze(),
                    raw: self.raw.split().freeze(),
                }));
            }
        }
        Ok(None)
    }
}

/// Appends `payload` to `out` as a message of `kind` in packets of at most
/// `packet_size` bytes (header included), numbered from 1, the last marked EOM.
pub fn put_message(out: &mut BytesMut, kind: Kind, spid: u16, payload: &[u8], packet_size: usize) {
    let room = packet_size.clamp(MIN_PACKET, MAX_PACKET) - HEADER;
    let mut chunks = payload.chunks(room).peekable();
    let mut id: u8 = 1;
    if chunks.peek().is_none() {
        put_header(out, kind, STATUS_EOM, HEADER, spid, id);
        return;
    }
    while let Some(chunk) = chunks.next() {
        let status = if chunks.peek().is_none() {
            STATUS_EOM
        } else {
            0
        };
        put_header(out, kind, status, HEADER + chunk.len(), spid, id);
        out.put_slice(chunk);
        id = id.wrapping_add(1);
    }
}

fn put_header(out: &mut BytesMut, kind: Kind, status: u8, len: usize, spid: u16, id: u8) {
    out.put_u8(kind.as_u8());
    out.put_u8(status);
    out.put_u16(u16::try_from(len).unwrap_or(u16::MAX));
    out.put_u16(spid);
    out.put_u8(id);
    out.put_u8(0);
}

/// `payload` as one message of `kind` in packets of `packet_size`.
pub fn message(kind: Kind, payload: &[u8], packet_size: usize) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + HEADER);
    put_message(&mut out, kind, 0, payload, packet_size);
    out.freeze()
}

/// Skips `n` bytes of `buf` if it has them.
pub fn skip(buf: &mut &[u8], n: usize) -> Option<()> {
    if buf.remaining() < n {
        return None;
    }
    buf.advance(n);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_messages(input: &[u8], split: &[usize]) -> Vec<Message> {
        let mut asm = Assembler::new(Side::Client, 1 << 20);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut at = 0;
        for &cut in split.iter().chain(std::iter::once(&input.len())) {
            buf.extend_from_slice(&input[at..cut]);
            at = cut;
            while let Some(m) = asm.next(&mut buf).unwrap() {
                out.push(m);
            }
        }
        assert!(buf.is_empty());
        out
    }

    #[test]
    fn messages_over_several_packets_whole_bytewise_and_split_everywhere() {
        let payload: Vec<u8> = (0..1500u32).map(|i| (i % 251) as u8).collect();
        let mut wire = BytesMut::new();
        put_message(&mut wire, Kind::SqlBatch, 0, &payload, 512);
        put_message(&mut wire, Kind::Rpc, 0, b"abc", 512);
        let wire = wire.freeze();
        let expect = |ms: Vec<Message>| {
            assert_eq!(ms.len(), 2);
            assert_eq!(ms[0].kind, Kind::SqlBatch);
            assert_eq!(&ms[0].payload[..], &payload[..]);
            assert_eq!(ms[1].kind, Kind::Rpc);
            assert_eq!(&ms[1].payload[..], b"abc");
            assert_eq!(ms[0].raw.len() + ms[1].raw.len(), wire.len());
        };
        expect(all_messages(&wire, &[]));
        let bytewise: Vec<usize> = (1..wire.len()).collect();
        expect(all_messages(&wire, &bytewise));
        for cut in 0..=wire.len() {
            expect(all_messages(&wire, &[cut]));
        }
    }

    #[test]
    fn packets_are_numbered_and_sized() {
        let wire = message(Kind::TabularResult, &[7u8; 1100], 512);
        let mut buf = BytesMut::from(&wire[..]);
        let mut ids = Vec::new();
        while let Some(p) = decode(&mut buf, Side::Origin).unwrap() {
            assert!(p.bytes.len() <= 512);
            ids.push((p.bytes[6], p.is_eom()));
        }
        assert_eq!(ids, vec![(1, false), (2, false), (3, true)]);
        let empty = message(Kind::TabularResult, &[], 512);
        assert_eq!(&empty[..], &[4, 1, 0, 8, 0, 0, 1, 0]);
    }

    #[test]
    fn hostile_framing_is_an_error_not_a_panic() {
        let mut buf = BytesMut::from(&[1u8, 1, 0, 3, 0, 0, 0, 0][..]);
        assert!(decode(&mut buf, Side::Client).is_err());
        let mut asm = Assembler::new(Side::Client, 10);
        let mut big = BytesMut::new();
        put_message(&mut big, Kind::SqlBatch, 0, &[0u8; 20], 512);
        assert!(asm.next(&mut big).is_err());
        let mut mixed = BytesMut::new();
        put_header(&mut mixed, Kind::SqlBatch, 0, HEADER, 0, 1);
        put_header(&mut mixed, Kind::Rpc, STATUS_EOM, HEADER, 0, 2);
        let mut asm = Assembler::new(Side::Client, 100);
        assert!(asm.next(&mut mixed).is_err());
        for seed in 0..2000u32 {
            let bytes: Vec<u8> = (0..40)
                .map(|i| (seed.wrapping_mul(2654435761).rotate_left(i) & 0xFF) as u8)
                .collect();
            let mut buf = BytesMut::from(&bytes[..]);
            let mut asm = Assembler::new(Side::Client, 1000);
            while let Ok(Some(_)) = asm.next(&mut buf) {}
        }
    }
}
