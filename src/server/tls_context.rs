//! The TLS settings every protocol's startup consults, built once from the config:
//! whether clients may or must use TLS and the acceptors that serve them, whether a
//! password wirecache must see in clear is acceptable over a plaintext connection, and
//! each cache's origin connector. Also the upgrade of a client's connection, and the
//! reload of the certificate (files changed, SIGHUP).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::Shutdown;
use super::origin_tls::OriginTls;
use super::stream::Stream;
use super::tls::{CertSource, ServerTls, TlsError};
use crate::config::{ClientTls, Config};

/// How often the certificate files are checked for changes.
const RELOAD_POLL: Duration = Duration::from_secs(10);

/// ALPN name of PostgreSQL's direct TLS start (PostgreSQL 17 clients require it).
const PG_ALPN: &[u8] = b"postgresql";

/// Everything TLS, for every listener.
pub struct TlsContext {
    pub client: ClientTls,
    pub allow_cleartext_passwords: bool,
    /// `None` when `tls.client = "off"`.
    server: Option<Arc<ServerTls>>,
    plain: Option<TlsAcceptor>,
    postgres: Option<TlsAcceptor>,
    /// TLS 1.2, full handshakes only (TDS: TLS inside PRELOGIN packets).
    tls12: Option<TlsAcceptor>,
    /// Per cache ID.
    origins: HashMap<String, OriginTls>,
}

impl TlsContext {
    pub fn from_config(config: &Config) -> Result<TlsContext, TlsError> {
        let tls = &config.tls;
        let server = match tls.client {
            ClientTls::Off => None,
            _ => {
                let source = match &tls.cert_files {
                    Some((chain, key)) => CertSource::Files {
                        chain: chain.clone(),
                        key: key.clone(),
                    },
                    None => CertSource::SelfSigned,
                };
                Some(Arc::new(ServerTls::new(source)?))
            }
        };
        let plain = server.as_ref().map(|s| s.acceptor().clone());
        let postgres = match &server {
            Some(s) => Some(s.acceptor_with_alpn(&[PG_ALPN])?),
            None => None,
        };
        let tls12 = match &server {
            Some(s) => Some(s.acceptor_tls12_full_handshake()?),
            None => None,
        };
        let mut origins = HashMap::new();
        for cache in &config.caches {
            let host = host_of(&cache.origin);
            origins.insert(cache.id.clone(), OriginTls::new(&cache.tls, host)?);
        }
        Ok(TlsContext {
            client: tls.client,
            allow_cleartext_passwords: tls.allow_cleartext_passwords,
            server,
            plain,
            postgres,
            tls12,
            origins,
        })
    }

    /// No TLS anywhere and no password in clear: clients are never offered TLS,
    /// origins never asked (tests).
    pub fn none_strict() -> TlsContext {
        TlsContext {
            client: ClientTls::Off,
            allow_cleartext_passwords: false,
            server: None,
            plain: None,
            postgres: None,
            tls12: None,
            origins: HashMap::new(),
        }
    }

    /// The certificate presented to clients, if TLS is offered.
    pub fn server(&self) -> Option<&Arc<ServerTls>> {
        self.server.as_ref()
    }

    /// Whether a password wirecache must see in clear may cross this client connection.
    pub fn cleartext_password_ok(&self, client_tls: bool) -> bool {
        client_tls || self.allow_cleartext_passwords
    }

    /// The connector for `cache`'s origin (`disable` when the cache is unknown here).
    pub fn origin(&self, cache: &str) -> Option<&OriginTls> {
        self.origins.get(cache)
    }

    /// Upgrades a plaintext client connection; `postgres` selects the acceptor that
    /// negotiates PostgreSQL's ALPN name.
    pub async fn accept(&self, tcp: TcpStream, postgres: bool) -> std::io::Result<Stream> {
        let acceptor = if postgres {
            &self.postgres
        } else {
            &self.plain
        };
        let Some(acceptor) = acceptor else {
            return Err(std::io::Error::other("TLS is off"));
        };
        let tls = acceptor.accept(tcp).await?;
        Ok(Stream::ServerTls(Box::new(tls)))
    }

    /// The TLS 1.2 acceptor that never resumes, if TLS is offered (TDS).
    pub fn acceptor_tls12(&self) -> Option<&TlsAcceptor> {
        self.tls12.as_ref()
    }

    /// Whether TLS is offered to clients.
    pub fn offered(&self) -> bool {
        self.server.is_some()
    }
}

/// The host part of `host:port` (brackets of an IPv6 literal removed).
pub fn host_of(origin: &str) -> &str {
    let host = origin.rsplit_once(':').map_or(origin, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Reloads the certificate when its files change (polled) or on SIGHUP, until
/// shutdown. A failed reload keeps the certificate in use and says why.
pub fn spawn_reloader(server: Arc<ServerTls>, mut stop: Shutdown) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(RELOAD_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let why = tokio::select! {
                _ = tick.tick() => {
                    if !server.files_changed() {
                        continue;
                    }
                    "files changed"
                }
                Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => None } } => "SIGHUP",
                _ = stop.wait() => return,
            };
            match server.reload() {
                Ok(()) => tracing::info!(why, "TLS certificate reloaded"),
                Err(e) => {
                    tracing::warn!(why, error = %e, "TLS certificate not reloaded; the old one stays")
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn host_of_origin_addresses() {
        assert_eq!(host_of("db.internal:5432"), "db.internal");
        assert_eq!(host_of("127.0.0.1:3306"), "127.0.0.1");
        assert_eq!(host_of("[::1]:5432"), "::1");
        assert_eq!(host_of("nohost"), "nohost");
    }
}
