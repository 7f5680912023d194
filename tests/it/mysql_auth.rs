//! Authentication through wirecache against a real MariaDB: every client sees at most
//! one AuthSwitchRequest, as from a real server, whatever plugin its user has
//! (mysql_native_password, ed25519), at login and at COM_CHANGE_USER, on both
//! listeners; and mysql_async, the `mariadb` CLI and PyMySQL log in, while a wrong
//! password gets the origin's own error.
//!
//! A raw client here counts the switches: it signs mysql_native_password itself (a
//! small SHA-1 below) and answers ed25519 with bytes the origin rejects, which still
//! shows how many switches it was sent. Plugins MariaDB 10.11 cannot play here
//! (caching_sha2_password's fast and full RSA auth, mysql_clear_password, PAM's dialog)
//! are played by a scripted origin that behaves as MySQL's sql_acl.cc does; it also
//! asks for a cleartext password at COM_CHANGE_USER, which a plain client must be
//! refused as at login.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::mysql::{self, ED25519_USER, MyOrigin, NATIVE_USER, ROOT_PASSWORD, ROOT_USER};
use common::proxy::Proxy;
use mysql_async::prelude::Queryable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// SHA-1 (FIPS 180-1), for mysql_native_password in the raw client.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[test]
fn sha1_matches_known_digests() {
    let hex = |d: [u8; 20]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(hex(sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert_eq!(
        hex(sha1(
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        )),
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
    );
}

/// mysql_native_password's answer to `scramble`.
fn native_password(password: &str, scramble: &[u8]) -> Vec<u8> {
    let stage1 = sha1(password.as_bytes());
    let stage2 = sha1(&stage1);
    let mut salted = scramble.to_vec();
    salted.extend_from_slice(&stage2);
    let mask = sha1(&salted);
    stage1.iter().zip(mask).map(|(a, b)| a ^ b).collect()
}

const CLIENT_PROTOCOL_41: u32 = 1 << 9;
const CLIENT_SECURE_CONNECTION: u32 = 1 << 15;
const CLIENT_PLUGIN_AUTH: u32 = 1 << 19;
const RAW_CAPS: u32 =
    1 | 1 << 13 | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;

async fn read_packet(s: &mut TcpStream) -> (u8, Vec<u8>) {
    try_read_packet(s).await.expect("a whole packet")
}

/// The next packet, or `None` if the peer closed first.
async fn try_read_packet(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 4];
    s.read_exact(&mut header).await.ok()?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.ok()?;
    Some((header[3], payload))
}

async fn write_packet(s: &mut TcpStream, seq: u8, payload: &[u8]) {
    let len = payload.len() as u32;
    let mut p = len.to_le_bytes()[..3].to_vec();
    p.push(seq);
    p.extend_from_slice(payload);
    s.write_all(&p).await.expect("write packet");
}

/// The greeting's connection id and its scramble.
fn parse_greeting(g: &[u8]) -> (u32, Vec<u8>) {
    assert_eq!(g[0], 10, "protocol 10 greeting");
    let nul = g.iter().position(|b| *b == 0).unwrap();
    let id = u32::from_le_bytes(g[nul + 1..nul + 5].try_into().unwrap());
    let mut scramble = g[nul + 5..nul + 13].to_vec();
    let rest = &g[nul + 14 + 2 + 1 + 2 + 2 + 1 + 10..];
    scramble.extend_from_slice(&rest[..12]);
    (id, scramble)
}

/// What one authentication exchange looked like to the raw client.
#[derive(Debug)]
struct Exchange {
    /// Plugin names of the AuthSwitchRequests received, in order.
    switches: Vec<String>,
    /// The sequence id and payload of the final OK or ERR.
    last: (u8, Vec<u8>),
}

/// Answers auth rounds until OK or ERR: mysql_native_password with `password`, any
/// other plugin with 64 bytes the origin rejects.
async fn auth_rounds(s: &mut TcpStream, password: &str) -> Exchange {
    let mut switches = Vec::new();
    loop {
        let (seq, p) = read_packet(s).await;
        match p.first() {
            Some(0x00 | 0xFF) => {
                return Exchange {
                    switches,
                    last: (seq, p),
                };
            }
            Some(0xFE) => {
                let nul = p.iter().skip(1).position(|b| *b == 0).unwrap() + 1;
                let plugin = String::from_utf8_lossy(&p[1..nul]).into_owned();
                let data = p[nul + 1..].strip_suffix(&[0]).unwrap_or(&p[nul + 1..]);
                let answer = if plugin == "mysql_native_password" {
                    native_password(password, data)
                } else {
                    vec![7u8; 64]
                };
                switches.push(plugin);
                write_packet(s, seq + 1, &answer).await;
            }
            other => panic!("unexpected auth packet {other:?}: {p:?}"),
        }
    }
}

/// Logs in as `user` with a raw client: the greeting's connection id and the exchange.
async fn raw_login(port: u16, user: &str, password: &str) -> (TcpStream, u32, Exchange) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (_, greeting) = read_packet(&mut s).await;
    let (id, scramble) = parse_greeting(&greeting);
    let mut resp = RAW_CAPS.to_le_bytes().to_vec();
    resp.extend_from_slice(&(1u32 << 24).to_le_bytes());
    resp.push(45);
    resp.extend_from_slice(&[0; 23]);
    resp.extend_from_slice(user.as_bytes());
    resp.push(0);
    // Signed for the greeting's scramble, as a client does.
    let auth = native_password(password, &scramble);
    resp.push(auth.len() as u8);
    resp.extend_from_slice(&auth);
    resp.extend_from_slice(b"mysql_native_password\0");
    write_packet(&mut s, 1, &resp).await;
    let exchange = auth_rounds(&mut s, password).await;
    (s, id, exchange)
}

