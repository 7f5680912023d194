//! The client side of SCRAM-SHA-256, for wirecache's own logins to an origin in
//! pooled mode: with a stored password (salted with the origin's salt), or with the
//! ClientKey a client's proof revealed when the stored secret is the origin's own
//! verifier (the origin's salt and iterations must then be the verifier's). The
//! origin's server signature is checked. Sans-I/O; nothing here logs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::scram::{
    Key, MAX_ITERATIONS, ScramError, Verifier, attributes, client_key, equal, hmac, random_b64,
    salted_password, sha256, xor,
};

/// What wirecache proves its login with.
#[derive(Clone, Copy)]
pub enum Proof<'a> {
    Password(&'a str),
    /// A ClientKey and the verifier it belongs to.
    ClientKey(&'a Key, &'a Verifier),
}

/// One exchange after the client-first-message was sent.
pub struct ClientExchange {
    client_first_bare: String,
    nonce: String,
}

impl ClientExchange {
    /// A new exchange and its client-first-message (no channel binding, the user name
    /// left empty: PostgreSQL takes it from the startup packet).
    pub fn new() -> (ClientExchange, String) {
        Self::with_nonce(random_b64(18))
    }

    fn with_nonce(nonce: String) -> (ClientExchange, String) {
        let client_first_bare = format!("n=,r={nonce}");
        let first = format!("n,,{client_first_bare}");
        let exchange = ClientExchange {
            client_first_bare,
            nonce,
        };
        (exchange, first)
    }

    /// Answers the server-first-message: the client-final-message, and the server
    /// signature the server-final-message must carry.
    pub fn respond(self, server_first: &str, proof: Proof) -> Result<(String, Key), ScramError> {
        let (mut nonce, mut salt, mut iterations) = (None, None, None);
        for (k, v) in attributes(server_first) {
            match k {
                b'r' => nonce = Some(v),
                b's' => salt = B64.decode(v).ok(),
                b'i' => iterations = v.parse::<u32>().ok(),
                _ => {}
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(ScramError::Malformed);
        };
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(ScramError::Nonce);
        }
        if iterations == 0 || iterations > MAX_ITERATIONS || salt.is_empty() {
            return Err(ScramError::Malformed);
        }
        let (client_key, server_key) = match proof {
            Proof::Password(p) => {
                let salted = salted_password(p.as_bytes(), &salt, iterations);
                (client_key(&salted), hmac(&salted, &[b"Server Key"]))
            }
            Proof::ClientKey(key, v) if v.salt == salt && v.iterations == iterations => {
                (*key, v.server_key)
            }
            Proof::ClientKey(..) => return Err(ScramError::Proof),
        };
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = [
            self.client_first_bare.as_bytes(),
            b",",
            server_first.as_bytes(),
            b",",
            without_proof.as_bytes(),
        ];
        let signature = hmac(&sha256(&client_key), &auth_message);
        let proof = xor(&client_key, &signature);
        let expected = hmac(&server_key, &auth_message);
        Ok((format!("{without_proof},p={}", B64.encode(proof)), expected))
    }
}

/// Checks the server-final-message against the signature `respond` expected.
pub fn check_final(server_final: &str, expected: &Key) -> Result<(), ScramError> {
    let v = server_final
        .strip_prefix("v=")
        .ok_or(ScramError::ServerSignature)?;
    let v = B64.decode(v).map_err(|_| ScramError::Malformed)?;
    match equal(&v, expected) {
        true => Ok(()),
        false => Err(ScramError::ServerSignature),
    }
}

#[cfg(test)]
mod tests {
    use super::super::scram::ServerExchange;
    use super::*;

    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

    #[test]
    fn rfc7677_client_side() {
        let (ex, first) = ClientExchange::with_nonce("rOprNGfwEbeRWgbNEkqO".to_owned());
        assert_eq!(first, "n,,n=,r=rOprNGfwEbeRWgbNEkqO");
        let (last, expected) = ex
            .respond(SERVER_FIRST, Proof::Password("pencil"))
            .expect("respond");
        // The RFC's proof covers "n=user"; PostgreSQL clients send "n=", so the proof
        // differs; the server signature is checked against our own server below.
        assert!(last.starts_with("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYD"));
        assert!(check_final("v=AAAA", &expected).is_err());
    }

    /// Both sides of wirecache meet: a client with the password, then one with only
    /// the ClientKey the first proof revealed.
    #[test]
    fn the_client_key_a_proof_reveals_logs_in_again() {
        let verifier = Verifier::from_password("s3cret", b"0123456789abcdef", 4096);
        let (ex, first) = ClientExchange::new();
        let (server, server_first) =
            ServerExchange::start(&first, verifier.clone(), "srv").expect("start");
        let (last, expected) = ex
            .respond(&server_first, Proof::Password("s3cret"))
            .expect("respond");
        let (server_final, key) = server.finish(&last).expect("finish");
        check_final(&server_final, &expected).expect("server signature");

        let (ex, first) = ClientExchange::new();
        let (server, server_first) =
            ServerExchange::start(&first, verifier.clone(), "srv2").expect("start");
        let (last, expected) = ex
            .respond(&server_first, Proof::ClientKey(&key, &verifier))
            .expect("respond");
        let (server_final, _) = server.finish(&last).expect("finish");
        check_final(&server_final, &expected).expect("server signature");

        let other = Verifier::from_password("s3cret", b"another salt....", 4096);
        let (ex, first) = ClientExchange::new();
        let (_, server_first) = ServerExchange::start(&first, other, "srv3").expect("start");
        let answer = ex.respond(&server_first, Proof::ClientKey(&key, &verifier));
        assert_eq!(answer.err(), Some(ScramError::Proof));
    }

    #[test]
    fn a_server_that_drops_our_nonce_is_refused() {
        let (ex, _) = ClientExchange::with_nonce("abc".to_owned());
        let r = ex.respond("r=xyz,s=AAAA,i=4096", Proof::Password("p"));
        assert_eq!(r.err(), Some(ScramError::Nonce));
        let (ex, _) = ClientExchange::with_nonce("abc".to_owned());
        let r = ex.respond("r=abcd,s=AAAA,i=0", Proof::Password("p"));
        assert_eq!(r.err(), Some(ScramError::Malformed));
    }
}
