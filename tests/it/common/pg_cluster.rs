//! The on-disk side of a private PostgreSQL test cluster (see `pg.rs` for the
//! running server): where the binaries are, who owns the cluster, `initdb`,
//! the test configuration and pg_hba.conf, the roles created at startup, and
//! the sweep of clusters left behind by test processes that were killed.

use super::pg::SUPERUSER;
use super::{os_user, stale_test_dirs};
use std::io::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian puts the PostgreSQL 15 binaries; `WIRECACHE_PG_BIN` overrides.
const DEFAULT_PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Roles and extensions every cluster starts with. Run once, as superuser.
/// The passwords are what `pg::password_for` returns.
pub(super) const SETUP_SQL: &str = "
SET password_encryption = 'scram-sha-256';
CREATE ROLE pw_user LOGIN PASSWORD 'secret-pw_user';
CREATE ROLE scram_user LOGIN PASSWORD 'secret-scram_user';
SET password_encryption = 'md5';
CREATE ROLE md5_user LOGIN PASSWORD 'secret-md5_user';
RESET password_encryption;
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE ROLE ssl_only LOGIN;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
\\connect template1
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
";

/// Client authentication, first match wins: `ssl_only` must come over TLS; the three
/// password roles each get their method over TCP; everyone else (postgres, alice,
/// bob, …) is trusted.
const PG_HBA: &str = "\
# wirecache test cluster (written by tests/it/common/pg_cluster.rs)
hostssl all ssl_only   127.0.0.1/32  trust
host  all  ssl_only    127.0.0.1/32  reject
host  all  pw_user     127.0.0.1/32  password
host  all  md5_user    127.0.0.1/32  md5
host  all  scram_user  127.0.0.1/32  scram-sha-256
host  all  all         127.0.0.1/32  trust
local all  all                       trust
";

/// Path of a PostgreSQL binary.
pub(super) fn pg_bin(tool: &str) -> PathBuf {
    let dir = std::env::var_os("WIRECACHE_PG_BIN").unwrap_or_else(|| DEFAULT_PG_BIN.into());
    Path::new(&dir).join(tool)
}

/// Who runs the server: the `postgres` OS user when we are root (PostgreSQL
/// refuses to run as root), else the current user.
pub(super) fn server_owner() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    Some(
        os_user("postgres").expect(
            "no `postgres` OS user: run scripts/install-test-deps.sh (installs postgresql-15)",
        ),
    )
}

/// Makes `cmd` run as `owner` in `dir` with a minimal environment.
pub(super) fn as_owner(cmd: &mut Command, dir: &Path, owner: Option<(u32, u32)>) {
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LC_ALL", "C");
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid);
    }
}

/// `initdb -A trust -U postgres` into `dir`.
pub(super) fn initdb(dir: &Path, owner: Option<(u32, u32)>) {
    let mut cmd = Command::new(pg_bin("initdb"));
    cmd.arg("-D").arg(dir);
    cmd.args(["-A", "trust", "-U", SUPERUSER, "-E", "UTF8", "--locale=C"]);
    cmd.args(["--no-sync", "--no-instructions"]);
    as_owner(&mut cmd, dir, owner);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run initdb (scripts/install-test-deps.sh installs it): {e}"));
    if !out.status.success() {
        panic!(
            "initdb {} failed ({}):\n{}{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Appends the test settings to postgresql.conf, replaces pg_hba.conf and
/// creates server.log owned by the server's user.
pub(super) fn write_config(dir: &Path, owner: Option<(u32, u32)>) {
    let settings = format!(
        "
# --- wirecache test harness (tests/it/common/pg.rs); the port is given with -p ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '{dir}'
max_connections = 200
# Two-phase commit (PREPARE TRANSACTION) is exercised by tests/it/transactions.rs.
max_prepared_transactions = 20
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
# One cluster serves the whole test crate: room for every test's statements, so none
# is evicted while a test counts its calls.
pg_stat_statements.max = 50000
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
lc_messages = 'C'
# TLS with a certificate for localhost and 127.0.0.1 from the cluster's own CA (ca.pem).
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
",
        dir = dir.display()
    );
    let conf = dir.join("postgresql.conf");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&conf)
        .unwrap_or_else(|e| panic!("open {}: {e}", conf.display()));
    file.write_all(settings.as_bytes())
        .expect("write postgresql.conf");
    std::fs::write(dir.join("pg_hba.conf"), PG_HBA).expect("write pg_hba.conf");
    super::write_certificates(dir, owner);
    let log = dir.join("server.log");
    std::fs::write(&log, "").expect("create server.log");
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&log, Some(uid), Some(gid)).expect("chown server.log");
    }
}

/// Removes clusters left by test processes that died without their exit hook
/// (killed, aborted). Their servers died with them (parent-death signal), but
/// SIGKILL leaves the dir and a System V shared memory segment behind; free
/// both. A cluster whose socket still answers is left alone.
pub(super) fn sweep_stale_clusters() {
    for dir in stale_test_dirs("pg") {
        let pid_file = std::fs::read_to_string(dir.join("postmaster.pid")).unwrap_or_default();
        let lines: Vec<&str> = pid_file.lines().collect();
        if let Some(port) = lines.get(3) {
            let socket = dir.join(format!(".s.PGSQL.{}", port.trim()));
            if std::os::unix::net::UnixStream::connect(socket).is_ok() {
                continue;
            }
        }
        // Line 7: "<shm key> <shm id>".
        if let Some(shm) = lines.get(6) {
            let mut fields = shm.split_whitespace().map(str::parse::<i64>);
            if let (Some(Ok(key)), Some(Ok(id))) = (fields.next(), fields.next()) {
                free_orphan_shm(key, id);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Removes System V segment `id` if it still has `key` and nobody attaches it.
fn free_orphan_shm(key: i64, id: i64) {
    let Ok(id) = libc::c_int::try_from(id) else {
        return;
    };
    // SAFETY: shmid_ds is plain data; shmctl only writes into it (IPC_STAT) or
    // reads nothing (IPC_RMID); a stale id just makes the call fail.
    unsafe {
        let mut info: libc::shmid_ds = std::mem::zeroed();
        if libc::shmctl(id, libc::IPC_STAT, &mut info) == 0
            && i64::from(info.shm_perm.__key) == key
            && info.shm_nattch == 0
        {
            libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
        }
    }
}
