//! The logins pooled mode checks itself: a PgBouncer-style userlist (`auth_file`,
//! one `"user" "secret"` per line, `""` a quote inside quotes, other lines ignored)
//! plus a cache's `user` / `password` keys (the environment's way in). A secret is a
//! password or a protocol's stored verifier (PostgreSQL: `SCRAM-SHA-256$…`;
//! MySQL/MariaDB: the mysql_native_password hash `*` + 40 hex digits, as `mysql.user`
//! shows it); which is the protocol's to tell. The line format is the same for every
//! protocol. [`Secret`] never shows its text in `Debug` or `Display`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A password or verifier. Read it with [`Secret::expose`], only to use it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why a userlist could not be read. The secret's text is never part of it.
#[derive(Debug, thiserror::Error)]
pub enum UserlistError {
    #[error("cannot read auth_file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("auth_file {path} line {line}: expected \"user\" \"secret\"")]
    Syntax { path: PathBuf, line: usize },
}

/// User name → secret.
#[derive(Debug, Clone, Default)]
pub struct Userlist {
    users: HashMap<String, Secret>,
}

impl Userlist {
    /// Reads `path` (if any), then adds `user` with `password` (if given), which wins.
    pub fn load(
        path: Option<&Path>,
        user: Option<(&str, &str)>,
    ) -> Result<Userlist, UserlistError> {
        let mut list = match path {
            None => Userlist::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| UserlistError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Userlist::parse(&text).map_err(|line| UserlistError::Syntax {
                    path: path.to_owned(),
                    line,
                })?
            }
        };
        if let Some((user, password)) = user {
            list.users.insert(user.to_owned(), Secret::new(password));
        }
        Ok(list)
    }

    /// Parses a userlist; the error is the number of the first malformed line.
    pub fn parse(text: &str) -> Result<Userlist, usize> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if !line.starts_with('"') {
                continue;
            }
            let (user, rest) = quoted(line).ok_or(i + 1)?;
            let (secret, rest) = quoted(rest.trim_start()).ok_or(i + 1)?;
            if user.is_empty() || !rest.trim().is_empty() {
                return Err(i + 1);
            }
            users.insert(user, Secret::new(secret));
        }
        Ok(Userlist { users })
    }

    pub fn get(&self, user: &str) -> Option<&Secret> {
        self.users.get(user)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Secret)> {
        self.users.iter().map(|(u, s)| (u.as_str(), s))
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// A `"…"` string at the start of `s` (`""` inside is one quote) and what follows it.
fn quoted(s: &str) -> Option<(String, &str)> {
    let mut rest = s.strip_prefix('"')?;
    let mut out = String::new();
    loop {
        let end = rest.find('"')?;
        out.push_str(rest.get(..end)?);
        rest = rest.get(end + 1..)?;
        match rest.strip_prefix('"') {
            Some(after) => {
                out.push('"');
                rest = after;
            }
            None => return Some((out, rest)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pgbouncer_userlists() {
        let text = "; comment\n\"app\" \"SCRAM-SHA-256$4096:c2FsdA==$a:b\"\n\n\"we\"\"ird\" \"pa ss\"\"word\"\n";
        let list = Userlist::parse(text).expect("valid");
        assert_eq!(list.len(), 2);
        let app = list.get("app").map(Secret::expose);
        assert_eq!(app, Some("SCRAM-SHA-256$4096:c2FsdA==$a:b"));
        assert_eq!(list.get("we\"ird").map(Secret::expose), Some("pa ss\"word"));
        for bad in [
            "\"app\"",
            "\"app\" secret",
            "\"\" \"x\"",
            "\"a\" \"b\" \"c\"",
            "\"a",
        ] {
            assert_eq!(Userlist::parse(bad).err(), Some(1), "{bad}");
        }
    }

    #[test]
    fn mysql_userlists_hold_passwords_and_native_hashes() {
        let text =
            "# MySQL\n\"app\" \"*14E65567ABDB5135D0CFD9A70B3032C179A49EE7\"\n\"svc\" \"pw\"\n";
        let list = Userlist::parse(text).expect("valid");
        assert_eq!(list.len(), 2);
        let app = list.get("app").map(Secret::expose);
        assert_eq!(app, Some("*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"));
        assert_eq!(list.get("svc").map(Secret::expose), Some("pw"));
    }

    #[test]
    fn secrets_do_not_show() {
        let list = Userlist::parse("\"app\" \"hunter2\"").expect("valid");
        assert!(!format!("{list:?}").contains("hunter2"));
    }

    #[test]
    fn the_configured_user_wins() {
        let dir = std::env::temp_dir().join(format!("wc-userlist-{}", std::process::id()));
        let _ = std::fs::write(&dir, "\"app\" \"old\"\n\"other\" \"x\"\n");
        let list = Userlist::load(Some(&dir), Some(("app", "new"))).expect("load");
        assert_eq!(list.get("app").map(Secret::expose), Some("new"));
        assert_eq!(list.len(), 2);
        let _ = std::fs::remove_file(&dir);
        let missing = Userlist::load(Some(Path::new("/nonexistent/userlist")), None);
        assert!(matches!(missing, Err(UserlistError::Read { .. })));
    }
}
