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
