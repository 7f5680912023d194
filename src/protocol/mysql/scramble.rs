//! The arithmetic of MySQL's password plugins, both sides (pooled mode checks
//! clients itself and logs in to origins with stored secrets):
//!
//! - `mysql_native_password`: the server stores `SHA1(SHA1(password))` (shown as
//!   `*HEX` in `mysql.user`); the client sends
//!   `SHA1(password) XOR SHA1(scramble ‖ SHA1(SHA1(password)))`. Checking a token
//!   reveals `SHA1(password)`, which is what logging in needs.
//! - `caching_sha2_password` fast path: the client sends
//!   `SHA256(password) XOR SHA256(SHA256(SHA256(password)) ‖ scramble)`; the server
//!   holds `SHA256(SHA256(password))`.
//!
//! Digests come from `ring`. Nothing here logs anything.

use ring::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY, SHA256};

/// Length of a scramble (the nonce both plugins sign).
pub const SCRAMBLE_LEN: usize = 20;

pub type Sha1 = [u8; 20];
pub type Sha256 = [u8; 32];

/// SHA-1 of the concatenation of `parts`.
pub fn sha1(parts: &[&[u8]]) -> Sha1 {
    let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0; 20];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> Sha256 {
    let mut ctx = Context::new(&SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn xor<const N: usize>(a: &[u8; N], b: &[u8; N]) -> [u8; N] {
    let mut out = [0; N];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = x ^ y;
    }
    out
}

/// Equality whose time does not depend on where the inputs differ.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The first 20 bytes of a scramble (a greeting's may carry more).
fn nonce(scramble: &[u8]) -> &[u8] {
    scramble.get(..SCRAMBLE_LEN).unwrap_or(scramble)
}

/// A fresh scramble: 20 random printable bytes (no NUL, as servers send).
pub fn random_scramble() -> Vec<u8> {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; SCRAMBLE_LEN];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        // No system randomness: never expected on a supported OS. Fall back to the
        // process's hash keys, which are random per process.
        use std::hash::BuildHasher;
        let state = std::collections::hash_map::RandomState::new();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = state.hash_one(i) as u8;
        }
    }
    bytes.iter().map(|b| 33 + b % 94).collect()
}

/// `SHA1(password)`: what a native login proves knowledge of.
pub fn native_key(password: &[u8]) -> Sha1 {
    sha1(&[password])
}

/// `SHA1(SHA1(password))`: what a server stores.
pub fn native_hash(key: &Sha1) -> Sha1 {
    sha1(&[key])
}

/// The client's mysql_native_password token for `scramble` (empty: empty password).
pub fn native_token(key: &Sha1, scramble: &[u8]) -> Vec<u8> {
    let mask = sha1(&[nonce(scramble), &native_hash(key)]);
    xor(key, &mask).to_vec()
}

/// Checks a native token against the stored hash; `Some(SHA1(password))` if right.
pub fn native_check(stored: &Sha1, scramble: &[u8], token: &[u8]) -> Option<Sha1> {
    let token: &Sha1 = token.try_into().ok()?;
    let key = xor(token, &sha1(&[nonce(scramble), stored]));
    same(&native_hash(&key), stored).then_some(key)
}

/// `*` and the 40 upper-case hex digits of a stored native hash, as `mysql.user` has it.
pub fn parse_native_hash(text: &str) -> Option<Sha1> {
    let hex = text.strip_prefix('*')?;
    if hex.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// `SHA256(SHA256(password))`: what caching_sha2_password's fast path checks against.
pub fn sha2_hash(password: &[u8]) -> Sha256 {
    sha256(&[&sha256(&[password])])
}

/// The client's caching_sha2_password fast-path token (empty: empty password).
pub fn sha2_token(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = sha256(&[password]);
    let mask = sha256(&[&sha256(&[&stage1]), nonce(scramble)]);
    xor(&stage1, &mask).to_vec()
}

/// Checks a fast-path token against `SHA256(SHA256(password))`.
pub fn sha2_check(stored: &Sha256, scramble: &[u8], token: &[u8]) -> bool {
    let Ok(token) = <&Sha256>::try_from(token) else {
        return false;
    };
    let stage1 = xor(token, &sha256(&[stored, nonce(scramble)]));
    same(&sha256(&[&stage1]), stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02X}")).collect()
    }

    #[test]
    fn native_hash_is_what_mysql_stores() {
        // SELECT PASSWORD('secret') on MariaDB.
        let h = native_hash(&native_key(b"secret"));
        assert_eq!(hex(&h), "14E65567ABDB5135D0CFD9A70B3032C179A49EE7");
        let text = format!("*{}", hex(&h));
        assert_eq!(parse_native_hash(&text), Some(h));
        for bad in [
            "14E6",
            "*14E6",
            "*ZZE65567ABDB5135D0CFD9A70B3032C179A49EE7",
            "",
        ] {
            assert_eq!(parse_native_hash(bad), None, "{bad}");
        }
    }

    #[test]
    fn tokens_check_and_reveal_the_key() {
        let scramble = random_scramble();
        assert_eq!(scramble.len(), 20);
        assert!(scramble.iter().all(|b| (33..127).contains(b)));
        let key = native_key(b"pw");
        let stored = native_hash(&key);
        let token = native_token(&key, &scramble);
        assert_eq!(native_check(&stored, &scramble, &token), Some(key));
        assert_eq!(native_check(&stored, b"other-scramble-12345", &token), None);
        assert_eq!(native_check(&stored, &scramble, &token[..19]), None);
        let wrong = native_token(&native_key(b"pW"), &scramble);
        assert_eq!(native_check(&stored, &scramble, &wrong), None);

        let stored2 = sha2_hash(b"pw");
        let token2 = sha2_token(b"pw", &scramble);
        assert!(sha2_check(&stored2, &scramble, &token2));
        assert!(!sha2_check(
            &stored2,
            &scramble,
            &sha2_token(b"pW", &scramble)
        ));
        assert!(!sha2_check(&stored2, &scramble, &[]));
    }
}
