//! A private PostgreSQL 15 origin for the integration tests: its own cluster in
//! a temp dir, on an ephemeral 127.0.0.1 port, run as the `postgres` OS user
//! (PostgreSQL refuses root), with one role per password method and
//! pg_stat_statements loaded. The system service on 5432 is never touched.
//!
//! Lifecycle: [`PgOrigin::shared`] starts one cluster per test process on
//! first use and tears it down when the process exits (an `atexit` hook); if
//! the process dies abruptly the server still dies with it (see
//! [`super::spawn_tied`]) and the next run sweeps the dir away.
//! [`PgOrigin::private`] gives a test its own cluster, torn down on drop, for
//! tests that stop and start the origin.

use super::pg_cluster::{
    SETUP_SQL, as_owner, initdb, pg_bin, server_owner, sweep_stale_clusters, write_config,
};
use super::{file_tail, free_port, lock, spawn_tied, test_dir, unique};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The superuser role created by initdb.
pub const SUPERUSER: &str = "postgres";
/// Roles that must authenticate, each with the hba method in its name:
/// `pw_user` (cleartext `password`), `md5_user`, `scram_user` (scram-sha-256).
pub const PASSWORD_ROLES: [&str; 3] = ["pw_user", "md5_user", "scram_user"];
/// Plain login roles without a password (trusted), for privilege tests.
pub const PLAIN_ROLES: [&str; 2] = ["alice", "bob"];
/// How long a server may take to accept connections before we give up.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How many ports to try when the chosen one turns out to be taken.
const PORT_ATTEMPTS: usize = 5;

/// The password of one of [`PASSWORD_ROLES`].
pub fn password_for(role: &str) -> String {
    format!("secret-{role}")
}

/// One private PostgreSQL cluster and its server process.
pub struct PgOrigin {
    /// TCP port on 127.0.0.1.
    pub port: u16,
    /// Cluster (data) directory; also holds the unix socket and `server.log`.
    pub dir: PathBuf,
    /// uid/gid the server runs as; `None` when the tests do not run as root.
    owner: Option<(u32, u32)>,
    /// The postmaster while it runs. The lock also serialises stop/start.
    server: Mutex<Option<Child>>,
}

static SHARED: OnceLock<PgOrigin> = OnceLock::new();

