//! wirecache itself, in-process on ephemeral ports, in front of test origins, built
//! with [`ProxyBuilder`]; and small readers of its `/metrics`.
//!
//! ```ignore
//! let proxy = Proxy::builder()
//!     .cache("demo", Protocol::Postgres, origin.port)
//!     .settings("max_entry_size = \"64KiB\"")
//!     .start()
//!     .await;
//! let addr = proxy.addr(Protocol::Postgres);
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use wirecache::app::{self, Running};
use wirecache::config;
use wirecache::engine::Engine;

/// A client protocol of wirecache: the `protocol` of a cache and the listener that
/// serves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Postgres,
    MySql,
    MariaDb,
    MsSql,
}

impl Protocol {
    /// The name in the config file (`protocol = "…"`, `[listen] … = `).
    pub const fn key(self) -> &'static str {
        match self {
            Protocol::Postgres => "postgres",
            Protocol::MySql => "mysql",
            Protocol::MariaDb => "mariadb",
            Protocol::MsSql => "mssql",
        }
    }

    /// The address the running app listens on for this protocol.
    fn listener(self, running: &Running) -> Option<SocketAddr> {
        match self {
            Protocol::Postgres => running.postgres,
            Protocol::MySql => running.mysql,
            Protocol::MariaDb => running.mariadb,
            Protocol::MsSql => running.mssql,
        }
    }
}

/// One `[[caches]]` table.
#[derive(Clone, Debug)]
struct CacheDef {
    id: String,
    protocol: Protocol,
    origin: u16,
    /// More `key = value` lines of its table.
    lines: Vec<String>,
}

/// What wirecache to start: its caches (each with its protocol and origin), which
/// listeners (every cache's protocol has one; [`ProxyBuilder::listener`] adds more),
/// lines for the `[cache]` section, and further tables (`[[rules]]`, `[admin]`,
/// `[tls]`). The admin listener is always on. Every listener binds 127.0.0.1:0.
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until started"]
pub struct ProxyBuilder {
    caches: Vec<CacheDef>,
    listeners: Vec<Protocol>,
    settings: Vec<String>,
    tables: Vec<String>,
}

impl ProxyBuilder {
    /// A cache `id` of `protocol` in front of the origin on 127.0.0.1:`origin_port`.
    pub fn cache(self, id: &str, protocol: Protocol, origin_port: u16) -> Self {
        self.cache_with(id, protocol, origin_port, "")
    }

    /// Like [`ProxyBuilder::cache`], with `lines` added to its table (e.g.
    /// `mode = "manual"` or `tls = "disable"`).
    pub fn cache_with(
        mut self,
        id: &str,
        protocol: Protocol,
        origin_port: u16,
        lines: &str,
    ) -> Self {
        assert!(
            self.caches.iter().all(|c| c.id != id),
            "cache {id} declared twice"
        );
        self.caches.push(CacheDef {
            id: id.to_string(),
            protocol,
            origin: origin_port,
            lines: vec![lines.to_string()],
        });
        self
    }

    /// Adds `lines` to the table of the cache `id`, declared before.
    pub fn cache_lines(mut self, id: &str, lines: &str) -> Self {
        let cache = self
            .caches
            .iter_mut()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no cache {id} declared"));
        cache.lines.push(lines.to_string());
        self
    }

    /// The caches most tests use in front of one PostgreSQL origin: `demo` and
    /// `my-app` (an ID with a dash).
    pub fn postgres_demo(self, origin_port: u16) -> Self {
        self.cache("demo", Protocol::Postgres, origin_port).cache(
            "my-app",
            Protocol::Postgres,
            origin_port,
        )
    }

    /// The caches most tests use in front of one MariaDB origin: `demo` and `my-app`
    /// on the MySQL listener, `demo-maria` on the MariaDB listener.
    pub fn mysql_demo(self, origin_port: u16) -> Self {
        self.cache("demo", Protocol::MySql, origin_port)
            .cache("my-app", Protocol::MySql, origin_port)
            .cache("demo-maria", Protocol::MariaDb, origin_port)
    }

    /// A listener for `protocol` even if no cache uses it.
    pub fn listener(mut self, protocol: Protocol) -> Self {
        if !self.listeners.contains(&protocol) {
            self.listeners.push(protocol);
        }
        self
    }

