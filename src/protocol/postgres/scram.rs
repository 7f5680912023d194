//! SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it, without channel
//! binding: the stored verifier (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`,
//! as in `pg_authid.rolpassword`), and the server side of the exchange, which checks a
//! client's proof against it. Sans-I/O: messages in, messages out. The client side
//! (wirecache logging in to an origin) is `scram_client`. Nothing here logs; proofs,
//! keys and passwords never leave these types except as wire messages.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::{digest, hmac, pbkdf2, rand::SecureRandom};

/// The only mechanism wirecache offers.
pub const MECHANISM: &str = "SCRAM-SHA-256";
/// Iterations of a verifier wirecache derives from a stored password (PostgreSQL's
/// default `scram_iterations`).
pub const ITERATIONS: u32 = 4096;
/// At most this many iterations are accepted from a verifier or an origin: more is a
/// denial of service, not security.
pub const MAX_ITERATIONS: u32 = 1 << 20;

pub type Key = [u8; 32];

/// Why an exchange failed. The client is told only that its password was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed SCRAM message")]
    Malformed,
    #[error("SCRAM channel binding is not offered")]
    ChannelBinding,
    #[error("SCRAM nonce mismatch")]
    Nonce,
    #[error("SCRAM proof does not match")]
    Proof,
    #[error("SCRAM server signature does not match")]
    ServerSignature,
}

/// A stored SCRAM-SHA-256 verifier. `Debug` shows only the iteration count.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: Key,
    pub server_key: Key,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Verifier {{ iterations: {}, .. }}", self.iterations)
    }
}

pub fn hmac(key: &[u8], parts: &[&[u8]]) -> Key {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

pub fn sha256(data: &[u8]) -> Key {
    let mut out = [0; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// Compares in time independent of where the inputs differ.
pub fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn xor(a: &Key, b: &Key) -> Key {
    let mut out = *a;
    for (o, b) in out.iter_mut().zip(b) {
        *o ^= b;
    }
    out
}

/// SaltedPassword := Hi(password, salt, i).
pub fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> Key {
    let mut out = [0; 32];
    let n = std::num::NonZeroU32::new(iterations.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, n, salt, password, &mut out);
    out
}

pub fn client_key(salted: &Key) -> Key {
    hmac(salted, &[b"Client Key"])
}

/// `n` random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    // SystemRandom fails only where the OS has no randomness at all; a nonce, salt or
    // cancel key of zeros would then be worse than no login at all.
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        panic!("the operating system has no randomness for SCRAM nonces and salts");
    }
    bytes
}

/// `n` random bytes, base64: a nonce or a salt.
pub fn random_b64(n: usize) -> String {
    B64.encode(random_bytes(n))
}

impl Verifier {
    /// Parses PostgreSQL's stored form; `None` if it is not a SCRAM-SHA-256 verifier.
    pub fn parse(text: &str) -> Option<Verifier> {
        let rest = text.strip_prefix("SCRAM-SHA-256$")?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        let iterations: u32 = iterations.parse().ok()?;
        if iterations == 0 || iterations > MAX_ITERATIONS {
            return None;
        }
        let key = |s: &str| -> Option<Key> { B64.decode(s).ok()?.try_into().ok() };
        Some(Verifier {
            iterations,
            salt: B64.decode(salt).ok().filter(|s| !s.is_empty())?,
            stored_key: key(stored)?,
            server_key: key(server)?,
        })
    }

    /// The verifier of `password` with `salt` and `iterations`.
    pub fn from_password(password: &str, salt: &[u8], iterations: u32) -> Verifier {
        let salted = salted_password(password.as_bytes(), salt, iterations);
        Verifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: sha256(&client_key(&salted)),
            server_key: hmac(&salted, &[b"Server Key"]),
        }
    }

    /// A verifier no proof matches, for a user wirecache does not know: the exchange
    /// runs to its end as for a real user and fails there, as PostgreSQL's does. Its
    /// salt is the same for every attempt at `user` but derived with a key of this
    /// process's (as PostgreSQL's mock nonce): a salt anyone could compute from the
    /// name would tell an unknown user from a known one.
    pub fn mock(user: &str) -> Verifier {
        static KEY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let key = KEY.get_or_init(|| random_bytes(32));
        let salt = hmac(key, &[b"salt\0", user.as_bytes()]);
        Verifier {
            iterations: ITERATIONS,
            salt: salt.get(..16).unwrap_or_default().to_vec(),
            stored_key: hmac(key, &[b"stored key\0", user.as_bytes()]),
            server_key: [0; 32],
        }
    }
}

