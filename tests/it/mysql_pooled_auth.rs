//! Logins in MySQL/MariaDB pooled mode, checked by wirecache itself against a real
//! MariaDB behind it: a wrong password or an unknown user gets ERR 1045 and never an
//! origin connection; a stored password serves mysql_native_password (MariaDB
//! listener) and caching_sha2_password's fast path (MySQL listener); a stored `*HEX`
//! hash serves native logins, switches a plaintext caching_sha2 client to native,
//! and takes caching_sha2's full authentication over TLS; the origin login then uses
//! the key the client's token revealed.

use crate::common;

use common::mysql::{self, MyOrigin};
use common::mysql_pooled_origin::{PoolUser, pooled_builder, pooled_proxy, server_code, userlist};
use common::tls::Pki;
use mysql_async::prelude::*;

async fn select_one(url: &str) -> Result<i64, mysql_async::Error> {
    let mut c = mysql::try_connect(url).await?;
    let n: Option<i64> = c.query_first("SELECT 1").await?;
    c.disconnect().await?;
    Ok(n.unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_and_unknown_users_get_1045_without_an_origin_connection() {
    let origin = MyOrigin::shared();
    let user = PoolUser::create(origin, "pool_deny");
    let hashed = PoolUser::create(origin, "pool_deny_h");
    let hash = hashed.native_hash(origin);
    let list = userlist(&[(&user.name, &user.password), (&hashed.name, &hash)]);
    let proxy = pooled_proxy(origin, &list, "").await;
    for cache in ["demo", "demo-maria"] {
        for (name, password) in [
            (user.name.as_str(), "wrong"),
            (user.name.as_str(), ""),
            (hashed.name.as_str(), "wrong"),
            ("nobody_here", "x"),
        ] {
            let url = proxy.mysql_url(cache, "", name, password);
            let e = select_one(&url).await.expect_err("a bad login got in");
            assert_eq!(server_code(&e), Some(1045), "{cache} {name}: {e}");
            assert!(e.to_string().contains("Access denied"), "{e}");
        }
    }
    assert_eq!(user.total_connections(origin), 0, "no origin connection");
    assert_eq!(hashed.total_connections(origin), 0, "no origin connection");
    // The right password gets in, on both listeners.
    for cache in ["demo", "demo-maria"] {
        let url = proxy.mysql_url(cache, "", &user.name, &user.password);
        assert_eq!(select_one(&url).await.unwrap(), 1);
    }
    assert!(user.total_connections(origin) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_native_hash_serves_native_logins_and_switches_sha2_clients() {
    let origin = MyOrigin::shared();
    let user = PoolUser::create(origin, "pool_hash");
    let hash = user.native_hash(origin);
    assert!(hash.starts_with('*') && hash.len() == 41, "{hash}");
    let list = userlist(&[(&user.name, &hash)]);
    let proxy = pooled_proxy(origin, &list, "").await;
    // demo-maria greets with mysql_native_password; demo with caching_sha2_password,
    // which a stored hash cannot check without TLS: the client is switched to native.
    for cache in ["demo-maria", "demo"] {
        let url = proxy.mysql_url(cache, "", &user.name, &user.password);
        assert_eq!(select_one(&url).await.unwrap(), 1, "{cache}");
    }
    assert!(
        user.total_connections(origin) >= 1,
        "origin login with the learnt key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caching_sha2_full_authentication_over_tls_with_a_stored_hash() {
    let origin = MyOrigin::shared();
    let user = PoolUser::create(origin, "pool_full");
    let hash = user.native_hash(origin);
    let list = userlist(&[(&user.name, &hash)]);
    let pki = Pki::new();
    let proxy = pooled_builder(origin, &list, "")
        .toml(&pki.tls_table(""))
        .start()
        .await;
    let opts = |password: &str| {
        let ssl = mysql_async::SslOpts::default().with_danger_accept_invalid_certs(true);
        mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(proxy.mysql_addr().port())
            .user(Some(format!("demo-{}", user.name)))
            .pass(Some(password.to_owned()))
            .prefer_socket(false)
            .ssl_opts(ssl)
    };
    let mut c = mysql_async::Conn::new(opts(&user.password)).await.unwrap();
    let n: Option<i64> = c.query_first("SELECT 1").await.unwrap();
    assert_eq!(n, Some(1));
    c.disconnect().await.unwrap();
    let e = mysql_async::Conn::new(opts("wrong"))
        .await
        .expect_err("wrong password");
    assert_eq!(server_code(&e), Some(1045), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mariadb_client_with_either_plugin() {
    let origin = MyOrigin::shared();
    let user = PoolUser::create(origin, "pool_cli");
    let list = userlist(&[(&user.name, &user.password)]);
    let proxy = pooled_proxy(origin, &list, "").await;
    let login = format!("demo-maria-{}", user.name);
    let port = proxy.mariadb_addr().port();
    for plugin in ["mysql_native_password", "caching_sha2_password"] {
        let auth = format!("--default-auth={plugin}");
        let args = [auth.as_str(), "-e", "SELECT CURRENT_USER()"];
        let (ok, out, err) = mysql::cli(port, &login, &user.password, &args).await;
        assert!(ok, "{plugin}: {err}");
        assert!(
            out.starts_with(&format!("{}@", user.name)),
            "{plugin}: {out}"
        );
        let (ok, _, err) = mysql::cli(port, &login, "wrong", &args).await;
        assert!(!ok && err.contains("1045"), "{plugin}: {err}");
    }
}

/// The first answer to a raw caching_sha2_password login (a wrong 32-byte token) by
/// `user` on `port`: its first payload byte (0xFE switch, 0x01 more data, 0xFF error).
async fn first_answer_to_sha2_login(port: u16, user: &str) -> u8 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await.expect("greeting header");
    let len = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize;
    let mut greeting = vec![0u8; len];
    s.read_exact(&mut greeting).await.expect("greeting");
    // PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | LONG_PASSWORD
    let caps: u32 = 0x200 | 0x8000 | 0x8_0000 | 1;
    let mut body = Vec::new();
    body.extend_from_slice(&caps.to_le_bytes());
    body.extend_from_slice(&(1u32 << 24).to_le_bytes());
    body.push(33);
    body.extend_from_slice(&[0; 23]);
    body.extend_from_slice(user.as_bytes());
    body.push(0);
    body.push(32);
    body.extend_from_slice(&[0x5a; 32]);
    body.extend_from_slice(b"caching_sha2_password\0");
    let mut packet = (body.len() as u32).to_le_bytes()[..3].to_vec();
    packet.push(1);
    packet.extend_from_slice(&body);
    s.write_all(&packet).await.expect("login");
    s.read_exact(&mut head).await.expect("answer header");
    let mut first = [0u8; 1];
    s.read_exact(&mut first).await.expect("answer");
    first[0]
}

/// With a list holding both stored passwords and `*HEX` hashes, a plaintext
/// caching_sha2 client gets the same exchange whoever it names: a known password
/// user, a hash-only user and an unknown user are all switched to
/// mysql_native_password, so the exchange does not tell who exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_exchange_does_not_tell_who_exists() {
    let origin = MyOrigin::shared();
    let user = PoolUser::create(origin, "pool_enum");
    let hashed = PoolUser::create(origin, "pool_enum_h");
    let hash = hashed.native_hash(origin);
    let list = userlist(&[(&user.name, &user.password), (&hashed.name, &hash)]);
    let proxy = pooled_proxy(origin, &list, "").await;
    let url = proxy.mysql_url("demo", "", "x", "y");
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("port");
    let mut answers = Vec::new();
    for name in [user.name.as_str(), hashed.name.as_str(), "nobody_here"] {
        answers.push(first_answer_to_sha2_login(port, &format!("demo-{name}")).await);
    }
    assert_eq!(answers, vec![0xfe; 3], "first answers differ by user");
    assert_eq!(user.total_connections(origin), 0, "no origin connection");
}
