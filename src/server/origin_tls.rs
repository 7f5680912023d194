//! TLS towards an origin (design §6): per cache a mode as libpq names them, a CA file
//! (for example the AWS RDS bundle) or the system's CA store, the name to verify (and
//! send as SNI), and an optional client certificate. Independent of the client's TLS.
//!
//! | mode          | encrypts            | verifies the chain | verifies the name |
//! |---------------|---------------------|--------------------|-------------------|
//! | `disable`     | never               | —                  | —                 |
//! | `prefer`      | if the origin can   | no                 | no                |
//! | `require`     | always              | no                 | no                |
//! | `verify-ca`   | always              | yes                | no                |
//! | `verify-full` | always              | yes                | yes               |

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_rustls::TlsConnector;

use super::tls::{TlsError, provider, read_chain};
pub use crate::config::{OriginTlsMode, OriginTlsSettings};

/// A ready connector for one cache's origin; `None` inside for `disable`.
#[derive(Clone)]
pub struct OriginTls {
    pub mode: OriginTlsMode,
    connector: Option<TlsConnector>,
    server_name: Option<ServerName<'static>>,
}

impl std::fmt::Debug for OriginTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginTls")
            .field("mode", &self.mode)
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl OriginTls {
    /// Builds the connector for an origin at `host` (the host part of its address).
    pub fn new(settings: &OriginTlsSettings, host: &str) -> Result<OriginTls, TlsError> {
        if settings.mode == OriginTlsMode::Disable {
            return Ok(OriginTls {
                mode: settings.mode,
                connector: None,
                server_name: None,
            });
        }
        let provider = provider();
        let name = settings.server_name.as_deref().unwrap_or(host);
        let server_name = ServerName::try_from(name.to_string()).map_err(|e| {
            TlsError::Rustls(rustls::Error::General(format!("server name {name:?}: {e}")))
        })?;
        let verifier: Arc<dyn ServerCertVerifier> = match settings.mode {
            OriginTlsMode::VerifyCa | OriginTlsMode::VerifyFull => {
                let roots = roots(settings.ca_file.as_deref())?;
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?;
                Arc::new(Verifier {
                    check_name: settings.mode == OriginTlsMode::VerifyFull,
                    webpki: Some(webpki),
                    provider: provider.clone(),
                })
            }
            _ => Arc::new(Verifier {
                check_name: false,
                webpki: None,
                provider: provider.clone(),
            }),
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match &settings.client_cert {
            Some((chain, key)) => {
                let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
                    path: key.clone(),
                    reason: e.to_string(),
                })?;
                builder.with_client_auth_cert(read_chain(chain)?, key_der)?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(OriginTls {
            mode: settings.mode,
            connector: Some(TlsConnector::from(Arc::new(config))),
            server_name: Some(server_name),
        })
    }

    /// The connector and the name to present, unless the mode is `disable`.
    pub fn connector(&self) -> Option<(&TlsConnector, ServerName<'static>)> {
        Some((self.connector.as_ref()?, self.server_name.clone()?))
    }
}

/// CA certificates from a PEM file, or the system's store.
fn roots(ca_file: Option<&std::path::Path>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = match ca_file {
        Some(path) => CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| TlsError::CaFile {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?,
        None => rustls_native_certs::load_native_certs().certs,
    };
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(TlsError::CaFile {
            path: ca_file
                .map(|p| p.to_path_buf())
                .unwrap_or_else(|| "(system store)".into()),
            reason: "no usable CA certificate".into(),
        });
    }
    Ok(roots)
}

/// Checks the origin's certificate as the mode says. Handshake signatures are always
/// checked, so an encrypted connection is at least bound to the key it was shown.
#[derive(Debug)]
struct Verifier {
    check_name: bool,
    webpki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
