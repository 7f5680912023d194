//! A certificate authority of a test's own and a server certificate it signed for
//! `localhost` (not for 127.0.0.1), as PEM files, for wirecache's `[tls]` section;
//! and a TLS connector for tokio-postgres that trusts that CA ([`PgRustls`]).

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// A CA and a certificate it signed for `localhost` (not for 127.0.0.1), as files.
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = super::test_dir("tlspki");
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Distinct names: OpenSSL takes a leaf whose issuer is its own subject for a
        // self-signed certificate.
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "wirecache test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(dir.join("wc.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("wc.key"), key.serialize_pem()).unwrap();
        Pki { dir }
    }

    pub fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// The `[tls]` table presenting this certificate, plus `extra` lines.
    pub fn tls_table(&self, extra: &str) -> String {
        format!(
            "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n{extra}\n",
            self.file("wc.pem"),
            self.file("wc.key")
        )
    }
}

impl Pki {
    /// The test CA as the only root of trust.
    pub fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        let ca = std::fs::read(self.dir.join("ca.pem")).unwrap();
        for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&ca) {
            roots.add(cert.unwrap()).unwrap();
        }
        roots
    }

    /// The DER of the server certificate wirecache presents (`wc.pem`).
    pub fn server_cert_der(&self) -> Vec<u8> {
        let pem = std::fs::read(self.dir.join("wc.pem")).unwrap();
        let cert: rustls::pki_types::CertificateDer<'static> =
            rustls::pki_types::pem::PemObject::from_pem_slice(&pem).unwrap();
        cert.as_ref().to_vec()
    }

    /// A TLS connector for tokio-postgres that trusts this CA only and checks the
    /// host name (libpq's verify-full).
    pub fn pg_connector(&self) -> PgRustls {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(self.roots())
            .with_no_client_auth();
        PgRustls {
            config: Arc::new(config),
            seen: Arc::default(),
        }
    }
}

/// What a finished TLS handshake of [`PgRustls`] negotiated, read from the rustls
/// connection itself: the client's own view of its leg to wirecache.
#[derive(Clone, Debug)]
pub struct Negotiated {
    pub version: String,
    pub cipher_suite: String,
    /// DER of the first certificate the server presented.
    pub peer_cert: Vec<u8>,
}

/// tokio-postgres' `MakeTlsConnect` over tokio-rustls (ring), with no crate beyond
/// those already in the tree; it records every handshake it completes in `seen`.
#[derive(Clone)]
pub struct PgRustls {
    config: Arc<rustls::ClientConfig>,
    pub seen: Arc<Mutex<Vec<Negotiated>>>,
}

/// One connection's TLS connector, for the host name tokio-postgres is connecting to.
pub struct PgRustlsConnect {
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
    seen: Arc<Mutex<Vec<Negotiated>>>,
}

/// A TLS stream for tokio-postgres (no channel binding: wirecache hides `-PLUS`).
pub struct PgRustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S> MakeTlsConnect<S> for PgRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgRustlsStream<S>;
    type TlsConnect = PgRustlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<PgRustlsConnect, Self::Error> {
        Ok(PgRustlsConnect {
            connector: tokio_rustls::TlsConnector::from(self.config.clone()),
            name: ServerName::try_from(domain)?.to_owned(),
            seen: self.seen.clone(),
        })
    }
}

impl<S> TlsConnect<S> for PgRustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgRustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<PgRustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let tls = self.connector.connect(self.name, stream).await?;
            let conn = tls.get_ref().1;
            let negotiated = Negotiated {
                version: format!("{:?}", conn.protocol_version().expect("handshake done")),
                cipher_suite: format!(
                    "{:?}",
                    conn.negotiated_cipher_suite()
                        .expect("handshake done")
                        .suite()
                ),
                peer_cert: conn
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| c.as_ref().to_vec())
                    .unwrap_or_default(),
            };
            super::lock(&self.seen).push(negotiated);
            Ok(PgRustlsStream(tls))
        })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for PgRustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for PgRustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for PgRustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
