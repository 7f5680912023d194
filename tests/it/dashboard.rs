//! The web dashboard end to end: wirecache in-process in front of a private PostgreSQL
//! and MariaDB, a small workload (including a template whose text is HTML), then
//! Debian's headless Chromium driven by `tests/dashboard/drive.js` (playwright-core)
//! checks the page against the API, sorts, opens a template, purges, adds a rule and
//! is refused with a wrong token. This file then checks at the origins that the purge
//! and the rule took effect. Screenshots go to `target/dashboard-shots/`, or to the
//! folder `WIRECACHE_DASHBOARD_SHOTS` names (README's come from `results/dashboard/`).

use crate::common;

use std::path::Path;
use std::process::Command;

use common::PgOrigin;
use common::mysql::{self, MyOrigin, ROOT_PASSWORD, ROOT_USER};
use common::proxy::{Protocol, Proxy, http, http_get, origin_calls};
use mysql_async::prelude::Queryable;
use serde_json::Value;
use wirecache::app::Running;

const TOKEN: &str = "dash-token";
/// A template whose text would run script if the page rendered it as HTML.
const XSS_SQL: &str =
    "SELECT 1 AS \"<script>window.__xss=1</script><img src=x onerror=window.__xss=2>\"";
const BULK_TEMPLATES: usize = 1000;

async fn start(pg_port: u16, my_port: u16) -> Running {
    let proxy = Proxy::builder()
        .cache("demo", Protocol::Postgres, pg_port)
        .cache("bulk", Protocol::Postgres, pg_port)
        .cache("shop", Protocol::MySql, my_port)
        .toml(&format!("[admin]\ntoken = \"{TOKEN}\""))
        .start()
        .await;
    proxy.running
}

async fn pg_client(running: &Running, cache: &str, db: &str) -> tokio_postgres::Client {
    let port = running.postgres.expect("postgres listener").port();
    let conn = format!("host=127.0.0.1 port={port} user={cache}-postgres dbname={db}");
    let (client, c) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
        .await
        .expect("connect through wirecache");
    tokio::spawn(async move {
        let _ = c.await;
    });
    client
}

