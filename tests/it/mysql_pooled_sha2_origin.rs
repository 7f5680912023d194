//! wirecache's own login to a caching_sha2_password origin in pooled mode (MariaDB
//! 10.11 has no such server plugin, so a scripted origin plays MySQL 8): the fast path
//! with a token the origin checks against `SHA256(SHA256(password))`, and a request
//! for full authentication over a plaintext origin leg refused with a message saying
//! TLS to the origin is needed (never the password in clear, never RSA).

use crate::common;

use common::mysql_pooled_origin::{server_code, userlist};
use common::proxy::{Protocol, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PASSWORD: &str = "sha2-origin-pw";
const SCRAMBLE: &[u8; 20] = b"abcdefghijklmnopqrst";

fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    ctx.finish().as_ref().to_vec()
}

/// Whether `token` is `password`'s fast-path answer to [`SCRAMBLE`].
fn token_ok(token: &[u8]) -> bool {
    let stored = sha256(&[&sha256(&[PASSWORD.as_bytes()])]);
    let mask = sha256(&[&stored, SCRAMBLE]);
    let stage1: Vec<u8> = token.iter().zip(&mask).map(|(a, b)| a ^ b).collect();
    token.len() == 32 && sha256(&[&stage1]) == stored
}

async fn write_packet(s: &mut TcpStream, seq: u8, payload: &[u8]) {
    let len = (payload.len() as u32).to_le_bytes();
    let mut out = vec![len[0], len[1], len[2], seq];
    out.extend_from_slice(payload);
    let _ = s.write_all(&out).await;
}

async fn read_packet(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 4];
    s.read_exact(&mut header).await.ok()?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    let mut body = vec![0; len];
    s.read_exact(&mut body).await.ok()?;
    Some((header[3], body))
}

/// The auth token of a HandshakeResponse41 (1-byte or length-encoded under 251).
fn response_token(p: &[u8]) -> Vec<u8> {
    let mut at = 32;
    at += p[at..].iter().position(|b| *b == 0).unwrap() + 1;
    let len = usize::from(p[at]);
    p[at + 1..at + 1 + len].to_vec()
}

/// An origin greeting as MySQL 8 (caching_sha2_password, no TLS) that checks the
/// fast-path token, then answers `fast` (fast auth success and OK) or asks for full
/// authentication. Reports, per login, whether the token was right and what came
/// after the request for full authentication (`None`: the connection closed).
async fn sha2_origin(
    fast: bool,
) -> (
    u16,
    tokio::sync::mpsc::UnboundedReceiver<(bool, Option<Vec<u8>>)>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut g = b"\x0a8.0.40\0".to_vec();
                g.extend_from_slice(&77u32.to_le_bytes());
                g.extend_from_slice(&SCRAMBLE[..8]);
                g.push(0);
                g.extend_from_slice(&[0xFF, 0xF7, 45, 2, 0, 0xFF, 0x0F, 21]);
                g.extend_from_slice(&[0; 10]);
                g.extend_from_slice(&SCRAMBLE[8..]);
                g.extend_from_slice(b"\0caching_sha2_password\0");
                write_packet(&mut s, 0, &g).await;
                let Some((seq, resp)) = read_packet(&mut s).await else {
                    return; // wirecache's probe for a greeting
                };
                let ok = token_ok(&response_token(&resp));
                if fast {
                    write_packet(&mut s, seq + 1, &[1, 3]).await;
                    write_packet(&mut s, seq + 2, &[0, 0, 0, 2, 0, 0, 0]).await;
                    let _ = tx.send((ok, None));
                    // Answer the reset and anything else with OK until closed.
                    while let Some((seq, _)) = read_packet(&mut s).await {
                        write_packet(&mut s, seq + 1, &[0, 0, 0, 2, 0, 0, 0]).await;
                    }
                } else {
                    write_packet(&mut s, seq + 1, &[1, 4]).await;
                    let after = read_packet(&mut s).await.map(|(_, p)| p);
                    let _ = tx.send((ok, after));
                }
            });
        }
    });
    (port, rx)
}

fn opts(proxy: &Proxy) -> mysql_async::OptsBuilder {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(proxy.mariadb_addr().port())
        .user(Some("s2-app"))
        .pass(Some(PASSWORD))
        .prefer_socket(false)
        // No settings to read: the scripted origin answers no queries.
        .max_allowed_packet(Some(16 << 20))
        .wait_timeout(Some(28800))
}

async fn proxy(port: u16) -> Proxy {
    let list = userlist(&[("app", PASSWORD)]);
    let lines = format!("pool = \"session\"\nauth_file = \"{list}\"\ntls = \"disable\"");
    Proxy::builder()
        .cache_with("s2", Protocol::MariaDb, port, &lines)
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_origin_login_takes_caching_sha2_fast_path() {
    let (port, mut logins) = sha2_origin(true).await;
    let proxy = proxy(port).await;
    let conn = mysql_async::Conn::new(opts(&proxy))
        .await
        .expect("pooled login");
    let (token_right, _) = logins.recv().await.unwrap();
    assert!(token_right, "the origin got a wrong fast-path token");
    drop(conn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_authentication_without_origin_tls_is_refused_in_words() {
    let (port, mut logins) = sha2_origin(false).await;
    let proxy = proxy(port).await;
    let e = mysql_async::Conn::new(opts(&proxy))
        .await
        .expect_err("login without the origin");
    let (token_right, after) = logins.recv().await.unwrap();
    assert!(token_right);
    assert_eq!(
        after, None,
        "nothing is sent for full authentication without TLS"
    );
    assert!(
        e.to_string().contains("set origin_tls") || e.to_string().contains("TLS"),
        "{e}"
    );
    assert!(server_code(&e).is_some(), "{e:?}");
}