impl PgOrigin {
    /// Starts (once per test process; later calls return the same) a private
    /// PostgreSQL 15 cluster on an ephemeral 127.0.0.1 port.
    /// Do not stop the shared one: other tests use it concurrently.
    pub fn shared() -> &'static PgOrigin {
        SHARED.get_or_init(|| {
            let origin = PgOrigin::create();
            // SAFETY: registering a plain `extern "C" fn` has no preconditions.
            unsafe { libc::atexit(teardown_shared_at_exit) };
            origin
        })
    }

    /// A cluster of the caller's own, set up like the shared one, removed
    /// when dropped. For tests that stop/start the origin.
    pub fn private() -> PgOrigin {
        PgOrigin::create()
    }

    /// Runs SQL as the superuser `postgres` via a blocking psql call (for
    /// setup) and returns its stdout: unaligned, tuples only, `|` between
    /// columns, trailing newline removed. Statements run one by one (so
    /// `CREATE DATABASE` may follow others); the first error panics.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let mut child = Command::new(pg_bin("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"])
            .arg("-h")
            .arg(&self.dir)
            .args(["-p", &self.port.to_string(), "-U", SUPERUSER, "-d", db])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run psql (scripts/install-test-deps.sh installs it)");
        let mut stdin = child.stdin.take().expect("psql stdin");
        stdin.write_all(sql.as_bytes()).expect("write SQL to psql");
        drop(stdin);
        let out = child.wait_with_output().expect("wait for psql");
        if !out.status.success() {
            panic!(
                "psql on {db} failed ({}):\n{sql}\n--- stderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout)
            .trim_end_matches('\n')
            .to_string()
    }

    /// Creates a fresh database with a unique name (`<prefix>_<pid>_<n>`,
    /// lowercased) and returns its name. It has pg_stat_statements.
    pub fn create_db(&self, prefix: &str) -> String {
        let clean: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let name = unique(&clean);
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\";"));
        name
    }

    /// A libpq-style connection string to this origin over TCP, as accepted by
    /// `tokio_postgres::connect`.
    pub fn conn_str(&self, db: &str, user: &str, password: Option<&str>) -> String {
        let mut s = format!("host=127.0.0.1 port={} user={user} dbname={db}", self.port);
        if let Some(pw) = password {
            let _ = write!(s, " password='{pw}'");
        }
        s
    }

    /// Connects with tokio_postgres (no TLS) and drives the connection on a
    /// spawned task. Must be called inside a tokio runtime.
    pub async fn connect(
        &self,
        db: &str,
        user: &str,
        password: Option<&str>,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let conn_str = self.conn_str(db, user, password);
        let (client, connection) =
            tokio_postgres::connect(&conn_str, tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            // Errors surface on the client's next call; nothing to do here.
            let _ = connection.await;
        });
        Ok(client)
    }

    /// The CA that signed the server's certificate (for `localhost` and 127.0.0.1).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The server log (`<dir>/server.log`).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// Stops the cluster immediately (fast shutdown: sessions are cut, no
    /// waiting for clients) and waits for the server to exit. No-op if stopped.
    pub fn stop(&self) {
        let mut server = lock(&self.server);
        if let Some(child) = server.take() {
            halt(child, libc::SIGINT, Duration::from_secs(30));
        }
    }

    /// Starts the cluster again on the same port and waits until it accepts
    /// connections. No-op if it runs. Panics (with the log's tail) on failure.
    pub fn start(&self) {
        let mut server = lock(&self.server);
        if let Some(child) = server.as_mut()
            && matches!(child.try_wait(), Ok(None))
        {
            return;
        }
        match self.launch() {
            Ok(child) => *server = Some(child),
            Err(failure) => panic!("{}", self.describe(&failure)),
        }
    }

    /// initdb, configure, start (retrying on port collisions), create roles.
    fn create() -> PgOrigin {
        sweep_stale_clusters();
        let owner = server_owner();
        let dir = test_dir("pg");
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", dir.display()));
        }
        let started = Instant::now();
        initdb(&dir, owner);
        write_config(&dir, owner);

        let mut origin = PgOrigin {
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
                // Someone took the port between free_port() and the bind: pick another.
                Err(Failure::PortTaken) if attempt < PORT_ATTEMPTS => {}
                Err(failure) => panic!("{}", origin.describe(&failure)),
            }
        }
        origin.psql("postgres", SETUP_SQL);
        eprintln!(
            "pg origin: {} on 127.0.0.1:{} ready in {:.1?}",
            origin.dir.display(),
            origin.port,
            started.elapsed()
        );
        origin
    }

    /// Spawns the postmaster (tied to this process) and waits until it is ready.
    fn launch(&self) -> Result<Child, Failure> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| Failure::Other(format!("open server.log: {e}")))?;
        // Where this attempt's output starts: earlier attempts' lines don't count.
        let log_start = log.metadata().map_or(0, |m| m.len());
        let mut cmd = Command::new(pg_bin("postgres"));
        cmd.arg("-D")
            .arg(&self.dir)
            .args(["-p", &self.port.to_string()]);
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| Failure::Other(e.to_string()))?);
        cmd.stderr(log);
        as_owner(&mut cmd, &self.dir, self.owner);
        let mut child =
            spawn_tied(cmd).map_err(|e| Failure::Other(format!("spawn postgres: {e}")))?;

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read(self.log_path()).unwrap_or_default();
                let ours = String::from_utf8_lossy(log.get(log_start as usize..).unwrap_or(&[]));
                return Err(if ours.contains("Address already in use") {
                    Failure::PortTaken
                } else {
                    Failure::Other(format!("postgres exited with {status}"))
                });
            }
            if self.is_ready() {
                return Ok(child);
            }
            if Instant::now() > deadline {
                halt(child, libc::SIGQUIT, Duration::from_secs(5));
                return Err(Failure::Other(format!("not ready after {READY_TIMEOUT:?}")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the server accepts connections on its unix socket. The socket
    /// is created after the TCP one, and its path is ours alone, so success
    /// means *our* server listens on 127.0.0.1:port.
    fn is_ready(&self) -> bool {
        Command::new(pg_bin("pg_isready"))
            .arg("-q")
            .arg("-h")
            .arg(&self.dir)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
                "-t",
                "2",
            ])
            .env_clear()
            .status()
            .is_ok_and(|s| s.success())
    }

    fn describe(&self, failure: &Failure) -> String {
        let what = match failure {
            Failure::PortTaken => "port already in use".to_string(),
            Failure::Other(msg) => msg.clone(),
        };
        format!(
            "private PostgreSQL in {} (port {}) failed to start: {what}\n--- server.log tail:\n{}",
            self.dir.display(),
            self.port,
            file_tail(&self.log_path(), 40)
        )
    }

    /// Immediate shutdown and removal of the directory.
    fn teardown(&self) {
        if let Some(child) = lock(&self.server).take() {
            halt(child, libc::SIGQUIT, Duration::from_secs(10));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for PgOrigin {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Runs at process exit (after all tests) to shut the shared cluster down
/// cleanly and delete it; statics are never dropped.
extern "C" fn teardown_shared_at_exit() {
    if let Some(origin) = SHARED.get() {
        origin.teardown();
    }
}

/// Why a start failed.
enum Failure {
    PortTaken,
    Other(String),
}

/// Sends `signal` to the postmaster and reaps it; SIGKILL after `grace`.
/// SIGINT is PostgreSQL's fast shutdown, SIGQUIT its immediate shutdown; both
/// still remove the server's shared memory, unlike SIGKILL.
fn halt(mut child: Child, signal: libc::c_int, grace: Duration) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    // SAFETY: kill() on our own, not yet reaped child: the pid cannot be reused.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// psql as `user` with `password` and `ssl` settings (`sslmode=…`), running `SELECT 1`
/// with nothing from the environment but the password; true if it got in.
pub fn psql_logs_in(port: u16, db: &str, user: &str, password: &str, ssl: &str) -> bool {
    let bin = std::env::var("WIRECACHE_PG_BIN").unwrap_or("/usr/lib/postgresql/15/bin".into());
    let conninfo = format!("host=127.0.0.1 port={port} dbname={db} user={user} {ssl}");
    Command::new(format!("{bin}/psql"))
        .args(["-X", "-A", "-t", "-c", "SELECT 1", &conninfo])
        .env_clear()
        .env("PGPASSWORD", password)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Waits (up to 20 s) until something accepts connections on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "wirecache did not open port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
