//! Shared harness of the integration tests: private database origins started by
//! the test process itself (never the system services on the standard ports),
//! and the small helpers they are built from: free ports, unique names, fresh
//! temp dirs, and spawning a server that dies together with the test process.
//!
//! Every module of the test crate uses it as `crate::common`. Not every module uses
//! every helper, so dead-code warnings are silenced for the whole module.
#![allow(dead_code)]

pub mod mysql;
pub mod mysql_pooled_origin;
pub mod origin;
pub mod origin_tds;
pub mod pg;
mod pg_cluster;
pub mod pg_pooled_origin;
pub mod proxy;
pub mod redis;
pub mod tds_origin;
pub mod tds_origin_tls;
mod tds_origin_txn;
pub mod tds_raw;
pub mod tds_rpc;
mod tds_rpc_types;
mod tds_sql;
pub mod tds_wire;
pub mod tls;

pub use pg::PgOrigin;

use std::collections::HashSet;
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, SystemTime};

/// Every private origin lives in a temp dir whose name starts with this, and
/// its server's command line names that dir: `.ci/run` finds leftovers by it.
/// Full form: `wirecache-test-<kind>-<owner pid>-<n>`.
pub const TEST_DIR_PREFIX: &str = "wirecache-test-";

/// Process-wide counter behind [`unique`] and [`test_dir`].
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name that no other call in this process (nor, thanks to the pid, in any
/// other live test process) returns: `<prefix>_<pid>_<n>`. Lowercase ASCII,
/// digits and `_` only when `prefix` is, so it is a valid SQL identifier as is.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{n}", std::process::id())
}

/// A 127.0.0.1 port that was free a moment ago, taken from outside the kernel's
/// ephemeral range. Ports bound to 0 (the test origins started in this process, a
/// wirecache listening on port 0) and the source ports of outgoing connections all
/// come from that range, so none of them can take a port handed out here between
/// this call and the caller's bind; before, a test that waited for its daemon on
/// such a port could find another test's origin there instead. Another process may
/// still take it, so callers that start servers retry on "address in use". Within
/// this process no port is handed out twice.
pub fn free_port() -> u16 {
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let given = GIVEN.get_or_init(Default::default);
    let (low, high) = outside_ephemeral_range();
    let span = u32::from(high - low);
    // Processes start at different places, so two test binaries rarely meet.
    let start = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let offset = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = low + offset as u16;
        if lock(given).contains(&port) || TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        if lock(given).insert(port) {
            return port;
        }
    }
    panic!("no free port in {low}..{high}");
}

/// A range of ports the kernel never hands out on its own: below its ephemeral range
/// (`ip_local_port_range`) when there is room, above it otherwise.
fn outside_ephemeral_range() -> (u16, u16) {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut it = text.split_whitespace().map(|n| n.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        });
    match range {
        Some((first, _)) if first >= 12_000 => (10_000, first),
        Some((_, last)) if last <= 63_000 => (last + 1, 65_535),
        _ => (20_000, 32_768),
    }
}

/// Creates a fresh, empty directory `<temp>/wirecache-test-<kind>-<pid>-<n>`
/// (replacing a stale one of the same name) and returns its path.
pub fn test_dir(kind: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!("{TEST_DIR_PREFIX}{kind}-{}-{n}", std::process::id());
    let dir = std::env::temp_dir().join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
    }
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// Test dirs of `kind` left behind by test processes that no longer run (their
/// owner pid, taken from the name, is gone) and untouched for a minute, so a
/// dir another process is still setting up is never returned. The caller
/// decides how to dispose of each (a server may need more than `rm -r`).
pub fn stale_test_dirs(kind: &str) -> Vec<PathBuf> {
    let prefix = format!("{TEST_DIR_PREFIX}{kind}-");
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return Vec::new();
    };
    let quiet_since = SystemTime::now() - Duration::from_secs(60);
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(&prefix) else {
                return false;
            };
            let owner_alive = match rest.split('-').next().map(str::parse::<u32>) {
                Some(Ok(pid)) => Path::new(&format!("/proc/{pid}")).exists(),
                _ => true, // not our naming scheme: leave it alone
            };
            let quiet = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < quiet_since);
            !owner_alive && quiet
        })
        .map(|entry| entry.path())
        .collect()
}

/// The uid and gid of an OS user, or `None` if there is no such user.
pub fn os_user(name: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").arg(flag).arg(name).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

/// The last `lines` lines of a (log) file, for panic messages.
pub fn file_tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("<cannot read {}: {e}>", path.display()),
    }
}

/// Spawns `cmd` so that the child is killed (SIGKILL) when the test process
/// dies, however it dies, so no server outlives its tests.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not
/// the process; test threads come and go, so every such child is forked by one
/// dedicated thread that lives as long as the process. Callers hand it the
/// command over a channel and get the `Child` back; waiting on or signalling
/// the child works from any thread.
pub fn spawn_tied(cmd: Command) -> io::Result<Child> {
    type Request = (Command, mpsc::Sender<io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();

    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("origin-spawner".into())
            .spawn(move || {
                // Never returns while the process lives: the senders sit in a static.
                for (mut cmd, reply) in rx {
                    let _ = reply.send(spawn_with_deathsig(&mut cmd));
                }
            })
            .expect("start the origin-spawner thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    lock(spawner)
        .send((cmd, reply_tx))
        .expect("origin-spawner thread is gone");
    reply_rx.recv().expect("origin-spawner thread is gone")
}

/// Forks `cmd` with the parent-death signal set in the child.
fn spawn_with_deathsig(cmd: &mut Command) -> io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe system calls (prctl, getppid). It runs after any
    // uid/gid change, which matters: changing credentials clears the setting.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                return Err(io::Error::other("test process exited during spawn"));
            }
            Ok(())
        });
    }
    cmd.spawn()
}
/// Stops a wirecache `child` started with piped output (SIGTERM, then SIGKILL after
/// 30 s) and returns everything it wrote to stdout and stderr.
pub async fn stop_and_read_log(mut child: Child) -> String {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: sends a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let out = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Locks a mutex, ignoring poisoning: a test that panicked while holding it
/// must not make every later test fail too.
pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A CA (`ca.pem`) and a server certificate signed by it for `localhost` and
/// `127.0.0.1` (`server.crt`, `server.key`, readable by the server's user only).
pub fn write_certificates(dir: &Path, owner: Option<(u32, u32)>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "wirecache test cluster CA");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("server key");
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let mut leaf = CertificateParams::new(names).expect("server params");
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let cert = leaf.signed_by(&key, &issuer).expect("server certificate");
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("write ca.pem");
    std::fs::write(dir.join("server.crt"), cert.pem()).expect("write server.crt");
    let key_path = dir.join("server.key");
    std::fs::write(&key_path, key.serialize_pem()).expect("write server.key");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))
        .expect("chmod server.key");
    if let Some((uid, gid)) = owner {
        for f in ["ca.pem", "server.crt", "server.key"] {
            std::os::unix::fs::chown(dir.join(f), Some(uid), Some(gid)).expect("chown certificate");
        }
    }
}
