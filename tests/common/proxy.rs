//! wirecache itself, in-process on ephemeral ports, in front of a test origin; and
//! small readers of its `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;

use wirecache::app::{self, Running};
use wirecache::config;
use wirecache::engine::Engine;

/// A running wirecache with one PostgreSQL cache `demo` (and `my-app` for prefix tests),
/// or (from [`Proxy::mysql`]) MySQL and MariaDB caches in front of one MariaDB origin.
pub struct Proxy {
    pub running: Running,
    pub pg: SocketAddr,
    pub admin: SocketAddr,
}

impl Proxy {
    /// Starts wirecache in front of a PostgreSQL origin on `origin_port`. `extra`
    /// is appended to the `[cache]` section (e.g. `max_entry_size = "64KiB"`).
    pub async fn postgres(origin_port: u16, extra: &str) -> Proxy {
        Self::postgres_with(origin_port, extra, "", "").await
    }

    /// Like [`Proxy::postgres`], with `demo_extra` added to the `demo` cache's table
    /// (e.g. `mode = "manual"`) and `tail` appended to the file (e.g. `[[rules]]` or
    /// `[admin]` tables).
    pub async fn postgres_with(
        origin_port: u16,
        extra: &str,
        demo_extra: &str,
        tail: &str,
    ) -> Proxy {
        let toml = format!(
            r#"
[listen]
postgres = "127.0.0.1:0"
admin = "127.0.0.1:0"

[cache]
max_memory = "64MiB"
default_ttl = "60s"
{extra}

[[caches]]
id = "demo"
protocol = "postgres"
origin = "127.0.0.1:{origin_port}"
{demo_extra}

[[caches]]
id = "my-app"
protocol = "postgres"
origin = "127.0.0.1:{origin_port}"

{tail}
"#
        );
        let config = config::from_str(&toml, Vec::new()).expect("test config");
        let running = app::start(&config).await.expect("wirecache starts");
        let pg = running.postgres.expect("postgres listener");
        let admin = running.admin.expect("admin listener");
        Proxy { running, pg, admin }
    }

    /// Starts wirecache in front of a MariaDB origin on `origin_port`: caches `demo`
    /// and `my-app` (protocol `mysql`, port 9000's listener) and `demo-maria` (protocol
    /// `mariadb`). `extra` is appended to the `[cache]` section. `pg` is unused (the
    /// admin address).
    pub async fn mysql(origin_port: u16, extra: &str) -> Proxy {
        Self::mysql_with(origin_port, extra, "").await
    }

    /// Like [`Proxy::mysql`], with `maria_extra` added to the `demo-maria` cache's
    /// table (e.g. `tls = "disable"`).
    pub async fn mysql_with(origin_port: u16, extra: &str, maria_extra: &str) -> Proxy {
        let toml = format!(
            r#"
[listen]
mysql = "127.0.0.1:0"
mariadb = "127.0.0.1:0"
admin = "127.0.0.1:0"

[cache]
max_memory = "64MiB"
default_ttl = "60s"
{extra}

[[caches]]
id = "demo"
protocol = "mysql"
origin = "127.0.0.1:{origin_port}"

[[caches]]
id = "my-app"
protocol = "mysql"
origin = "127.0.0.1:{origin_port}"

[[caches]]
id = "demo-maria"
protocol = "mariadb"
origin = "127.0.0.1:{origin_port}"
{maria_extra}
"#
        );
        let config = config::from_str(&toml, Vec::new()).expect("test config");
        let running = app::start(&config).await.expect("wirecache starts");
        let admin = running.admin.expect("admin listener");
        Proxy {
            running,
            pg: admin,
            admin,
        }
    }

    /// The MySQL (`mysql` caches) listener.
    pub fn mysql_addr(&self) -> SocketAddr {
        self.running.mysql.expect("mysql listener")
    }

    /// The MariaDB (`mariadb` caches) listener.
    pub fn mariadb_addr(&self) -> SocketAddr {
        self.running.mariadb.expect("mariadb listener")
    }

    /// A mysql_async URL through wirecache's MySQL listener as `CACHEID-user`.
    pub fn mysql_url(&self, cache: &str, db: &str, user: &str, password: &str) -> String {
        let port = if cache.ends_with("maria") {
            self.mariadb_addr().port()
        } else {
            self.mysql_addr().port()
        };
        format!("mysql://{cache}-{user}:{password}@127.0.0.1:{port}/{db}")
    }

    /// Hits of one cache.
    pub async fn hits_of(&self, cache: &str) -> f64 {
        self.metric(&format!("wirecache_hits_total{{cache=\"{cache}\"}} "))
            .await
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.running.engine
    }

    /// A libpq connection string through wirecache for `CACHEID-user`.
    pub fn conn_str(&self, cache: &str, db: &str, user: &str, password: Option<&str>) -> String {
        let mut s = format!(
            "host=127.0.0.1 port={} user={cache}-{user} dbname={db}",
            self.pg.port()
        );
        if let Some(pw) = password {
            s.push_str(&format!(" password='{pw}'"));
        }
        s
    }

    /// Connects with tokio-postgres through wirecache as `demo-<user>`.
    pub async fn connect(&self, db: &str, user: &str) -> tokio_postgres::Client {
        self.try_connect("demo", db, user, None)
            .await
            .expect("connect through wirecache")
    }

    pub async fn try_connect(
        &self,
        cache: &str,
        db: &str,
        user: &str,
        password: Option<&str>,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, conn) = tokio_postgres::connect(
            &self.conn_str(cache, db, user, password),
            tokio_postgres::NoTls,
        )
        .await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        http_get(self.admin, "/metrics").await
    }

    /// The value of one metric line (`name{labels}`), 0 if absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    pub async fn hits(&self) -> f64 {
        self.metric("wirecache_hits_total{cache=\"demo\"} ").await
    }

    /// Waits (up to 10 s) until the metric `series` reaches `want`, and asserts it did.
    pub async fn wait_for_metric(&self, series: &str, want: f64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.metric(series).await < want && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(self.metric(series).await, want, "{series}");
    }

    pub async fn refreshes(&self) -> f64 {
        self.metric("wirecache_refreshes_total{cache=\"demo\"} ")
            .await
    }
}

/// A minimal HTTP/1.1 request with an optional bearer token and JSON body; returns
/// the status code and the body.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("admin connect");
    let body = body.unwrap_or("");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("admin write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("admin read");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A minimal HTTP/1.1 GET; returns the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("admin connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("admin write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("admin read");
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// How many times the origin executed statements whose text contains `needle`
/// (pg_stat_statements, which normalizes constants to $n).
pub fn origin_calls(origin: &super::PgOrigin, db: &str, needle: &str) -> i64 {
    let sql = format!(
        "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
         WHERE d.datname = '{db}' AND s.query LIKE '%{needle}%' AND s.query NOT LIKE '%pg_stat_statements%'"
    );
    origin.psql("postgres", &sql).trim().parse().unwrap_or(-1)
}
