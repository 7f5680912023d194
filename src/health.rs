//! `wirecache health`: asks a running daemon's admin port for `/healthz` (alive) or
//! `/readyz` (accepting clients) and turns the answer into an exit code, so a
//! container's health check (Dockerfile `HEALTHCHECK`, the ECS task definition) needs
//! no shell, curl or wget in the image. Plain HTTP/1.1 over a blocking socket with a
//! deadline: it runs once and exits.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Where the admin port is when nothing says otherwise (design §1).
pub const DEFAULT_ADMIN: &str = "127.0.0.1:10000";

/// At most this much of the answer is read: the status line is all that matters.
const MAX_ANSWER: usize = 4096;

/// Which question to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `/healthz`: the process serves its admin port.
    Live,
    /// `/readyz`: it also accepts clients (503 while shutting down).
    Ready,
}

impl Probe {
    pub fn path(self) -> &'static str {
        match self {
            Probe::Live => "/healthz",
            Probe::Ready => "/readyz",
        }
    }
}

/// Why the check failed; each says which step.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("cannot resolve the admin address {0:?}")]
    Resolve(String),
    #[error("cannot connect to the admin port at {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the admin port at {addr} did not answer: {source}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the admin port answered something that is not HTTP")]
    Malformed,
    #[error("{path} answered HTTP {status}")]
    Status { path: &'static str, status: u16 },
}

/// The address to probe: `--admin` if given, else the port of `WIRECACHE_LISTEN_ADMIN`
/// (`listen` is its value) on loopback, since a wildcard address cannot be connected to.
pub fn admin_address(flag: Option<&str>, listen: Option<&str>) -> String {
    if let Some(addr) = flag {
        return addr.to_string();
    }
    let port = listen
        .and_then(|l| l.rsplit_once(':'))
        .and_then(|(_, port)| port.parse::<u16>().ok());
    match port {
        Some(port) => format!("127.0.0.1:{port}"),
        None => DEFAULT_ADMIN.to_string(),
    }
}

/// Asks `probe` at `addr`; `Ok` with the status when it is 200.
pub fn check(addr: &str, probe: Probe, timeout: Duration) -> Result<u16, HealthError> {
    let deadline = Instant::now() + timeout;
    let target = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| HealthError::Resolve(addr.to_string()))?;
    let mut stream =
        TcpStream::connect_timeout(&target, timeout).map_err(|source| HealthError::Connect {
            addr: target,
            source,
        })?;
    let io = |source| HealthError::Io {
        addr: target,
        source,
    };
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    stream.set_read_timeout(Some(left)).map_err(io)?;
    stream.set_write_timeout(Some(left)).map_err(io)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: wirecache-health\r\nConnection: close\r\n\r\n",
        probe.path()
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut answer = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    while answer.len() < MAX_ANSWER && !answer.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut chunk).map_err(io)?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    let status = status_code(&answer).ok_or(HealthError::Malformed)?;
    if status == 200 {
        Ok(status)
    } else {
        Err(HealthError::Status {
            path: probe.path(),
            status,
        })
    }
}

/// The status code of an HTTP/1.x status line.
fn status_code(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split(' ');
    if !words.next()?.starts_with("HTTP/1.") {
        return None;
    }
    words.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_address_prefers_the_flag_then_the_listen_port() {
        assert_eq!(
            admin_address(Some("10.0.0.1:9"), Some("0.0.0.0:1")),
            "10.0.0.1:9"
        );
        assert_eq!(
            admin_address(None, Some("0.0.0.0:10001")),
            "127.0.0.1:10001"
        );
        assert_eq!(admin_address(None, Some("[::]:10002")), "127.0.0.1:10002");
        assert_eq!(admin_address(None, Some("nonsense")), DEFAULT_ADMIN);
        assert_eq!(admin_address(None, None), DEFAULT_ADMIN);
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n\r\nok"), Some(200));
        assert_eq!(
            status_code(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(b""), None);
        assert_eq!(status_code(b"HTTP/1.1 abc\r\n"), None);
    }

    #[test]
    fn nothing_listening_is_a_connect_error() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let e = check(&addr, Probe::Live, Duration::from_secs(2)).unwrap_err();
        assert!(matches!(e, HealthError::Connect { .. }), "{e}");
    }

    #[test]
    fn a_peer_that_is_not_http_is_malformed() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let _ = s.write_all(b"220 smtp ready\r\n");
        });
        let e = check(&addr, Probe::Ready, Duration::from_secs(2)).unwrap_err();
        assert!(matches!(e, HealthError::Malformed), "{e}");
        server.join().unwrap();
    }
}
