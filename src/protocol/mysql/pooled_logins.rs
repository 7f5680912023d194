//! The logins of a pooled MySQL/MariaDB cache, from its userlist (`"user" "secret"`
//! lines, see `crate::pool::userlist`): the secret is a password, or the
//! `mysql_native_password` hash `*` + 40 hex digits as `mysql.user` shows it. A
//! password checks both plugins and logs in to the origin with either; a hash checks
//! `mysql_native_password` tokens (and cleartext passwords over TLS), and logs in to
//! the origin with the `SHA1(password)` a good client token revealed, so the first
//! origin connection of such a user opens once that user has logged in. MySQL 8's
//! `$A$005$…` caching_sha2_password hashes are refused at start-up. Nothing here is
//! ever logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::scramble::{self, Sha1, Sha256};
use crate::pool::userlist::Userlist;

/// Why a userlist entry cannot serve as a MySQL login.
#[derive(Debug, thiserror::Error)]
#[error(
    "user {user:?}: the stored secret looks like a hash other than mysql_native_password's *HEX (caching_sha2_password's $A$005$ hashes cannot check a login): store the password"
)]
pub struct LoginError {
    pub user: String,
}

/// What a login was stored as.
enum Stored {
    Password {
        text: String,
        native: Sha1,
        sha2: Sha256,
    },
    NativeHash(Sha1),
}

/// One user's login.
pub struct Login {
    stored: Stored,
    /// `SHA1(password)`, learnt from a good client token when only the hash is stored.
    learnt: Mutex<Option<Sha1>>,
}

/// What wirecache proves itself with at the origin.
#[derive(Clone)]
pub enum OriginSecret {
    Password(String),
    /// `SHA1(password)`: enough for mysql_native_password only.
    NativeKey(Sha1),
}

impl Login {
    fn new(secret: &str) -> Option<Login> {
        let stored = if let Some(hash) = scramble::parse_native_hash(secret) {
            Stored::NativeHash(hash)
        } else if secret.starts_with("$A$") || secret.starts_with("$5$") {
            return None;
        } else {
            Login::password(secret)
        };
        Some(Login {
            stored,
            learnt: Mutex::new(None),
        })
    }

    fn password(text: &str) -> Stored {
        Stored::Password {
            text: text.to_owned(),
            native: scramble::native_hash(&scramble::native_key(text.as_bytes())),
            sha2: scramble::sha2_hash(text.as_bytes()),
        }
    }

    /// A login no client can pass: what an unknown user is checked against, so that
    /// it gets the same exchange and answer as a wrong password.
    pub fn nobody() -> Login {
        let text = String::from_utf8_lossy(&scramble::random_scramble()).into_owned();
        Login {
            stored: Login::password(&text),
            learnt: Mutex::new(None),
        }
    }

    /// Whether a caching_sha2_password fast-path token can be checked (a password is
    /// stored).
    pub fn has_password(&self) -> bool {
        matches!(self.stored, Stored::Password { .. })
    }

    fn learn(&self, key: Sha1) {
        if let Stored::NativeHash(_) = self.stored {
            *self.learnt.lock().unwrap_or_else(|e| e.into_inner()) = Some(key);
        }
    }

    fn native_stored(&self) -> &Sha1 {
        match &self.stored {
            Stored::Password { native, .. } => native,
            Stored::NativeHash(h) => h,
        }
    }

    /// Checks a mysql_native_password token for `scramble`.
    pub fn check_native(&self, scramble: &[u8], token: &[u8]) -> bool {
        if token.is_empty() {
            return self.empty_password();
        }
        match scramble::native_check(self.native_stored(), scramble, token) {
            Some(key) => {
                self.learn(key);
                true
            }
            None => false,
        }
    }

