//! PRELOGIN (MS-TDS 2.2.6.5): the options a client and a server exchange before the
//! login. wirecache answers the client's itself (its cache, and so its origin, is
//! known only from LOGIN7) and sends its own to the origin, each with the ENCRYPTION
//! value `tls` chose for that leg; never MARS.

use super::types::Reader;

pub const VERSION: u8 = 0x00;
pub const ENCRYPTION: u8 = 0x01;
pub const INSTOPT: u8 = 0x02;
pub const THREADID: u8 = 0x03;
pub const MARS: u8 = 0x04;
const TERMINATOR: u8 = 0xFF;

/// The ENCRYPTION option's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    Off,
    On,
    NotSupported,
    Required,
    Other(u8),
}

impl Encryption {
    pub fn from_u8(b: u8) -> Self {
        match b {
            0 => Encryption::Off,
            1 => Encryption::On,
            2 => Encryption::NotSupported,
            3 => Encryption::Required,
            other => Encryption::Other(other),
        }
    }

    pub fn as_u8(self) -> u8 {
        match self {
            Encryption::Off => 0,
            Encryption::On => 1,
            Encryption::NotSupported => 2,
            Encryption::Required => 3,
            Encryption::Other(b) => b,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Encryption::Off => "off",
            Encryption::On => "on",
            Encryption::NotSupported => "not supported",
            Encryption::Required => "required",
            Encryption::Other(_) => "unknown",
        }
    }
}

/// The options of a PRELOGIN payload: (token, data).
pub fn options(payload: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut r = Reader::new(payload);
    let mut out = Vec::new();
    loop {
        let token = r.u8().ok()?;
        if token == TERMINATOR {
            return Some(out);
        }
        let at = r.take(2).ok()?;
        let len = r.take(2).ok()?;
        let at = usize::from(u16::from_be_bytes(at.try_into().ok()?));
        let len = usize::from(u16::from_be_bytes(len.try_into().ok()?));
        out.push((token, payload.get(at..at.checked_add(len)?)?));
    }
}

/// The ENCRYPTION option of a PRELOGIN payload (`Off` when absent).
pub fn encryption(payload: &[u8]) -> Option<Encryption> {
    let opts = options(payload)?;
    let enc = opts.iter().find(|(t, _)| *t == ENCRYPTION);
    Some(match enc.and_then(|(_, d)| d.first()) {
        Some(b) => Encryption::from_u8(*b),
        None => Encryption::Off,
    })
}

/// A PRELOGIN payload with `options` in order.
pub fn build(options: &[(u8, &[u8])]) -> Vec<u8> {
    let head = options.len() * 5 + 1;
    let mut out = Vec::with_capacity(head + 16);
    let mut at = head;
    for (token, data) in options {
        out.push(*token);
        out.extend_from_slice(&u16::try_from(at).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&u16::try_from(data.len()).unwrap_or(0).to_be_bytes());
        at += data.len();
    }
    out.push(TERMINATOR);
    for (_, data) in options {
        out.extend_from_slice(data);
    }
    out
}

/// wirecache's version in PRELOGIN answers: major, minor, build (big-endian), sub-build.
const SERVER_VERSION: [u8; 6] = [16, 0, 0x10, 0x00, 0, 0];

/// What wirecache answers a client's PRELOGIN without encryption (no MARS).
pub fn answer() -> Vec<u8> {
    answer_with(Encryption::NotSupported)
}

/// What wirecache answers a client's PRELOGIN: `encryption`, no MARS.
pub fn answer_with(encryption: Encryption) -> Vec<u8> {
    build(&[
        (VERSION, &SERVER_VERSION),
        (ENCRYPTION, &[encryption.as_u8()]),
        (INSTOPT, &[0]),
        (THREADID, &[]),
        (MARS, &[0]),
    ])
}

/// A client's PRELOGIN without encryption (no MARS).
pub fn request() -> Vec<u8> {
    request_with(Encryption::NotSupported)
}

/// What wirecache sends its origin: `encryption`, no MARS.
pub fn request_with(encryption: Encryption) -> Vec<u8> {
    build(&[
        (VERSION, &[0, 0, 0, 0, 0, 0]),
        (ENCRYPTION, &[encryption.as_u8()]),
        (INSTOPT, &[0]),
        (THREADID, &[0, 0, 0, 0]),
        (MARS, &[0]),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_hostile() {
        let p = answer();
        assert_eq!(encryption(&p), Some(Encryption::NotSupported));
        let opts = options(&p).unwrap();
        assert_eq!(opts[0], (VERSION, &SERVER_VERSION[..]));
        assert_eq!(opts.len(), 5);
        for cut in 0..p.len() {
            let _ = options(&p[..cut]);
        }
        assert_eq!(options(&[1, 0xFF, 0xFF, 0, 4, 0xFF]), None);
        assert_eq!(encryption(&build(&[])), Some(Encryption::Off));
    }
}
