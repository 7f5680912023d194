//! A private MariaDB origin for the integration tests: its own data dir in a temp
//! dir, on an ephemeral 127.0.0.1 port, run as the `mysql` OS user when the tests run
//! as root, with one user per auth method (`native_user`: mysql_native_password,
//! `ed_user`: ed25519), an all-privileges `wc_root`, and plain users `alice` and `bob`
//! for privilege tests. The system service is never touched.
//!
//! [`MyOrigin::shared`] starts one server per test process on first use and stops it
//! at exit; the server also dies with the process (see [`super::spawn_tied`]).

use super::{file_tail, free_port, lock, os_user, spawn_tied, stale_test_dirs, test_dir, unique};
use std::io::Write as _;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// All privileges, password authentication (mysql_native_password).
pub const ROOT_USER: &str = "wc_root";
pub const ROOT_PASSWORD: &str = "secret-wc_root";
/// Users of each auth method, password `secret-<name>`.
pub const NATIVE_USER: &str = "native_user";
pub const ED25519_USER: &str = "ed_user";
/// Plain users without grants; tests grant what they need. Password `secret-<name>`.
pub const PLAIN_USERS: [&str; 2] = ["alice", "bob"];
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const PORT_ATTEMPTS: usize = 5;

pub fn password_for(user: &str) -> String {
    format!("secret-{user}")
}

const SETUP_SQL: &str = "
INSTALL SONAME 'auth_ed25519';
CREATE USER 'wc_root'@'%' IDENTIFIED BY 'secret-wc_root';
GRANT ALL ON *.* TO 'wc_root'@'%' WITH GRANT OPTION;
CREATE USER 'native_user'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('secret-native_user');
GRANT ALL ON *.* TO 'native_user'@'%';
CREATE USER 'ed_user'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('secret-ed_user');
GRANT ALL ON *.* TO 'ed_user'@'%';
CREATE USER 'alice'@'%' IDENTIFIED BY 'secret-alice';
CREATE USER 'bob'@'%' IDENTIFIED BY 'secret-bob';
CREATE USER 'ssl_only'@'%' IDENTIFIED BY 'secret-ssl_only' REQUIRE SSL;
GRANT ALL ON *.* TO 'ssl_only'@'%';
";

/// One private MariaDB server.
pub struct MyOrigin {
    pub port: u16,
    pub dir: PathBuf,
    owner: Option<(u32, u32)>,
    server: Mutex<Option<Child>>,
}

static SHARED: OnceLock<MyOrigin> = OnceLock::new();

extern "C" fn teardown_shared_at_exit() {
    if let Some(origin) = SHARED.get() {
        origin.teardown();
    }
}

