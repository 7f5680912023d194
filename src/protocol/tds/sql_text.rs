//! A request's SQL text (UTF-16LE on the wire) as the classifier reads it, decoded
//! once per request that misses. Text is almost always ASCII, so the ASCII code units
//! at its front are taken a byte each (four at a time), without going through
//! `char`s; what follows
//! the first other unit is decoded as [`super::types::utf16`] does (an unpaired
//! surrogate becomes U+FFFD, an odd last byte is dropped). Both give the same string
//! for any input.

/// `bytes` (UTF-16LE) as a string.
pub fn decode(bytes: &[u8]) -> String {
    let units = bytes.get(..bytes.len() & !1).unwrap_or_default();
    let mut head = Vec::with_capacity(units.len() / 2);
    let at = ascii_prefix(units, &mut head);
    // Only ASCII bytes: always valid.
    let mut text = String::from_utf8(head).unwrap_or_default();
    let tail = units.get(at..).unwrap_or_default();
    if !tail.is_empty() {
        text.reserve(tail.len() / 2);
        let tail = tail.chunks_exact(2).map(|c| match c {
            [lo, hi] => u16::from_le_bytes([*lo, *hi]),
            _ => 0,
        });
        text.extend(char::decode_utf16(tail).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)));
    }
    text
}

/// Appends the ASCII code units at the front of `units` to `out`, a byte each, four
/// units per step while it can; returns how many bytes of `units` they took.
fn ascii_prefix(units: &[u8], out: &mut Vec<u8>) -> usize {
    const NOT_ASCII: u64 = 0xFF80_FF80_FF80_FF80;
    let mut at = 0;
    while let Some(Ok(four)) = units.get(at..at + 8).map(<[u8; 8]>::try_from) {
        let w = u64::from_le_bytes(four);
        if w & NOT_ASCII != 0 {
            break;
        }
        out.extend_from_slice(&[four[0], four[2], four[4], four[6]]);
        at += 8;
    }
    while let Some(&[lo, 0]) = units.get(at..at + 2)
        && lo.is_ascii()
    {
        out.push(lo);
        at += 2;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::tds::types::utf16;

    fn wire(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn the_same_string_as_the_general_decoder() {
        let texts = [
            "",
            "SELECT id, name FROM t WHERE id = 42",
            "SELECT N'pä$$wörd' FROM t",
            "ünïcode first",
            "emoji 😀 in the middle, then ASCII",
            "\u{7f}\u{80}\u{ff}\u{100}",
        ];
        for t in texts {
            assert_eq!(decode(&wire(t)), t);
            assert_eq!(decode(&wire(t)), utf16(&wire(t)));
        }
    }

    #[test]
    fn hostile_input_decodes_as_the_general_decoder_does() {
        let cases: [&[u8]; 6] = [
            b"A\0B",                // odd last byte
            &[0x00, 0xD8, b'A', 0], // unpaired high surrogate
            &[0x00, 0xDC],          // lone low surrogate
            &[b'A', 0, 0x00, 0xD8], // surrogate at the end
            &[0xFF, 0x00, b'A', 0], // a Latin-1 unit
            &[b'A', 1],             // a unit whose high byte is set
        ];
        for c in cases {
            assert_eq!(decode(c), utf16(c), "{c:?}");
        }
        for seed in 0..3000u32 {
            // Mostly ASCII units (a high byte of 0), now and then anything.
            let bytes: Vec<u8> = (0..(seed % 23))
                .map(|i| {
                    let b = (seed.wrapping_mul(2_654_435_761).rotate_left(i) & 0xFF) as u8;
                    match (i % 2, b) {
                        (0, b) if b < 0xE0 => b & 0x7F,
                        (1, b) if b < 0xE0 => 0,
                        (_, b) => b,
                    }
                })
                .collect();
            assert_eq!(decode(&bytes), utf16(&bytes), "{bytes:?}");
        }
    }
}