fn err_code(p: &[u8]) -> Option<u16> {
    (p.first() == Some(&0xFF)).then(|| u16::from_le_bytes([p[1], p[2]]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_login_and_change_user_sees_at_most_one_auth_switch() {
    let origin = MyOrigin::shared();
    let proxy = Proxy::builder().mysql_demo(origin.port).start().await;
    let ports = [
        (proxy.mysql_addr().port(), "demo"),
        (proxy.mariadb_addr().port(), "demo-maria"),
    ];
    for (port, cache) in ports {
        let native = format!("{cache}-{NATIVE_USER}");
        let pw = mysql::password_for(NATIVE_USER);
        let (mut s, id, ex) = raw_login(port, &native, &pw).await;
        assert_eq!(ex.switches, ["mysql_native_password"], "{cache}: {ex:?}");
        assert_eq!(ex.last.0, 4, "OK after one switch round: {ex:?}");
        assert_eq!(ex.last.1.first(), Some(&0), "{cache}: {ex:?}");
        // ed25519: the user's own plugin is the one switch.
        let ed = format!("{cache}-{ED25519_USER}");
        let (_, ed_id, ex) = raw_login(port, &ed, "unused").await;
        assert_eq!(ex.switches, ["client_ed25519"], "{cache}: {ex:?}");
        assert_eq!(ex.last.0, 4, "{ex:?}");
        assert_eq!(err_code(&ex.last.1), Some(1045), "{ex:?}");
        assert_ne!(id, 0, "the greeting carries a connection id");
        assert_ne!(ed_id, id, "connection ids are unique");
        // COM_CHANGE_USER to the ed25519 user, then back to the native one.
        for (user, want) in [(&ed, "client_ed25519"), (&native, "mysql_native_password")] {
            let mut cu = vec![0x11];
            cu.extend_from_slice(user.as_bytes());
            cu.extend_from_slice(&[0, 20]);
            cu.extend_from_slice(&[1; 20]);
            cu.extend_from_slice(&[0, 45, 0]);
            cu.extend_from_slice(b"mysql_native_password\0");
            write_packet(&mut s, 0, &cu).await;
            let ex = auth_rounds(&mut s, &pw).await;
            assert_eq!(ex.switches, [want], "change user to {user}: {ex:?}");
            if want == "mysql_native_password" {
                assert_eq!(ex.last.1.first(), Some(&0), "{ex:?}");
            } else {
                assert_eq!(err_code(&ex.last.1), Some(1045), "{ex:?}");
            }
            if ex.last.1.first() == Some(&0xFF) {
                // MariaDB ends the connection after a failed change user.
                let (mut again, ..) = raw_login(port, &native, &pw).await;
                std::mem::swap(&mut s, &mut again);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_async_and_the_cli_log_in_and_wrong_passwords_get_the_origins_error() {
    let origin = MyOrigin::shared();
    let proxy = Proxy::builder().mysql_demo(origin.port).start().await;
    for cache in ["demo", "demo-maria"] {
        let pw = mysql::password_for(NATIVE_USER);
        let url = proxy.mysql_url(cache, "", NATIVE_USER, &pw);
        let mut c = mysql::connect(&url).await;
        let who: Option<String> = c.query_first("SELECT CURRENT_USER()").await.unwrap();
        assert_eq!(who.as_deref(), Some("native_user@%"));
        // COM_CHANGE_USER to another native-password user and back.
        let opts = mysql_async::ChangeUserOpts::default()
            .with_user(Some(format!("{cache}-{ROOT_USER}")))
            .with_pass(Some(ROOT_PASSWORD.to_string()));
        c.change_user(opts).await.unwrap();
        let who: Option<String> = c.query_first("SELECT CURRENT_USER()").await.unwrap();
        assert_eq!(who.as_deref(), Some("wc_root@%"));
        let url = proxy.mysql_url(cache, "", NATIVE_USER, "wrong");
        match mysql::try_connect(&url).await {
            Err(mysql_async::Error::Server(e)) => {
                assert_eq!(e.code, 1045);
                assert!(e.message.contains("'native_user'@"), "{}", e.message);
            }
            other => panic!("wrong password: {other:?}"),
        }
    }
    for (port, cache) in [
        (proxy.mysql_addr().port(), "demo"),
        (proxy.mariadb_addr().port(), "demo-maria"),
    ] {
        for user in [NATIVE_USER, ED25519_USER] {
            let pw = mysql::password_for(user);
            let login = format!("{cache}-{user}");
            let (ok, out, err) =
                mysql::cli(port, &login, &pw, &["-e", "SELECT CURRENT_USER()"]).await;
            assert!(ok, "{login}: {err}");
            assert_eq!(out, format!("{user}@%"));
            let (ok, _, err) = mysql::cli(port, &login, "bad", &["-e", "SELECT 1"]).await;
            assert!(!ok && err.contains("1045"), "{err}");
            assert!(err.contains(&format!("'{user}'@")), "{err}");
        }
    }
}

/// Runs tests/clients/pymysql_login.py; returns its output line.
async fn pymysql_login(port: u16, user: &str, password: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/pymysql_login.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .args(["127.0.0.1", &port.to_string(), user, password]);
    let (ok, out, err) = mysql::run_blocking(cmd).await;
    assert!(ok, "pymysql_login.py {user}:\n{out}\n{err}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymysql_logs_in_with_native_and_ed25519_users_on_both_listeners() {
    let origin = MyOrigin::shared();
    let proxy = Proxy::builder().mysql_demo(origin.port).start().await;
    for (port, cache) in [
        (proxy.mysql_addr().port(), "demo"),
        (proxy.mariadb_addr().port(), "demo-maria"),
    ] {
        for user in [NATIVE_USER, ED25519_USER] {
            let login = format!("{cache}-{user}");
            let out = pymysql_login(port, &login, &mysql::password_for(user)).await;
            assert_eq!(out, format!("user={user}@%"), "{login}");
            let out = pymysql_login(port, &login, "wrong").await;
            assert!(out.starts_with("error=1045 "), "{login}: {out}");
            assert!(out.contains(&format!("'{user}'@")), "{login}: {out}");
        }
    }
}

/// One step of a scripted origin's authentication after the HandshakeResponse.
#[derive(Debug, Clone)]
enum Step {
    /// Send this payload (sequence ids count on by themselves).
    Send(Vec<u8>),
    /// Read one packet from wirecache and report it (the script ends if it closes).
    Read,
}

/// The plugin name of a HandshakeResponse41 (`None` if it names none).
fn response_plugin(p: &[u8]) -> Option<Vec<u8>> {
    let caps = u32::from_le_bytes(p.get(..4)?.try_into().ok()?);
    let mut at = 32;
    at += p.get(at..)?.iter().position(|b| *b == 0)? + 1;
    at += 1 + usize::from(*p.get(at)?);
    if caps & (1 << 3) != 0 {
        at += p.get(at..)?.iter().position(|b| *b == 0)? + 1;
    }
    let rest = p.get(at..)?;
    Some(rest[..rest.iter().position(|b| *b == 0)?].to_vec())
}

/// An origin that greets as MySQL 8 does (default plugin caching_sha2_password) and
/// authenticates everyone by `script`, as sql_acl.cc does for a user of `plugin`: a
/// HandshakeResponse naming another plugin gets an AuthSwitchRequest to `plugin` with
/// a fresh scramble, one naming `plugin` is taken as the first answer. Every answer is
/// accepted. Reports the packets each login sent.
async fn scripted_origin(
    plugin: &'static [u8],
    script: Vec<Step>,
) -> (
    u16,
    tokio::sync::mpsc::UnboundedReceiver<Vec<(u8, Vec<u8>)>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (tx, script) = (tx.clone(), script.clone());
            tokio::spawn(async move {
                let mut g = b"\x0a8.0.40\0".to_vec();
                g.extend_from_slice(&99u32.to_le_bytes());
                g.extend_from_slice(b"abcdefgh\0");
                // Every capability but CLIENT_SSL (1 << 11): it speaks no TLS.
                g.extend_from_slice(&[0xFF, 0xF7, 45, 2, 0, 0xFF, 0x0F, 21]);
                g.extend_from_slice(&[0; 10]);
                g.extend_from_slice(b"ijklmnopqrst\0caching_sha2_password\0");
                write_packet(&mut s, 0, &g).await;
                let mut header = [0u8; 4];
                if s.peek(&mut header).await.unwrap_or(0) == 0 {
                    return; // wirecache's probe for a greeting to copy
                }
                let (mut seq, resp) = read_packet(&mut s).await;
                let mut seen = vec![(seq, resp.clone())];
                let mut script = script.into_iter().peekable();
                if response_plugin(&resp).as_deref() == Some(plugin) {
                    // The client already used the user's plugin: its data is the
                    // first answer, no switch.
                    script.next_if(|s| matches!(s, Step::Read));
                } else {
                    let mut switch = vec![0xFE];
                    switch.extend_from_slice(plugin);
                    switch.extend_from_slice(b"\0ZYXWVUTSRQPONMLKJIHG\0");
                    seq += 1;
                    write_packet(&mut s, seq, &switch).await;
                }
                for step in script {
                    match step {
                        Step::Send(p) => {
                            seq += 1;
                            write_packet(&mut s, seq, &p).await;
                        }
                        Step::Read => {
                            let Some((got, p)) = try_read_packet(&mut s).await else {
                                break;
                            };
                            seq = got;
                            seen.push((got, p));
                        }
                    }
                }
                let _ = tx.send(seen);
            });
        }
    });
    (port, rx)
}

const OK: &[u8] = &[0, 0, 0, 2, 0, 0, 0];

/// Logs in through wirecache with a raw client that answers every auth packet but
/// caching_sha2_password's "fast auth succeeded" (0x01 0x03) with `answer` of it;
/// returns every packet received (sequence id, payload) up to OK or ERR.
async fn raw_rounds(port: u16, answer: fn(&[u8]) -> Vec<u8>) -> Vec<(u8, Vec<u8>)> {
    raw_rounds_on(port, answer).await.1
}

/// [`raw_rounds`], keeping the connection.
async fn raw_rounds_on(port: u16, answer: fn(&[u8]) -> Vec<u8>) -> (TcpStream, Vec<(u8, Vec<u8>)>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    read_packet(&mut s).await;
    let mut resp = (RAW_CAPS | 1 << 3).to_le_bytes().to_vec();
    resp.extend_from_slice(&(1u32 << 24).to_le_bytes());
    resp.push(45);
    resp.extend_from_slice(&[0; 23]);
    resp.extend_from_slice(b"demo-app\0\x20");
    resp.extend_from_slice(&[9; 32]);
    resp.extend_from_slice(b"shop\0caching_sha2_password\0");
    write_packet(&mut s, 1, &resp).await;
    let got = answer_rounds(&mut s, answer).await;
    (s, got)
}

/// Answers auth packets as [`raw_rounds`] does, up to OK or ERR.
async fn answer_rounds(s: &mut TcpStream, answer: fn(&[u8]) -> Vec<u8>) -> Vec<(u8, Vec<u8>)> {
    let mut got = Vec::new();
    loop {
        let (seq, p) = read_packet(s).await;
        got.push((seq, p.clone()));
        match p.as_slice() {
            [0x00 | 0xFF, ..] => return got,
            [1, 3] => {}
            _ => write_packet(s, seq + 1, &answer(&p)).await,
        }
    }
}

/// A user's plugin, what the scripted origin does after its switch, and how the raw
/// client answers each auth packet.
type Case = (&'static [u8], Vec<Step>, fn(&[u8]) -> Vec<u8>);

fn relay_cases() -> Vec<Case> {
    let pem = [b"\x01-----BEGIN PUBLIC KEY-----\n".as_slice(), &[b'k'; 64]].concat();
    vec![
        // caching_sha2_password, fast auth: the scramble's answer, 0x01 0x03, OK.
        (
            b"caching_sha2_password",
            vec![Step::Read, Step::Send(vec![1, 3]), Step::Send(OK.to_vec())],
            |_| vec![5; 32],
        ),
        // Full auth without TLS: the client asks for the RSA key (0x02), gets it in
        // AuthMoreData and sends the password encrypted with it.
        (
            b"caching_sha2_password",
            vec![
                Step::Read,
                Step::Send(vec![1, 4]),
                Step::Read,
                Step::Send(pem.clone()),
                Step::Read,
                Step::Send(OK.to_vec()),
            ],
            |p| match p {
                [1, 4] => vec![2],
                [1, b'-', ..] => vec![6; 256],
                _ => vec![5; 32],
            },
        ),
        (
            b"mysql_clear_password",
            vec![Step::Read, Step::Send(OK.to_vec())],
            |_| b"pw\0".to_vec(),
        ),
        // PAM through the dialog plugin: a second prompt after the first answer.
        (
            b"dialog",
            vec![
                Step::Read,
                Step::Send(b"\x04OTP: ".to_vec()),
                Step::Read,
                Step::Send(OK.to_vec()),
            ],
            |_| b"answer\0".to_vec(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caching_sha2_clear_password_and_dialog_rounds_are_relayed_after_one_switch() {
    for (plugin, script, answer) in relay_cases() {
        let name = String::from_utf8_lossy(plugin).into_owned();
        let (port, mut logins) = scripted_origin(plugin, script.clone()).await;
        let cleartext = plugin == b"mysql_clear_password" || plugin == b"dialog";
        if cleartext {
            // The raw client speaks no TLS: a plugin that sends the password in clear
            // is refused, saying how to allow it.
            let strict = Proxy::builder().mysql_demo(port).start().await;
            let got = raw_rounds(strict.mysql_addr().port(), answer).await;
            let refusal = got
                .last()
                .map(|(_, p)| String::from_utf8_lossy(p).into_owned());
            let refusal = refusal.unwrap_or_default();
            assert!(
                refusal.contains("allow_cleartext_passwords"),
                "{name}: {got:?}"
            );
            // The origin got the HandshakeResponse and nothing after it.
            let seen = logins.recv().await.unwrap();
            assert_eq!(seen.len(), 1, "{name}: {seen:?}");
        }
        let extra = if cleartext {
            "[tls]\nallow_cleartext_passwords = true"
        } else {
            ""
        };
        let proxy = Proxy::builder().mysql_demo(port).toml(extra).start().await;
        let got = raw_rounds(proxy.mysql_addr().port(), answer).await;
        let switches = got.iter().filter(|(_, p)| p.first() == Some(&0xFE)).count();
        assert_eq!(switches, 1, "{name}: {got:?}");
        assert_eq!(
            got.last().map(|(_, p)| p.as_slice()),
            Some(OK),
            "{name}: {got:?}"
        );
        let seqs: Vec<u8> = got.iter().map(|(s, _)| *s).collect();
        let sent: Vec<u8> = script
            .iter()
            .filter(|s| matches!(s, Step::Send(_)))
            .map(|_| 0)
            .collect();
        assert_eq!(
            seqs.len(),
            sent.len() + 1,
            "{name}: every origin packet relayed"
        );
        // The origin saw the client's answers with the client's own sequence ids.
        let seen = logins.recv().await.unwrap();
        let answers: Vec<u8> = seen.iter().skip(1).map(|(s, _)| *s).collect();
        let expected: Vec<u8> = got
            .iter()
            .filter(|(_, p)| !matches!(p.as_slice(), [0x00 | 0xFF, ..] | [1, 3]))
            .map(|(s, _)| s + 1)
            .collect();
        assert_eq!(answers, expected, "{name}: {got:?} / {seen:?}");
        assert_eq!(
            seqs.first(),
            Some(&2),
            "{name}: the switch answers the response"
        );
    }
}

/// What a raw client answers a password prompt with in the COM_CHANGE_USER tests.
const SECRET: &[u8] = b"change-user-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_user_rounds_asking_for_a_cleartext_password_are_checked_as_at_login() {
    // Login by caching_sha2_password's fast auth; then COM_CHANGE_USER, which the
    // origin answers by switching to mysql_clear_password.
    let script = vec![
        Step::Read,
        Step::Send(vec![1, 3]),
        Step::Send(OK.to_vec()),
        Step::Read,
        Step::Send(b"\xFEmysql_clear_password\0".to_vec()),
        Step::Read,
        Step::Send(OK.to_vec()),
    ];
    let (port, mut logins) = scripted_origin(b"caching_sha2_password", script).await;
    let mut change_user = b"\x11demo-app\0\x20".to_vec();
    change_user.extend_from_slice(&[9; 32]);
    change_user.extend_from_slice(b"shop\0\x2d\0caching_sha2_password\0");
    let password = |_: &[u8]| [SECRET, b"\0".as_slice()].concat();
    for allowed in [false, true] {
        let extra = if allowed {
            "[tls]\nallow_cleartext_passwords = true"
        } else {
            ""
        };
        let proxy = Proxy::builder().mysql_demo(port).toml(extra).start().await;
        let (mut s, login) = raw_rounds_on(proxy.mysql_addr().port(), |_| vec![5; 32]).await;
        assert_eq!(
            login.last().map(|(_, p)| p.as_slice()),
            Some(OK),
            "{login:?}"
        );
        write_packet(&mut s, 0, &change_user).await;
        let got = answer_rounds(&mut s, password).await;
        let seen = logins.recv().await.unwrap();
        let leaked = seen
            .iter()
            .any(|(_, p)| p.windows(SECRET.len()).any(|w| w == SECRET));
        if allowed {
            // Relayed as at login: the switch, the password, the origin's OK.
            assert_eq!(got.len(), 2, "{got:?}");
            assert_eq!(
                got.first().map(|(s, p)| (*s, p[0])),
                Some((1, 0xFE)),
                "{got:?}"
            );
            assert_eq!(got.last(), Some(&(3, OK.to_vec())), "{got:?}");
            assert!(
                leaked,
                "the origin gets the password it asked for: {seen:?}"
            );
            continue;
        }
        // The plain client is never asked for its password: the switch is replaced by
        // an ERR with its sequence id, and the session ends.
        let [(seq, err)] = got.as_slice() else {
            panic!("one ERR, no switch: {got:?}");
        };
        assert_eq!((*seq, err_code(err)), (1, Some(1045)), "{got:?}");
        let message = String::from_utf8_lossy(err);
        assert!(message.contains("allow_cleartext_passwords"), "{message}");
        assert!(try_read_packet(&mut s).await.is_none(), "the session ended");
        // The origin saw the login (response, fast-auth answer) and the
        // COM_CHANGE_USER, and no password.
        let kinds: Vec<u8> = seen
            .iter()
            .map(|(_, p)| p.first().copied().unwrap_or(0))
            .collect();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_eq!(kinds.last(), Some(&0x11), "{seen:?}");
        assert!(!leaked, "{seen:?}");
    }
}
