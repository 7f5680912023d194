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
    child: Mutex<Option<Child>>,
}

impl Redis {
    /// Starts a fresh server (retrying on a port taken meanwhile).
    pub fn start() -> Redis {
        Redis::start_with(&[])
    }

    /// Starts a fresh server with more arguments.
    pub fn start_with(extra: &[&str]) -> Redis {
        let dir = test_dir("redis");
        for _ in 0..5 {
            let redis = Redis {
                port: free_port(),
                dir: dir.clone(),
                extra: extra.iter().map(|s| s.to_string()).collect(),
                child: Mutex::new(None),
            };
            if redis.launch() {
                return redis;
            }
        }
        panic!("redis-server did not start (is the redis-server package installed?)");
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
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
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
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
