//! A certificate authority of a test's own and a server certificate it signed for
//! `localhost` (not for 127.0.0.1), as PEM files, for wirecache's `[tls]` section.

use std::path::PathBuf;

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