impl MyOrigin {
    /// Starts (once per test process) a private MariaDB on an ephemeral port.
    pub fn shared() -> &'static MyOrigin {
        SHARED.get_or_init(|| {
            let origin = MyOrigin::create();
            // SAFETY: registering a plain `extern "C" fn` has no preconditions.
            unsafe { libc::atexit(teardown_shared_at_exit) };
            origin
        })
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("mysqld.sock")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// Runs SQL as the server's root over its unix socket (batch mode, tab-separated,
    /// no column names) and returns stdout without the trailing newline. Panics on error.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        self.try_sql(db, sql)
            .unwrap_or_else(|e| panic!("mariadb on {db} failed:\n{sql}\n--- stderr:\n{e}"))
    }

    pub fn try_sql(&self, db: &str, sql: &str) -> Result<String, String> {
        let mut child = Command::new("mariadb")
            .args(["--no-defaults", "-u", "root", "-N", "-B"])
            .arg(format!("--socket={}", self.socket().display()))
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the mariadb client (scripts/install-test-deps.sh installs it)");
        let mut stdin = child.stdin.take().expect("mariadb stdin");
        // A client that exits early (the server still starting) closes its stdin: the
        // exit status below tells what happened, not the broken pipe.
        let _ = stdin.write_all(sql.as_bytes());
        drop(stdin);
        let out = child.wait_with_output().expect("wait for mariadb");
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .trim_end_matches('\n')
            .to_string())
    }

    /// A fresh database `<prefix>_<pid>_<n>`.
    pub fn create_db(&self, prefix: &str) -> String {
        let name = unique(prefix);
        self.sql("", &format!("CREATE DATABASE `{name}`;"));
        name
    }

    /// A global status counter (e.g. `Com_select`).
    pub fn status(&self, name: &str) -> i64 {
        let out = self.sql("", &format!("SHOW GLOBAL STATUS LIKE '{name}'"));
        out.split('\t')
            .nth(1)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(-1)
    }

    /// How many SELECTs the origin executed with `db` as the default database
    /// (performance_schema's digest summary): proof that a hit did not reach it.
    pub fn selects(&self, db: &str) -> i64 {
        let sql = format!(
            "SELECT COALESCE(SUM(COUNT_STAR), 0) FROM performance_schema.events_statements_summary_by_digest \
             WHERE SCHEMA_NAME = '{db}' AND DIGEST_TEXT LIKE 'SELECT%'"
        );
        self.sql("", &sql).trim().parse().unwrap_or(-1)
    }

    fn create() -> MyOrigin {
        for dir in stale_test_dirs("my") {
            let _ = std::fs::remove_dir_all(dir);
        }
        // SAFETY: geteuid has no preconditions.
        let owner = if unsafe { libc::geteuid() } == 0 {
            Some(os_user("mysql").expect("no `mysql` OS user: run scripts/install-test-deps.sh"))
        } else {
            None
        };
        let dir = test_dir("my");
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown test dir");
        }
        let started = Instant::now();
        // TLS with a certificate for localhost and 127.0.0.1 from the server's own CA.
        super::write_certificates(&dir, owner);
        // A temp dir of its own: servers sharing /tmp clash over `#sql-temptable-*`
        // files, and MariaDB 10.11 then crashes (ha_maria::drop_table) in queries on
        // information_schema.
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp).expect("create the server's tmpdir");
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&tmp, Some(uid), Some(gid)).expect("chown tmpdir");
        }
        let data = dir.join("data");
        let mut cmd = Command::new("mariadb-install-db");
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--skip-test-db", "--auth-root-authentication-method=socket"])
            .arg(format!("--tmpdir={}", tmp.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if owner.is_some() {
            cmd.arg("--user=mysql");
        }
        let out = cmd.output().expect("run mariadb-install-db");
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut origin = MyOrigin {
            port: 0,
            dir,
            owner,
            server: Mutex::new(None),
        };
        for attempt in 1..=PORT_ATTEMPTS {
            origin.port = free_port();
            match origin.launch() {
                Ok(child) => {
                    *lock(&origin.server) = Some(child);
                    break;
                }
                Err(taken) if taken && attempt < PORT_ATTEMPTS => {}
                Err(_) => panic!(
                    "private MariaDB in {} failed to start\n--- server.log tail:\n{}",
                    origin.dir.display(),
                    file_tail(&origin.log_path(), 40)
                ),
            }
        }
        origin.sql("", SETUP_SQL);
        eprintln!(
            "mariadb origin: {} on 127.0.0.1:{} ready in {:.1?}",
            origin.dir.display(),
            origin.port,
            started.elapsed()
        );
        origin
    }

    /// Spawns mariadbd and waits until it answers; `Err(true)` if the port was taken.
    fn launch(&self) -> Result<Child, bool> {
        let log = self.log_path();
        let log_start = std::fs::metadata(&log).map_or(0, |m| m.len());
        let mut cmd = Command::new("/usr/sbin/mariadbd");
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", self.dir.join("data").display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!(
                "--pid-file={}",
                self.dir.join("mysqld.pid").display()
            ))
            .arg(format!("--log-error={}", log.display()))
            .arg(format!("--tmpdir={}", self.dir.join("tmp").display()))
            .args([
                "--skip-log-bin",
                "--skip-name-resolve",
                "--max-connections=1000",
            ])
            .args([
                "--innodb-buffer-pool-size=128M",
                "--innodb-log-file-size=64M",
            ])
            .args([
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
            ])
            .args(["--local-infile=1", "--max-allowed-packet=64M"])
            .arg(format!("--ssl-ca={}", self.dir.join("ca.pem").display()))
            .arg(format!(
                "--ssl-cert={}",
                self.dir.join("server.crt").display()
            ))
            .arg(format!(
                "--ssl-key={}",
                self.dir.join("server.key").display()
            ))
            .args([
                "--performance-schema=ON",
                "--performance-schema-digests-size=20000",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((uid, gid)) = self.owner {
            // Switch before exec, so the parent-death signal set after it holds.
            cmd.uid(uid).gid(gid);
        }
        cmd.current_dir(&self.dir);
        let mut child = spawn_tied(cmd).map_err(|_| false)?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                let text = std::fs::read(&log).unwrap_or_default();
                let ours = String::from_utf8_lossy(text.get(log_start as usize..).unwrap_or(&[]));
                return Err(ours.contains("Address already in use"));
            }
            if self.try_sql("", "SELECT 1").is_ok() {
                return Ok(child);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(false);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn teardown(&self) {
        if let Some(mut child) = lock(&self.server).take() {
            // SAFETY: kill() on our own, not yet reaped child.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// The CA that signed the server's certificate (for `localhost` and 127.0.0.1).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A mysql_async URL straight to the origin.
    pub fn url(&self, db: &str, user: &str, password: &str) -> String {
        format!("mysql://{user}:{password}@127.0.0.1:{}/{db}", self.port)
    }
}

/// Connects with mysql_async (no TLS, no compression) to `url`.
pub async fn connect(url: &str) -> mysql_async::Conn {
    try_connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

pub async fn try_connect(url: &str) -> Result<mysql_async::Conn, mysql_async::Error> {
    let opts = mysql_async::Opts::from_url(url).expect("mysql url");
    // Never let the driver switch to the origin's unix socket behind wirecache's back.
    let opts = mysql_async::OptsBuilder::from_opts(opts).prefer_socket(false);
    mysql_async::Conn::new(opts).await
}

/// Runs the `mariadb` command-line client against `port` (batch mode, no column
/// names) with `args` after the connection options; returns (success, stdout, stderr).
pub async fn cli(port: u16, user: &str, password: &str, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new("mariadb");
    cmd.args([
        "--no-defaults",
        "--protocol=TCP",
        "-h",
        "127.0.0.1",
        "-N",
        "-B",
    ])
    .arg(format!("--port={port}"))
    .arg(format!("--user={user}"))
    .arg(format!("--password={password}"))
    .args(args);
    run_blocking(cmd).await
}

/// Runs a command off the async runtime; returns (success, stdout, stderr).
pub async fn run_blocking(mut cmd: Command) -> (bool, String, String) {
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("spawn command");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim_end().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