/// Three rounds of reads on both origins, sampling the time series after each.
async fn workload(running: &Running, pg_db: &str, my_url: &str) {
    let pg = pg_client(running, "demo", pg_db).await;
    let mut my = mysql::connect(my_url).await;
    for round in 0..3 {
        for id in 1..=5 {
            let sql = format!("SELECT name FROM items WHERE id = {id}");
            pg.simple_query(&sql).await.expect("pg read");
            let sql = format!("SELECT name FROM products WHERE id = {id}");
            let _: Vec<String> = my.query(sql).await.expect("mysql read");
        }
        pg.simple_query("SELECT count(*) FROM items")
            .await
            .expect("count");
        pg.simple_query("SELECT now()").await.expect("now");
        pg.simple_query(XSS_SQL).await.expect("xss template");
        if round == 1 {
            // A write through wirecache shortens the TTL of templates reading items.
            pg.simple_query("UPDATE items SET name = 'renamed' WHERE id = 50")
                .await
                .expect("write");
        }
        running.series.sample(&running.engine);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let _ = my.disconnect().await;
}

/// Many distinct templates in the `bulk` cache (one alias each).
async fn bulk_templates(running: &Running, pg_db: &str) {
    let c = pg_client(running, "bulk", pg_db).await;
    for i in 0..BULK_TEMPLATES {
        c.simple_query(&format!("SELECT id AS c{i} FROM items WHERE id = 1"))
            .await
            .expect("bulk read");
    }
}

fn admin_of(running: &Running) -> std::net::SocketAddr {
    running.admin.expect("admin listener")
}

async fn get_json(running: &Running, path: &str) -> Value {
    let (status, body) = http(admin_of(running), "GET", path, None, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("json")
}

fn drive(running: &Running) -> (bool, String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "run scripts/install-test-deps.sh (npm ci in tests/dashboard)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "run scripts/install-test-deps.sh (apt-get install chromium)"
    );
    // Screenshots go to target/ on every run; WIRECACHE_DASHBOARD_SHOTS=results/dashboard
    // refreshes the ones README shows.
    let shots = match std::env::var_os("WIRECACHE_DASHBOARD_SHOTS") {
        Some(dir) => Path::new(env!("CARGO_MANIFEST_DIR")).join(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard-shots"),
    };
    std::fs::create_dir_all(&shots).expect("screenshot folder");
    let admin = running.admin.expect("admin listener");
    let out = Command::new("node")
        .arg(dir.join("drive.js"))
        .env("DASH_URL", format!("http://{admin}/"))
        .env("DASH_TOKEN", TOKEN)
        .env("DASH_SHOTS", shots)
        .env("DASH_BULK", BULK_TEMPLATES.to_string())
        .output()
        .expect("node runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Private databases on both origins, with a table each.
fn databases(pg: &PgOrigin, my: &MyOrigin) -> (String, String) {
    let pg_db = pg.create_db("dash");
    pg.psql(
        &pg_db,
        "CREATE TABLE items (id int PRIMARY KEY, name text);
         INSERT INTO items SELECT g, 'item' || g FROM generate_series(1, 50) g;",
    );
    let my_db = my.create_db("dash");
    my.sql(
        &my_db,
        "CREATE TABLE products (id int PRIMARY KEY, name varchar(40));
         INSERT INTO products VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d'),(5,'e');",
    );
    (pg_db, my_db)
}

/// What the page relies on from the API: paging at 1,000 templates, refusals.
async fn api_checks(running: &Running) {
    let admin = admin_of(running);
    let (status, body) = http(admin, "GET", "/api/templates?sort=name", None, None).await;
    assert_eq!(status, 400, "an unknown sort key is refused: {body}");
    let (status, _) = http(admin, "GET", "/api/series?cache=nope", None, None).await;
    assert_eq!(status, 404, "an unknown cache has no series");
    let bulk = get_json(running, "/api/templates?cache=bulk&limit=50&offset=950").await;
    assert_eq!(bulk["total"], BULK_TEMPLATES as u64, "{bulk}");
    assert_eq!(bulk["templates"].as_array().map(Vec::len), Some(50));
}

/// Bypasses of cache `shop` because a rule said no.
async fn refused_by_rule(running: &Running) -> f64 {
    let series = "wirecache_bypasses_total{cache=\"shop\",reason=\"rule_says_no\"} ";
    http_get(admin_of(running), "/metrics")
        .await
        .lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(-1.0)
}

/// The page added `never` for table products in `shop`: a read cached before the rule
/// now bypasses the cache and reaches the origin.
async fn check_rule_applies(running: &Running, my: &MyOrigin, my_db: &str, my_url: &str) {
    let refused_before = refused_by_rule(running).await;
    let selects_before = my.selects(my_db);
    let mut conn = mysql::connect(my_url).await;
    let _: Vec<String> = conn
        .query("SELECT name FROM products WHERE id = 1")
        .await
        .expect("mysql read");
    let _ = conn.disconnect().await;
    assert_eq!(
        refused_by_rule(running).await,
        refused_before + 1.0,
        "the rule refused it"
    );
    assert!(my.selects(my_db) > selects_before, "it reached the origin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_api_and_acts_on_the_cache() {
    let (pg, my) = (PgOrigin::shared(), MyOrigin::shared());
    let (pg_db, my_db) = databases(pg, my);
    let running = start(pg.port, my.port).await;
    let my_port = running.mysql.expect("mysql listener").port();
    let my_url = format!("mysql://shop-{ROOT_USER}:{ROOT_PASSWORD}@127.0.0.1:{my_port}/{my_db}");
    running.series.sample(&running.engine);
    workload(&running, &pg_db, &my_url).await;
    bulk_templates(&running, &pg_db).await;
    running.series.sample(&running.engine);
    api_checks(&running).await;

    // A cached read before the page acts: served from the cache, no origin call.
    let c = pg_client(&running, "demo", &pg_db).await;
    let (needle, read) = (
        "name FROM items WHERE id",
        "SELECT name FROM items WHERE id = 1",
    );
    let before = origin_calls(pg, &pg_db, needle);
    c.simple_query(read).await.expect("read");
    assert_eq!(origin_calls(pg, &pg_db, needle), before, "still a hit");

    let (ok, log) = drive(&running);
    println!("{log}");
    assert!(ok, "the browser checks failed:\n{log}");

    // The page purged cache `demo`: the same read is now a miss at the origin.
    c.simple_query(read).await.expect("read");
    let after = origin_calls(pg, &pg_db, needle);
    assert_eq!(after, before + 1, "purged: a miss");
    check_rule_applies(&running, my, &my_db, &my_url).await;
    running.shutdown().await;
}
