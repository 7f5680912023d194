//! A private `redis-server` for one test: its own temp dir and ephemeral port, no
//! persistence (`--save '' --appendonly no`), tied to the test process. It can be
//! killed and started again on the same port (an outage, then a Redis that lost
//! its data, as ElastiCache without persistence does after a restart).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{free_port, lock, spawn_tied, test_dir};

/// Where Debian's `redis-server` package installs the server.
const BINARY: &str = "/usr/bin/redis-server";

pub struct Redis {
    pub port: u16,
    dir: PathBuf,
    /// More server arguments (`--requirepass`, `--user`).
    extra: Vec<String>,
    /// Serves TLS only, with the certificates of `write_certificates` in its dir.
    tls: bool,
    child: Mutex<Option<Child>>,
}

impl Redis {
    /// Starts a fresh server (retrying on a port taken meanwhile).
    pub fn start() -> Redis {
        Redis::start_with(&[])
    }

    /// Starts a fresh server that speaks TLS only (`rediss://`), with a certificate
    /// for 127.0.0.1 signed by [`Redis::ca_file`].
    pub fn start_tls() -> Redis {
        Redis::start_as(&[], true)
    }

    /// The CA of a TLS server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Starts a fresh server with more arguments.
    pub fn start_with(extra: &[&str]) -> Redis {
        Redis::start_as(extra, false)
    }

    fn start_as(extra: &[&str], tls: bool) -> Redis {
        let dir = test_dir("redis");
        if tls {
            super::write_certificates(&dir, None);
        }
        for _ in 0..5 {
            let redis = Redis {
                port: free_port(),
                dir: dir.clone(),
                extra: extra.iter().map(|s| s.to_string()).collect(),
                tls,
                child: Mutex::new(None),
            };
            if redis.launch() {
                return redis;
            }
        }
        panic!("redis-server did not start (is the redis-server package installed?)");
    }

    /// `redis://127.0.0.1:PORT` (`rediss://` for a TLS server).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// A `[cluster]` table for this server.
    pub fn cluster_table(&self, mode: &str, instance: &str) -> String {
        format!(
            "[cluster]\nurl = \"{}\"\nmode = \"{mode}\"\ninstance = \"{instance}\"\nack_timeout = \"500ms\"\nstale_window = \"300ms\"\n",
            self.url()
        )
    }

    /// Starts the server on its port; false if it did not come up.
    fn launch(&self) -> bool {
        let mut cmd = Command::new(BINARY);
        let port = self.port.to_string();
        match self.tls {
            false => cmd.args(["--port", &port]),
            true => cmd
                .args([
                    "--port",
                    "0",
                    "--tls-port",
                    &port,
                    "--tls-auth-clients",
                    "no",
                ])
                .arg("--tls-cert-file")
                .arg(self.dir.join("server.crt"))
                .arg("--tls-key-file")
                .arg(self.dir.join("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(self.ca_file()),
        };
        // Redis rewrites its command line: keep the test dir in it, so `.ci/run` can
        // tell a leftover server by name (it dies with the test process anyway).
        let title = format!("{{title}} {{listen-addr}} {}", self.dir.display());
        cmd.args(["--proc-title-template", &title]);
        cmd.args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let Ok(child) = spawn_tied(cmd) else {
            return false;
        };
        *lock(&self.child) = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            if let Some(c) = lock(&self.child).as_mut()
                && let Ok(Some(_)) = c.try_wait()
            {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Kills the server at once (SIGKILL): its data is gone.
    pub fn kill(&self) {
        if let Some(mut c) = lock(&self.child).take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&self) {
        self.kill();
        assert!(
            self.launch(),
            "redis-server did not restart on port {}",
            self.port
        );
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