    /// Checks a caching_sha2_password fast-path token for `scramble`.
    pub fn check_sha2(&self, scramble: &[u8], token: &[u8]) -> bool {
        if token.is_empty() {
            return self.empty_password();
        }
        match &self.stored {
            Stored::Password { sha2, .. } => scramble::sha2_check(sha2, scramble, token),
            Stored::NativeHash(_) => false,
        }
    }

    /// Checks a password sent in clear (caching_sha2_password's full authentication,
    /// over TLS only).
    pub fn check_cleartext(&self, password: &[u8]) -> bool {
        match &self.stored {
            Stored::Password { text, .. } => scramble::same(text.as_bytes(), password),
            Stored::NativeHash(h) => {
                let key = scramble::native_key(password);
                let ok = scramble::same(&scramble::native_hash(&key), h);
                if ok {
                    self.learn(key);
                }
                ok
            }
        }
    }

    fn empty_password(&self) -> bool {
        match &self.stored {
            Stored::Password { text, .. } => text.is_empty(),
            // An empty password has an empty authentication_string, never a hash.
            Stored::NativeHash(_) => false,
        }
    }

    /// What the origin login proves itself with, if anything is known yet.
    pub fn secret(&self) -> Option<OriginSecret> {
        match &self.stored {
            Stored::Password { text, .. } => Some(OriginSecret::Password(text.clone())),
            Stored::NativeHash(_) => {
                let key = *self.learnt.lock().unwrap_or_else(|e| e.into_inner());
                key.map(OriginSecret::NativeKey)
            }
        }
    }
}

/// User name → login.
#[derive(Default)]
pub struct Logins {
    users: HashMap<String, Arc<Login>>,
    /// Every login stores a password (none only a `*HEX` hash): caching_sha2_password's
    /// fast path can then be offered to plaintext clients.
    all_passwords: bool,
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
        let all_passwords = users.values().all(|l| l.has_password());
        Ok(Logins {
            users,
            all_passwords,
        })
    }

    /// Whether every login stores a password (see the field).
    pub fn all_passwords(&self) -> bool {
        self.all_passwords
    }

    pub fn get(&self, user: &str) -> Option<Arc<Login>> {
        self.users.get(user).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_native_hashes() {
        let list = Userlist::parse(
            "\"a\" \"pw\"\n\"b\" \"*14E65567ABDB5135D0CFD9A70B3032C179A49EE7\"\n\"e\" \"\"",
        )
        .expect("list");
        let logins = Logins::new(&list).expect("logins");
        let s = scramble::random_scramble();
        let a = logins.get("a").expect("a");
        assert!(a.check_native(
            &s,
            &scramble::native_token(&scramble::native_key(b"pw"), &s)
        ));
        assert!(a.check_sha2(&s, &scramble::sha2_token(b"pw", &s)));
        assert!(!a.check_sha2(&s, &scramble::sha2_token(b"px", &s)));
        assert!(a.check_cleartext(b"pw") && !a.check_cleartext(b"p"));
        assert!(!a.check_native(&s, &[]));
        assert!(matches!(a.secret(), Some(OriginSecret::Password(_))));

        let b = logins.get("b").expect("b");
        assert!(b.secret().is_none(), "nothing learnt before a good login");
        assert!(!b.check_sha2(&s, &scramble::sha2_token(b"secret", &s)));
        let key = scramble::native_key(b"secret");
        assert!(b.check_native(&s, &scramble::native_token(&key, &s)));
        assert!(matches!(b.secret(), Some(OriginSecret::NativeKey(k)) if k == key));
        assert!(b.check_cleartext(b"secret") && !b.check_cleartext(b"Secret"));

        let e = logins.get("e").expect("e");
        assert!(e.check_native(&s, &[]) && e.check_sha2(&s, &[]));
        assert!(!Login::nobody().check_native(&s, &[]));

        let sha2 =
            Userlist::parse("\"c\" \"$A$005$abcdefghijklmnopqrst0123456789\"").expect("list");
        assert!(Logins::new(&sha2).is_err());
    }
}
