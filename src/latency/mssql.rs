//! The SQL Server side of `wirecache latency-test`: `mssql://user:pw@host:port/db`
//! URLs (also `sqlserver://`; port 1433 by default; user, password and database
//! percent-decoded) with an optional `encrypt=` parameter, and the connection, which
//! is wirecache's own TDS client (`protocol::tds::client`): no SQL Server driver in
//! the binary. Queries go as SQLBatch; there is no prepared mode.
//!
//! `encrypt=` takes the origin TLS modes of a cache's `tls` key — `disable` (no TLS,
//! ENCRYPT_NOT_SUP), `prefer` (the default: TLS if the server offers it, possibly for
//! the login only, nothing verified), `require`, `verify-ca`, `verify-full` — and
//! `true` / `false` for `require` / `disable`; `ca=FILE` names the CA certificates the
//! `verify-*` modes check against (the system's store otherwise).

use std::time::Duration;

use crate::config::{OriginTlsMode, OriginTlsSettings};
use crate::protocol::tds::client::{ClientError, Connection, Target};
use crate::protocol::tds::client_login::Credentials;
use crate::server::origin_tls::OriginTls;

/// Bound on connecting, the TLS handshake and the login each.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_PORT: u16 = 1433;
const APP_NAME: &str = "wirecache latency-test";

/// An `mssql://` URL taken apart.
#[derive(Clone, PartialEq, Eq)]
pub struct MsSqlUrl {
    pub host: String,
    pub port: u16,
    pub user: String,
    password: String,
    pub database: String,
    pub encrypt: OriginTlsMode,
    pub ca_file: Option<String>,
}

impl std::fmt::Debug for MsSqlUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsSqlUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("database", &self.database)
            .field("encrypt", &self.encrypt)
            .finish_non_exhaustive()
    }
}

/// Why an `mssql://` URL cannot be used; never quotes the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("no user name (mssql://user:password@host:port/database)")]
    NoUser,
    #[error("no host")]
    NoHost,
    #[error("invalid port {0:?}")]
    Port(String),
    #[error("invalid percent-encoding")]
    Encoding,
    #[error("invalid encrypt={0:?}: expected disable, prefer, require, verify-ca, verify-full")]
    Encrypt(String),
    #[error("unknown parameter {0:?} (known: encrypt, ca)")]
    Parameter(String),
}

impl MsSqlUrl {
    /// Parses `mssql://user:pw@host[:port][/db][?encrypt=…&ca=…]`.
    pub fn parse(url: &str) -> Result<MsSqlUrl, UrlError> {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (auth, location) = rest.rsplit_once('@').ok_or(UrlError::NoUser)?;
        let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
        let (hostport, database) = location.split_once('/').unwrap_or((location, ""));
        let (host, port) = split_port(hostport)?;
        let mut parsed = MsSqlUrl {
            host,
            port,
            user: decode(user)?,
            password: decode(password)?,
            database: decode(database)?,
            encrypt: OriginTlsMode::Prefer,
            ca_file: None,
        };
        if parsed.user.is_empty() {
            return Err(UrlError::NoUser);
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value)?;
            match key.to_ascii_lowercase().as_str() {
                "encrypt" => parsed.encrypt = encrypt_mode(&value)?,
                "ca" => parsed.ca_file = Some(value),
                _ => return Err(UrlError::Parameter(key.to_string())),
            }
        }
        Ok(parsed)
    }

    /// The origin TLS this URL asks for, towards its host.
    fn tls(&self) -> Result<OriginTls, String> {
        let settings = OriginTlsSettings {
            mode: self.encrypt,
            ca_file: self.ca_file.as_ref().map(Into::into),
            server_name: None,
            client_cert: None,
        };
        OriginTls::new(&settings, &self.host).map_err(|e| e.to_string())
    }
}

/// `host[:port]`, with `[v6]` hosts.
fn split_port(hostport: &str) -> Result<(String, u16), UrlError> {
    let (host, port) = match hostport.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']').ok_or(UrlError::NoHost)?;
            (host, after.strip_prefix(':'))
        }
        None => match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        },
    };
    if host.is_empty() {
        return Err(UrlError::NoHost);
    }
    let port = match port {
        Some(p) => p.parse().map_err(|_| UrlError::Port(p.to_string()))?,
        None => DEFAULT_PORT,
    };
    Ok((host.to_string(), port))
}

fn encrypt_mode(value: &str) -> Result<OriginTlsMode, UrlError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" => Ok(OriginTlsMode::Require),
        "false" | "no" => Ok(OriginTlsMode::Disable),
        other => OriginTlsMode::parse(other).ok_or_else(|| UrlError::Encrypt(value.to_string())),
    }
}

/// Percent-decoding (`%40` → `@`), UTF-8.
fn decode(s: &str) -> Result<String, UrlError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or(UrlError::Encoding)?;
            let hex = std::str::from_utf8(hex).map_err(|_| UrlError::Encoding)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| UrlError::Encoding)?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UrlError::Encoding)
}

/// Connects and logs in as the URL says. `Err` is the message to report (the server's
/// own for a refused login).
pub async fn connect(url: &MsSqlUrl) -> Result<Connection, String> {
    let tls = url.tls()?;
    let origin = if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let target = Target {
        origin: &origin,
        tls: Some(&tls),
        timeout: CONNECT_TIMEOUT,
    };
    let creds = Credentials {
        user: &url.user,
        password: &url.password,
        database: &url.database,
        app: APP_NAME,
    };
    Connection::login(&target, &creds)
        .await
        .map_err(|e: ClientError| e.to_string())
}

/// Runs `query` once as a SQLBatch; the rows of every result, or the server's error.
pub async fn run(conn: &mut Connection, query: &str) -> Result<u64, String> {
    let answer = conn.batch(query).await.map_err(|e| e.to_string())?;
    match answer.error {
        Some((number, text)) => Err(format!("server error {number}: {text}")),
        None => Ok(answer.rows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = MsSqlUrl::parse("mssql://sq-app:p%40ss:w@db.example:14330/shop").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.user.as_str()),
            ("db.example", 14330, "sq-app")
        );
        assert_eq!(u.password, "p@ss:w");
        assert_eq!(u.database, "shop");
        assert_eq!(u.encrypt, OriginTlsMode::Prefer);
        let u = MsSqlUrl::parse("sqlserver://u@[::1]/d?encrypt=verify-full&ca=/x/ca.pem").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 1433));
        assert_eq!(u.encrypt, OriginTlsMode::VerifyFull);
        assert_eq!(u.ca_file.as_deref(), Some("/x/ca.pem"));
        let u = MsSqlUrl::parse("mssql://u:pw@h/d?Encrypt=false").unwrap();
        assert_eq!(u.encrypt, OriginTlsMode::Disable);
        for (url, want) in [
            ("mssql://h:1/d", UrlError::NoUser),
            ("mssql://:pw@h/d", UrlError::NoUser),
            ("mssql://u:pw@:1/d", UrlError::NoHost),
            ("mssql://u:pw@h:x/d", UrlError::Port("x".into())),
            ("mssql://u:p%zz@h/d", UrlError::Encoding),
            (
                "mssql://u:pw@h/d?encrypt=maybe",
                UrlError::Encrypt("maybe".into()),
            ),
            (
                "mssql://u:pw@h/d?password=x",
                UrlError::Parameter("password".into()),
            ),
        ] {
            assert_eq!(MsSqlUrl::parse(url), Err(want), "{url}");
        }
        let shown = format!("{:?}", MsSqlUrl::parse("mssql://u:hush@h/d").unwrap());
        assert!(!shown.contains("hush"), "{shown}");
    }
}