/// `key=value` attributes of a SCRAM message, in order.
pub fn attributes(msg: &str) -> impl Iterator<Item = (u8, &str)> {
    msg.split(',').filter_map(|a| {
        let (k, v) = a.split_once('=')?;
        match k.as_bytes() {
            [k] => Some((*k, v)),
            _ => None,
        }
    })
}

fn attribute(msg: &str, key: u8) -> Option<&str> {
    attributes(msg).find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// The server's side of one exchange after the client's first message.
pub struct ServerExchange {
    verifier: Verifier,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

impl ServerExchange {
    /// Reads the client-first-message and answers with the server-first-message.
    /// A `p=` (channel binding) header is refused: wirecache offers no `-PLUS`.
    pub fn start(
        client_first: &str,
        verifier: Verifier,
        server_nonce: &str,
    ) -> Result<(ServerExchange, String), ScramError> {
        let mut parts = client_first.splitn(3, ',');
        let (cb, authzid, bare) = (parts.next(), parts.next(), parts.next());
        let (Some(cb), Some(authzid), Some(bare)) = (cb, authzid, bare) else {
            return Err(ScramError::Malformed);
        };
        // An authorization identity (`a=`) is refused, as PostgreSQL refuses it: the
        // session's user is the startup packet's.
        if !authzid.is_empty() {
            return Err(ScramError::Malformed);
        }
        match cb {
            "n" | "y" => {}
            c if c.starts_with("p=") => return Err(ScramError::ChannelBinding),
            _ => return Err(ScramError::Malformed),
        }
        let client_nonce = attribute(bare, b'r').ok_or(ScramError::Malformed)?;
        if client_nonce.is_empty() || bare.starts_with("m=") {
            return Err(ScramError::Malformed);
        }
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&verifier.salt),
            verifier.iterations
        );
        let exchange = ServerExchange {
            verifier,
            gs2_header: format!("{cb},{authzid},"),
            client_first_bare: bare.to_owned(),
            server_first: server_first.clone(),
            nonce,
        };
        Ok((exchange, server_first))
    }

    /// Checks the client-final-message. Returns the server-final-message and the
    /// client's ClientKey (recovered from its proof: what logs in to an origin that
    /// stores the same verifier).
    pub fn finish(self, client_final: &str) -> Result<(String, Key), ScramError> {
        let (without_proof, proof) = client_final
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed)?;
        let binding = attribute(without_proof, b'c').ok_or(ScramError::Malformed)?;
        if B64.decode(binding).ok().as_deref() != Some(self.gs2_header.as_bytes()) {
            return Err(ScramError::ChannelBinding);
        }
        if attribute(without_proof, b'r') != Some(self.nonce.as_str()) {
            return Err(ScramError::Nonce);
        }
        let proof: Key = B64
            .decode(proof)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or(ScramError::Malformed)?;
        let auth_message = [
            self.client_first_bare.as_bytes(),
            b",",
            self.server_first.as_bytes(),
            b",",
            without_proof.as_bytes(),
        ];
        let client_signature = hmac(&self.verifier.stored_key, &auth_message);
        let client_key = xor(&proof, &client_signature);
        if !equal(&sha256(&client_key), &self.verifier.stored_key) {
            return Err(ScramError::Proof);
        }
        let server_signature = hmac(&self.verifier.server_key, &auth_message);
        Ok((format!("v={}", B64.encode(server_signature)), client_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7677 section 3.
    const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn rfc_verifier() -> Verifier {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap_or_default();
        Verifier::from_password("pencil", &salt, 4096)
    }

    #[test]
    fn rfc7677_exchange_passes_with_the_right_password() {
        let (ex, first) = ServerExchange::start(CLIENT_FIRST, rfc_verifier(), SERVER_NONCE)
            .expect("client-first");
        assert_eq!(first, SERVER_FIRST);
        let (last, key) = ex.finish(CLIENT_FINAL).expect("proof");
        assert_eq!(last, SERVER_FINAL);
        assert_eq!(sha256(&key), rfc_verifier().stored_key);
    }

    #[test]
    fn a_wrong_password_or_a_tampered_message_fails() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap_or_default();
        let wrong = Verifier::from_password("pencil2", &salt, 4096);
        let (ex, _) = ServerExchange::start(CLIENT_FIRST, wrong, SERVER_NONCE).expect("first");
        assert_eq!(ex.finish(CLIENT_FINAL).err(), Some(ScramError::Proof));
        let (ex, _) = ServerExchange::start(CLIENT_FIRST, Verifier::mock("user"), SERVER_NONCE)
            .expect("first");
        assert_eq!(ex.finish(CLIENT_FINAL).err(), Some(ScramError::Proof));
        let (ex, _) = ServerExchange::start(CLIENT_FIRST, rfc_verifier(), "other").expect("first");
        assert_eq!(ex.finish(CLIENT_FINAL).err(), Some(ScramError::Nonce));
        let start = |first: &str| ServerExchange::start(first, rfc_verifier(), "x").err();
        assert_eq!(
            start("p=tls-server-end-point,,n=,r=a"),
            Some(ScramError::ChannelBinding)
        );
        for bad in [
            "",
            "n,,",
            "n,,n=user",
            "q,,r=a",
            "n,,m=x,r=a",
            "n,,r=",
            "n,a=admin,n=,r=a",
            "y,x,n=,r=a",
        ] {
            assert_eq!(start(bad), Some(ScramError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn verifiers_parse_as_postgres_stores_them() {
        let v = rfc_verifier();
        let text = format!(
            "SCRAM-SHA-256$4096:{}${}:{}",
            B64.encode(&v.salt),
            B64.encode(v.stored_key),
            B64.encode(v.server_key)
        );
        assert_eq!(Verifier::parse(&text), Some(v.clone()));
        assert!(!format!("{v:?}").contains(&B64.encode(v.stored_key)));
        for bad in [
            "md5abc",
            "SCRAM-SHA-256$0:AA==$AA==:AA==",
            "SCRAM-SHA-256$4096:$a:b",
        ] {
            assert_eq!(Verifier::parse(bad), None, "{bad}");
        }
    }

    /// PostgreSQL derives its mock salt with a secret of the server's; one computed
    /// from the name alone (as SHA-256 of it) tells a prober the user is unknown.
    #[test]
    fn a_mock_salt_cannot_be_computed_from_the_user_name() {
        let mock = Verifier::mock("alice");
        assert_eq!(mock, Verifier::mock("alice"), "the same salt every attempt");
        assert_ne!(mock.salt, Verifier::mock("bob").salt);
        let named = sha256(b"alice");
        assert_ne!(mock.salt.as_slice(), named.get(..16).unwrap_or_default());
        assert_ne!(mock.stored_key, sha256(&named));
        assert_eq!(mock.salt.len(), rfc_verifier().salt.len());
    }

    #[test]
    fn constant_time_compare_is_a_compare() {
        assert!(equal(b"abc", b"abc"));
        assert!(!equal(b"abc", b"abd"));
        assert!(!equal(b"abc", b"ab"));
    }
}
