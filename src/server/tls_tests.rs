//! TLS handshakes over loopback between [`ServerTls`] and [`OriginTls`] in every mode,
//! with a CA and certificates the test makes itself; reloading; bad files.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::origin_tls::{OriginTls, OriginTlsMode, OriginTlsSettings};
use super::stream::Stream;
use super::tls::{CertSource, ServerTls, TlsError};

/// A CA, and a server certificate for `names` signed by it, written as PEM files.
struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    ca_params: CertificateParams,
}

impl Pki {
    fn new(tag: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("wirecache-tls-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = params.self_signed(&ca_key).unwrap();
        let ca_params = params;
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, ca_cert.pem()).unwrap();
        std::fs::write(dir.join("ca.key"), ca_key.serialize_pem()).unwrap();
        Pki { dir, ca, ca_params }
    }

    /// A leaf for `names`, signed by the CA: (chain file, key file).
    fn leaf(&self, file: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        let ca_key =
            KeyPair::from_pem(&std::fs::read_to_string(self.dir.join("ca.key")).unwrap()).unwrap();
        let issuer = Issuer::new(self.ca_params.clone(), ca_key);
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let chain = self.dir.join(format!("{file}.pem"));
        let key_path = self.dir.join(format!("{file}.key"));
        std::fs::write(&chain, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (chain, key_path)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One TLS round trip: a server presenting `server`'s certificate echoes a line back
/// to a client connecting with `settings` (as to host `host`).
async fn round_trip(
    server: &ServerTls,
    settings: &OriginTlsSettings,
    host: &str,
) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = server.acceptor().clone();
    let serve = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let Ok(tls) = acceptor.accept(tcp).await else {
            return;
        };
        let mut s = Stream::ServerTls(Box::new(tls));
        let mut buf = [0u8; 5];
        if s.read_exact(&mut buf).await.is_ok() {
            let _ = s.write_all(&buf).await;
            let _ = s.flush().await;
        }
    });
    let origin = OriginTls::new(settings, host).map_err(|e| e.to_string())?;
    let (connector, name) = origin.connector().ok_or("no connector")?;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let result = async {
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let mut s = Stream::ClientTls(Box::new(tls));
        assert!(s.is_tls());
        s.write_all(b"hello").await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        assert_eq!(&buf, b"hello");
        Ok(())
    }
    .await;
    let _ = serve.await;
    result
}

fn settings(mode: OriginTlsMode, ca: Option<&Path>) -> OriginTlsSettings {
    OriginTlsSettings {
        mode,
        ca_file: ca.map(Path::to_path_buf),
        ..Default::default()
    }
}

#[tokio::test]
async fn every_mode_against_a_certificate_from_a_private_ca() {
    let pki = Pki::new("modes");
    let (chain, key) = pki.leaf("db", &["db.test"]);
    let server = ServerTls::new(CertSource::Files { chain, key }).unwrap();
    let ca = Some(pki.ca.as_path());
    use OriginTlsMode::*;
    for (mode, host, ok) in [
        (Require, "anything", true),
        (Prefer, "anything", true),
        (VerifyCa, "db.test", true),
        (VerifyCa, "other.test", true),
        (VerifyFull, "db.test", true),
        (VerifyFull, "other.test", false),
    ] {
        let r = round_trip(&server, &settings(mode, ca), host).await;
        assert_eq!(r.is_ok(), ok, "{mode:?} as {host}: {r:?}");
    }
    // A name given in the settings wins over the host.
    let mut named = settings(VerifyFull, ca);
    named.server_name = Some("db.test".into());
    round_trip(&server, &named, "10.0.0.7").await.unwrap();
}

#[tokio::test]
async fn verification_refuses_a_certificate_from_another_ca() {
    let ours = Pki::new("ours");
    let theirs = Pki::new("theirs");
    let (chain, key) = theirs.leaf("db", &["db.test"]);
    let server = ServerTls::new(CertSource::Files { chain, key }).unwrap();
    for mode in [OriginTlsMode::VerifyCa, OriginTlsMode::VerifyFull] {
        let r = round_trip(&server, &settings(mode, Some(&ours.ca)), "db.test").await;
        assert!(r.is_err(), "{mode:?} accepted a stranger's certificate");
    }
    round_trip(&server, &settings(OriginTlsMode::Require, None), "db.test")
        .await
        .unwrap();
}

