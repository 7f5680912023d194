//! The client side of SCRAM-SHA-256 for the raw frontend (`Raw::login_password`):
//! wirecache's pooled mode checks every login with it. No channel binding.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::{digest, hmac, pbkdf2};

/// One exchange: the client-first-message sent, the password to prove.
pub struct Scram {
    nonce: String,
    password: String,
}

impl Scram {
    pub fn new(password: &str) -> Scram {
        let nonce: String = (0..24)
            .map(|i| char::from(b'a' + ((i * 7 + 3) % 26) as u8))
            .collect();
        Scram {
            nonce,
            password: password.to_owned(),
        }
    }

    fn bare(&self) -> String {
        format!("n=,r={}", self.nonce)
    }

    /// The client-first-message.
    pub fn first(&self) -> String {
        format!("n,,{}", self.bare())
    }

    /// The client-final-message answering `server_first`.
    pub fn last(&self, server_first: &str) -> String {
        let attr = |k: &str| {
            server_first
                .split(',')
                .find_map(|a| a.strip_prefix(k))
                .unwrap_or_else(|| panic!("no {k} in {server_first}"))
                .to_owned()
        };
        let (nonce, salt, iterations) = (attr("r="), attr("s="), attr("i="));
        assert!(
            nonce.starts_with(&self.nonce),
            "the server changed our nonce"
        );
        let salt = B64.decode(salt).expect("salt");
        let iterations = iterations.parse().expect("iterations");
        let mut salted = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            &salt,
            self.password.as_bytes(),
            &mut salted,
        );
        let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
        let client_key = hmac::sign(&key, b"Client Key");
        let stored = digest::digest(&digest::SHA256, client_key.as_ref());
        let without_proof = format!("c=biws,r={nonce}");
        let message = format!("{},{server_first},{without_proof}", self.bare());
        let signature = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, stored.as_ref()),
            message.as_bytes(),
        );
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(signature.as_ref())
            .map(|(a, b)| a ^ b)
            .collect();
        format!("{without_proof},p={}", B64.encode(proof))
    }
}
