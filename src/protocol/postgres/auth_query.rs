//! `auth_query`: the verifier of a user the userlist does not name, looked up at the
//! origin over a pooled connection of `auth_user` (whose own login is in the
//! userlist), as PgBouncer does. The query's `$1` becomes the user name as a quoted
//! literal; its first row's second column must be a SCRAM-SHA-256 verifier (anything
//! else, or no row, and the login fails as an unknown user's does). The verifier is
//! never logged.

use super::errors::PgError;
use super::logins::Login;
use super::messages::Body;
use super::origin_login::{self, LoginFailure, OriginConn};
use crate::engine::CacheCtx;
use crate::pool::{LeaseError, Pools};
use crate::server::origin_tls::OriginTls;

/// How the lookup is made.
pub struct AuthQuery {
    pub user: String,
    pub query: String,
}

/// `s` as a string literal, whatever standard_conforming_strings and the connection's
/// client_encoding are. An ASCII name is an escaped `E'…'`; any other is spelled in
/// hex digits (`convert_from(decode('…', 'hex'), 'UTF8')`), because in a client-only
/// encoding (SJIS, BIG5, GBK, …, set by a client of auth_user's pool or by the role)
/// a non-ASCII byte can swallow the backslash that escapes a quote, ending the literal
/// early: SQL of an unauthenticated client's choosing run as auth_user.
pub fn literal(s: &str) -> String {
    if s.is_ascii() {
        return format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
    }
    let hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
    format!("convert_from(decode('{hex}', 'hex'), 'UTF8')")
}

/// The second column of a DataRow body, as text (`None`: NULL or malformed).
fn second_column(row: &[u8]) -> Option<String> {
    let mut b = Body::new(row);
    let columns = b.i16()?;
    if columns < 2 {
        return None;
    }
    let first = usize::try_from(b.i32()?).unwrap_or(0);
    b.take(first)?;
    let len = usize::try_from(b.i32()?).ok()?;
    String::from_utf8(b.take(len)?.to_vec()).ok()
}

/// Where a lookup runs: the cache, its origin TLS, its pools and the database.
pub struct Place<'a> {
    pub cache: &'a CacheCtx,
    pub tls: Option<&'a OriginTls>,
    pub pools: &'a Pools<(String, String), OriginConn>,
    pub database: &'a str,
}

impl AuthQuery {
    /// The login of `user`, if the origin knows a SCRAM verifier for it.
    pub async fn lookup(
        &self,
        at: &Place<'_>,
        auth_login: &Login,
        user: &str,
    ) -> Result<Option<Login>, PgError> {
        let secret = auth_login
            .secret()
            .ok_or(PgError::Origin("auth_user has no password in the userlist"))?;
        let pool = at.pools.get(&(self.user.clone(), at.database.to_owned()));
        let target = (self.user.as_str(), at.database);
        let open = || origin_login::open(at.cache, at.tls, target, &secret);
        let mut lease = match pool.lease(open).await {
            Ok(lease) => lease,
            Err(LeaseError::QueueTimeout(_)) => {
                return Err(PgError::TooManyConnections(
                    crate::stats::Refusal::QueueTimeout,
                ));
            }
            Err(LeaseError::Open(LoginFailure::Session(e))) => return Err(e),
            Err(LeaseError::Open(LoginFailure::Refused(_))) => {
                return Err(PgError::Origin("the origin refused auth_user's login"));
            }
        };
        let mut conn = lease.take().ok_or(PgError::Origin("empty lease"))?;
        let sql = self.query.replace("$1", &literal(user));
        let answer = origin_login::run_for_row(&mut conn, &sql).await;
        let (error, row) = answer?;
        lease.give_back(conn);
        if error.is_some() {
            tracing::warn!(cache = %at.cache.id, "auth_query failed at the origin");
            return Err(PgError::Origin("auth_query failed"));
        }
        let secret = row.as_deref().and_then(second_column);
        Ok(secret.and_then(|s| Login::verifier_only(&s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_quoted() {
        assert_eq!(literal("o'neil\\x"), "E'o\\'neil\\\\x'");
        assert_eq!(
            literal("\u{e9}"),
            "convert_from(decode('c3a9', 'hex'), 'UTF8')"
        );
    }

    /// In SJIS, "\u{101}" (UTF-8 C4 81) followed by the backslash of an escaped quote
    /// reads as C4, then the pair 81 5C: the quote after it ends the literal.
    #[test]
    fn a_non_ascii_name_cannot_end_the_literal_in_any_client_encoding() {
        for name in ["\u{101}' OR true --", "\u{101}\\' OR true --", "\u{3042}'"] {
            let sql = literal(name);
            assert!(sql.is_ascii(), "{sql}");
            assert!(!sql.contains('\\'), "{sql}");
            assert_eq!(sql.matches('\'').count(), 6, "{sql}");
        }
    }

    #[test]
    fn the_second_column_is_read_within_bounds() {
        let mut row = vec![0, 2];
        row.extend_from_slice(&3i32.to_be_bytes());
        row.extend_from_slice(b"app");
        row.extend_from_slice(&4i32.to_be_bytes());
        row.extend_from_slice(b"SCRA");
        assert_eq!(second_column(&row).as_deref(), Some("SCRA"));
        let mut null = row.get(..9).unwrap_or_default().to_vec();
        null.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(second_column(&null), None);
        for cut in 0..row.len() - 1 {
            assert_eq!(
                second_column(row.get(..cut).unwrap_or_default()),
                None,
                "{cut}"
            );
        }
    }
}