    /// Lines for the `[cache]` section (e.g. `shutdown_grace = "1s"`).
    pub fn settings(mut self, lines: &str) -> Self {
        self.settings.push(lines.to_string());
        self
    }

    /// Whole tables appended to the file (`[[rules]]`, `[admin]`, `[tls]`).
    pub fn toml(mut self, tables: &str) -> Self {
        self.tables.push(tables.to_string());
        self
    }

    /// Every listener: those asked for, then each cache's protocol, once each.
    fn all_listeners(&self) -> Vec<Protocol> {
        let mut all = self.listeners.clone();
        for cache in &self.caches {
            if !all.contains(&cache.protocol) {
                all.push(cache.protocol);
            }
        }
        all
    }

    /// The config file this builder describes.
    pub fn config_text(&self) -> String {
        let mut toml = String::from("[listen]\n");
        for protocol in self.all_listeners() {
            toml.push_str(&format!("{} = \"127.0.0.1:0\"\n", protocol.key()));
        }
        toml.push_str("admin = \"127.0.0.1:0\"\n\n");
        toml.push_str("[cache]\nmax_memory = \"64MiB\"\ndefault_ttl = \"60s\"\n");
        for lines in &self.settings {
            toml.push_str(lines);
            toml.push('\n');
        }
        for cache in &self.caches {
            toml.push_str(&format!(
                "\n[[caches]]\nid = \"{}\"\nprotocol = \"{}\"\norigin = \"127.0.0.1:{}\"\n",
                cache.id,
                cache.protocol.key(),
                cache.origin
            ));
            for lines in &cache.lines {
                toml.push_str(lines);
                toml.push('\n');
            }
        }
        for tables in &self.tables {
            toml.push('\n');
            toml.push_str(tables);
            toml.push('\n');
        }
        toml
    }

    /// Starts wirecache in this process.
    pub async fn start(self) -> Proxy {
        let toml = self.config_text();
        let config = config::from_str(&toml, Vec::new())
            .unwrap_or_else(|e| panic!("test config: {e:?}\n{toml}"));
        let running = app::start(&config).await.expect("wirecache starts");
        let caches = self
            .caches
            .iter()
            .map(|c| (c.id.clone(), c.protocol))
            .collect();
        Proxy { running, caches }
    }
}

/// A running wirecache; its listeners' addresses come from the running app.
pub struct Proxy {
    pub running: Running,
    /// Each cache's ID and protocol.
    caches: Vec<(String, Protocol)>,
}

impl Proxy {
    pub fn builder() -> ProxyBuilder {
        ProxyBuilder::default()
    }

    /// The listener of `protocol`; panics if it was not started.
    pub fn addr(&self, protocol: Protocol) -> SocketAddr {
        protocol
            .listener(&self.running)
            .unwrap_or_else(|| panic!("no {} listener", protocol.key()))
    }

    /// The PostgreSQL listener.
    pub fn pg_addr(&self) -> SocketAddr {
        self.addr(Protocol::Postgres)
    }

    /// The MySQL (`mysql` caches) listener.
    pub fn mysql_addr(&self) -> SocketAddr {
        self.addr(Protocol::MySql)
    }

    /// The MariaDB (`mariadb` caches) listener.
    pub fn mariadb_addr(&self) -> SocketAddr {
        self.addr(Protocol::MariaDb)
    }

    /// The admin (HTTP) listener.
    pub fn admin(&self) -> SocketAddr {
        self.running.admin.expect("admin listener")
    }

    /// The protocol of the cache `id`, if it was configured.
    pub fn protocol_of(&self, id: &str) -> Option<Protocol> {
        self.caches.iter().find(|(c, _)| c == id).map(|(_, p)| *p)
    }

    /// A mysql_async URL through wirecache as `CACHEID-user`, on the listener of the
    /// cache's protocol (the MySQL listener for an ID that is not configured).
    pub fn mysql_url(&self, cache: &str, db: &str, user: &str, password: &str) -> String {
        let protocol = self.protocol_of(cache).unwrap_or(Protocol::MySql);
        let port = self.addr(protocol).port();
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
            self.pg_addr().port()
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
        http_get(self.admin(), "/metrics").await
    }

    /// The value of one metric line (`name{labels}`), 0 if absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    /// Hits of the cache `demo`.
    pub async fn hits(&self) -> f64 {
        self.hits_of("demo").await
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