#[tokio::test]
async fn self_signed_serves_unverified_clients_only() {
    let server = ServerTls::new(CertSource::SelfSigned).unwrap();
    round_trip(
        &server,
        &settings(OriginTlsMode::Require, None),
        "localhost",
    )
    .await
    .unwrap();
    let pki = Pki::new("selfsigned");
    let r = round_trip(
        &server,
        &settings(OriginTlsMode::VerifyCa, Some(&pki.ca)),
        "localhost",
    )
    .await;
    assert!(r.is_err());
}

#[tokio::test]
async fn reload_presents_the_new_certificate_to_later_handshakes() {
    let pki = Pki::new("reload");
    let (chain, key) = pki.leaf("db", &["old.test"]);
    let server = ServerTls::new(CertSource::Files {
        chain: chain.clone(),
        key: key.clone(),
    })
    .unwrap();
    let before = server.current_leaf();
    assert!(!server.files_changed());
    let full = |name: &str| {
        let mut s = settings(OriginTlsMode::VerifyFull, Some(&pki.ca));
        s.server_name = Some(name.into());
        s
    };
    round_trip(&server, &full("old.test"), "x").await.unwrap();
    // Rotate: same paths, new certificate (mtime granularity: make sure it moves).
    std::thread::sleep(std::time::Duration::from_millis(20));
    let (new_chain, new_key) = pki.leaf("rotated", &["new.test"]);
    std::fs::copy(&new_chain, &chain).unwrap();
    std::fs::copy(&new_key, &key).unwrap();
    let future = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
    for p in [&chain, &key] {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(future)
            .unwrap();
    }
    assert!(server.files_changed());
    server.reload().unwrap();
    assert!(!server.files_changed());
    assert_ne!(server.current_leaf(), before);
    round_trip(&server, &full("new.test"), "x").await.unwrap();
    assert!(round_trip(&server, &full("old.test"), "x").await.is_err());
}

#[test]
fn bad_files_name_the_file_and_keep_the_old_certificate() {
    let pki = Pki::new("bad");
    let (chain, key) = pki.leaf("db", &["db.test"]);
    let (_other_chain, other_key) = pki.leaf("other", &["other.test"]);
    let missing = pki.dir.join("missing.pem");
    let e = ServerTls::new(CertSource::Files {
        chain: missing.clone(),
        key: key.clone(),
    })
    .unwrap_err();
    assert!(
        matches!(e, TlsError::Chain { .. }) && e.to_string().contains("missing.pem"),
        "{e}"
    );
    let e = ServerTls::new(CertSource::Files {
        chain: chain.clone(),
        key: other_key,
    })
    .unwrap_err();
    assert!(matches!(e, TlsError::KeyMismatch { .. }), "{e}");
    let empty = pki.dir.join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let e = ServerTls::new(CertSource::Files {
        chain: empty,
        key: key.clone(),
    })
    .unwrap_err();
    assert!(matches!(e, TlsError::EmptyChain(_)), "{e}");
    // A reload that fails leaves the certificate in use alone.
    let server = ServerTls::new(CertSource::Files {
        chain: chain.clone(),
        key,
    })
    .unwrap();
    let before = server.current_leaf();
    std::fs::write(&chain, "garbage").unwrap();
    assert!(server.reload().is_err());
    assert_eq!(server.current_leaf(), before);
}

#[test]
fn modes_parse_as_libpq_names_them() {
    for m in ["disable", "prefer", "require", "verify-ca", "verify-full"] {
        let mode = OriginTlsMode::parse(m).unwrap();
        assert_eq!(mode.as_str(), m);
    }
    assert!(OriginTlsMode::parse("verify_full").is_none());
    assert_eq!(OriginTlsMode::default(), OriginTlsMode::Prefer);
    let prefer = OriginTls::new(&OriginTlsSettings::default(), "h").unwrap();
    assert!(prefer.connector().is_some());
    let off = OriginTls::new(&settings(OriginTlsMode::Disable, None), "h").unwrap();
    assert!(off.connector().is_none());
}
