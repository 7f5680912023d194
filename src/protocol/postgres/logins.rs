//! The logins of a pooled PostgreSQL cache, from its userlist: per user, the SCRAM
//! verifier clients are checked against (stored, or derived once from a stored
//! password with a random salt), the password if one is stored (what wirecache logs
//! in to the origin with), and otherwise the ClientKey the user's last good proof
//! revealed (which logs in to an origin holding the same verifier). Nothing here is
//! ever logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::scram::{ITERATIONS, Key, Verifier};
use super::scram_client::Proof;
use crate::pool::userlist::Userlist;

/// Why a userlist entry cannot serve as a PostgreSQL login.
#[derive(Debug, thiserror::Error)]
#[error(
    "user {user:?}: the stored secret is neither a password nor a SCRAM-SHA-256 verifier (MD5 hashes cannot check a SCRAM login)"
)]
pub struct LoginError {
    pub user: String,
}

/// One user's login.
pub struct Login {
    pub verifier: Verifier,
    password: Option<String>,
    client_key: Mutex<Option<Key>>,
}

impl Login {
    fn new(secret: &str) -> Option<Login> {
        if secret.starts_with("SCRAM-") {
            return Verifier::parse(secret).map(|verifier| Login {
                verifier,
                password: None,
                client_key: Mutex::new(None),
            });
        }
        if secret.starts_with("md5") && secret.len() == 35 {
            return None;
        }
        let salt = super::scram::random_bytes(16);
        Some(Login {
            verifier: Verifier::from_password(secret, &salt, ITERATIONS),
            password: Some(secret.to_owned()),
            client_key: Mutex::new(None),
        })
    }

    /// A login from a verifier the origin holds (`auth_query`); `None` for anything
    /// but a SCRAM-SHA-256 verifier.
    pub fn verifier_only(secret: &str) -> Option<Login> {
        Verifier::parse(secret).map(|verifier| Login {
            verifier,
            password: None,
            client_key: Mutex::new(None),
        })
    }

    /// Remembers the ClientKey a good proof revealed (only needed without a password).
    pub fn learn(&self, key: Key) {
        if self.password.is_none() {
            *self.client_key.lock().unwrap_or_else(|e| e.into_inner()) = Some(key);
        }
    }

    /// What the origin login proves itself with, if anything is known yet.
    pub fn secret(&self) -> Option<OriginSecret> {
        if let Some(p) = &self.password {
            return Some(OriginSecret::Password(p.clone()));
        }
        let key = *self.client_key.lock().unwrap_or_else(|e| e.into_inner());
        key.map(|k| OriginSecret::ClientKey(k, self.verifier.clone()))
    }
}

/// An owned [`Proof`], taken out of a [`Login`] for one origin login.
pub enum OriginSecret {
    Password(String),
    ClientKey(Key, Verifier),
}

impl OriginSecret {
    pub fn proof(&self) -> Proof<'_> {
        match self {
            OriginSecret::Password(p) => Proof::Password(p),
            OriginSecret::ClientKey(k, v) => Proof::ClientKey(k, v),
        }
    }

    pub fn password(&self) -> Option<&str> {
        match self {
            OriginSecret::Password(p) => Some(p),
            OriginSecret::ClientKey(..) => None,
        }
    }
}

/// User name → login.
#[derive(Default)]
pub struct Logins {
    users: HashMap<String, Arc<Login>>,
}

impl Logins {
    pub fn new(list: &Userlist) -> Result<Logins, LoginError> {
        let mut users = HashMap::new();
        for (user, secret) in list.iter() {
            let login = Login::new(secret.expose()).ok_or_else(|| LoginError {
                user: user.to_owned(),
            })?;
            users.insert(user.to_owned(), Arc::new(login));
        }
        Ok(Logins { users })
    }

    pub fn get(&self, user: &str) -> Option<Arc<Login>> {
        self.users.get(user).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verifiers_and_md5_hashes() {
        let list = Userlist::parse(
            "\"a\" \"pw\"\n\"b\" \"SCRAM-SHA-256$4096:c2FsdHNhbHQ=$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"",
        )
        .expect("list");
        let logins = Logins::new(&list).expect("logins");
        let a = logins.get("a").expect("a");
        assert!(matches!(a.secret(), Some(OriginSecret::Password(_))));
        let b = logins.get("b").expect("b");
        assert!(b.secret().is_none(), "no ClientKey before a good login");
        b.learn([7; 32]);
        assert!(matches!(b.secret(), Some(OriginSecret::ClientKey(..))));
        let md5 = Userlist::parse("\"c\" \"md5d41d8cd98f00b204e9800998ecf8427e\"").expect("list");
        assert!(Logins::new(&md5).is_err());
    }
}
