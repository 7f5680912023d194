//! Authentication messages as they are relayed: cleartext and MD5-with-a-cache-ID
//! only over TLS (unless allowed), MD5 answered by hashing the client's password with
//! the origin's user name (the cache ID is stripped from the name the client hashed),
//! SASL offered without `-PLUS` mechanisms. The password is used once, never kept.

use bytes::{Bytes, BytesMut};

use super::codec::Frame;
use super::errors::PgError;
use super::messages::{self, Body};
use super::tls::{CHANNEL_BINDING, wants_channel_binding};

/// One message of the origin's during authentication: what the client is sent, and
/// whether (and how) the client's answer is passed back.
pub struct Challenge {
    pub to_client: Bytes,
    pub needs_answer: bool,
    /// MD5 with a cache ID: the salt wirecache hashes the client's cleartext with.
    md5_salt: Option<Vec<u8>>,
    /// AuthenticationSASL: the answer is a SASLInitialResponse.
    sasl_initial: bool,
}

impl Challenge {
    pub fn relay(frame: &Frame) -> Challenge {
        Challenge {
            to_client: frame.bytes.clone(),
            needs_answer: false,
            md5_salt: None,
            sasl_initial: false,
        }
    }

    /// An authentication request: cleartext and MD5-with-a-cache-ID only over TLS
    /// (unless allowed), MD5 turned into a cleartext request, SASL without `-PLUS`.
    pub fn of(
        frame: &Frame,
        renamed_user: Option<&str>,
        cleartext_ok: bool,
    ) -> Result<Self, PgError> {
        let mut c = Challenge::relay(frame);
        let code = Body::new(frame.body()).i32().unwrap_or(-1);
        c.needs_answer = matches!(code, 3 | 5 | 10 | 11);
        match (code, renamed_user) {
            (3, _) if !cleartext_ok => {
                return Err(PgError::CleartextPassword("cleartext password"));
            }
            (5, Some(_)) if !cleartext_ok => {
                return Err(PgError::CleartextPassword("MD5 with a cache ID"));
            }
            (5, Some(_)) => {
                c.md5_salt = frame.body().get(4..8).map(<[u8]>::to_vec);
                c.to_client = Bytes::from_static(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]);
            }
            (10, _) => {
                c.sasl_initial = true;
                c.to_client = messages::sasl_without_plus(frame.body())
                    .ok_or(PgError::Origin("malformed AuthenticationSASL"))?;
            }
            _ => {}
        }
        Ok(c)
    }

    /// What the origin gets for the client's `answer`.
    pub fn answer(
        self,
        answer: Frame,
        origin_tls: bool,
        renamed_user: Option<&str>,
    ) -> Result<Bytes, PgError> {
        if answer.tag() != b'p' {
            return Err(PgError::Client("expected a password message"));
        }
        if self.sasl_initial && origin_tls && wants_channel_binding(answer.body()) {
            return Err(PgError::Unsupported(CHANNEL_BINDING));
        }
        Ok(match (self.md5_salt, renamed_user) {
            (Some(salt), Some(user)) => {
                let password = Body::new(answer.body())
                    .cstr()
                    .ok_or(PgError::Client("malformed password message"))?;
                md5_password_message(password, user.as_bytes(), &salt)
            }
            _ => answer.bytes,
        })
    }
}

/// The PasswordMessage answering an MD5 challenge: `md5` + md5(md5(password + user) + salt).
pub(super) fn md5_password_message(password: &[u8], user: &[u8], salt: &[u8]) -> Bytes {
    use md5::{Digest, Md5};
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let inner = hex(&Md5::new()
        .chain_update(password)
        .chain_update(user)
        .finalize());
    let outer = hex(&Md5::new()
        .chain_update(inner.as_bytes())
        .chain_update(salt)
        .finalize());
    let mut body = Vec::with_capacity(36);
    body.extend_from_slice(b"md5");
    body.extend_from_slice(outer.as_bytes());
    body.push(0);
    let mut out = BytesMut::with_capacity(body.len() + 5);
    messages::put_message(&mut out, b'p', &body);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_answer_follows_the_postgres_formula() {
        // Computed independently: md5(md5("secretalice").hex + "abcd").
        let msg = md5_password_message(b"secret", b"alice", b"abcd");
        assert_eq!(msg[0], b'p');
        assert_eq!(
            &msg[5..],
            b"md5c90bcafc0a2b54511742383e34d5dc9d\0".as_slice()
        );
    }
}
