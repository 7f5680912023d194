//! TLS towards clients (design §6): the server certificate wirecache presents, from PEM
//! files (a chain and its key) or, when none are configured, a self-signed certificate
//! made at start-up. The certificate sits behind a resolver, so a reload (files
//! changed, SIGHUP) swaps it for every handshake that follows without rebuilding the
//! acceptor or touching sessions already running. One crypto provider: ring.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// Names a self-signed certificate is made for.
const SELF_SIGNED_NAMES: [&str; 2] = ["localhost", "wirecache"];

/// Why TLS could not be set up; each names the file or step.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the certificate chain {path}: {reason}")]
    Chain { path: PathBuf, reason: String },
    #[error("the certificate file {0} holds no certificate")]
    EmptyChain(PathBuf),
    #[error("cannot read the private key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("the key in {path} does not fit: {reason}")]
    KeyMismatch { path: PathBuf, reason: String },
    #[error("cannot make a self-signed certificate: {0}")]
    SelfSigned(String),
    #[error("cannot read the CA file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("TLS settings refused: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The process's one crypto provider.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Where the server certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    /// PEM files: the chain (leaf first) and its private key.
    Files { chain: PathBuf, key: PathBuf },
    /// Made at start-up; clients that verify will refuse it.
    SelfSigned,
}

/// The certificate presented to clients, swappable at run time.
pub struct ServerTls {
    source: CertSource,
    resolver: Arc<Resolver>,
    acceptor: TlsAcceptor,
    /// Modification times of the files when last loaded.
    loaded: RwLock<Option<(SystemTime, SystemTime)>>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("source", &self.source)
            .finish()
    }
}

impl ServerTls {
    pub fn new(source: CertSource) -> Result<ServerTls, TlsError> {
        let key = load(&source)?;
        let resolver = Arc::new(Resolver {
            current: RwLock::new(Arc::new(key)),
        });
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        let tls = ServerTls {
            loaded: RwLock::new(mtimes(&source)),
            source,
            resolver,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        };
        Ok(tls)
    }

    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// An acceptor presenting the same (reloadable) certificate that also negotiates
    /// one of `alpn` when the client offers it.
    pub fn acceptor_with_alpn(&self, alpn: &[&[u8]]) -> Result<TlsAcceptor, TlsError> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.resolver.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// An acceptor presenting the same (reloadable) certificate that speaks TLS 1.2
    /// only and never resumes a session: for a handshake carried inside another
    /// protocol's packets (TDS before 8.0, as SQL Server does), where the server must
    /// speak last so that the client's final flight goes out before the handshake ends.
    pub fn acceptor_tls12_full_handshake(&self) -> Result<TlsAcceptor, TlsError> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(self.resolver.clone());
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    pub fn source(&self) -> &CertSource {
        &self.source
    }

    /// Loads the files again and presents them from the next handshake on. On error the
    /// certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        if self.source == CertSource::SelfSigned {
            return Ok(());
        }
        let key = load(&self.source)?;
        *write(&self.resolver.current) = Arc::new(key);
        *write(&self.loaded) = mtimes(&self.source);
        Ok(())
    }

    /// Whether either file changed since it was last loaded (polled by the daemon).
    pub fn files_changed(&self) -> bool {
        let now = mtimes(&self.source);
        now.is_some() && now != *read(&self.loaded)
    }

    /// The leaf certificate presented now (tests, logs).
    pub fn current_leaf(&self) -> Option<CertificateDer<'static>> {
        read(&self.resolver.current).cert.first().cloned()
    }
}

/// Hands every handshake the certificate loaded last.
#[derive(Debug)]
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(read(&self.current).clone())
    }
}

fn load(source: &CertSource) -> Result<CertifiedKey, TlsError> {
    let (chain, key, key_path) = match source {
        CertSource::Files { chain, key } => (read_chain(chain)?, read_key(key)?, key.clone()),
        CertSource::SelfSigned => {
            let (chain, key) = self_signed()?;
            (chain, key, PathBuf::from("(self-signed)"))
        }
    };
    let provider = provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Key {
            path: key_path.clone(),
            reason: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| TlsError::KeyMismatch {
        path: key_path,
        reason: e.to_string(),
    })?;
    Ok(certified)
}

/// A certificate chain from a PEM file, leaf first.
pub fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let fail = |reason: String| TlsError::Chain {
        path: path.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::EmptyChain(path.to_path_buf()));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Key {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// A fresh self-signed certificate for `localhost` and `wirecache`.
fn self_signed() -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|n| n.to_string()).collect();
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
    let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
        .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
    Ok((vec![made.cert.der().clone()], key))
}

fn mtimes(source: &CertSource) -> Option<(SystemTime, SystemTime)> {
    let CertSource::Files { chain, key } = source else {
        return None;
    };
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(chain)?, m(key)?))
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
