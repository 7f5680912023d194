//! The `wirecache` command line: configuration checking, exit codes, environment-only
//! configuration, `explain`, `health`, and stopping on SIGTERM.

use std::process::Command;

fn wirecache() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wirecache"));
    c.env_remove("WIRECACHE_CONFIG");
    c
}

#[test]
fn the_example_config_checks_out() {
    let out = wirecache()
        .args([
            "check-config",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("demo"), "{text}");
}

#[test]
fn a_bad_config_reports_every_problem_and_exits_64() {
    let dir = std::env::temp_dir().join(format!("wirecache-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[cache]\nmax_memroy = \"1GiB\"\ndefault_ttl = \"soon\"\n[[caches]]\nid = \"a b\"\nprotocol = \"pg\"\norigin = \"nowhere\"\n",
    )
    .unwrap();
    let out = wirecache()
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "max_memroy",
        "default_ttl",
        "caches[0].id",
        "caches[0].protocol",
        "caches[0].origin",
    ] {
        assert!(err.contains(needle), "{needle} missing from:\n{err}");
    }
}

#[test]
fn the_environment_alone_is_a_complete_config() {
    let out = wirecache()
        .arg("check-config")
        .env("WIRECACHE_CACHES_0_ID", "envdemo")
        .env("WIRECACHE_CACHES_0_PROTOCOL", "postgres")
        .env("WIRECACHE_CACHES_0_ORIGIN", "db.internal:5432")
        .env("WIRECACHE_CACHE_MAX_MEMORY", "1GiB")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("envdemo") && text.contains("db.internal:5432"),
        "{text}"
    );
}

#[test]
fn explain_says_why_not() {
    let run = |sql: &str| {
        let out = wirecache()
            .args([
                "explain",
                "--config",
                concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"),
            ])
            .args(["--cache", "demo", sql])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(run("SELECT now()").contains("non_immutable_function"));
    let read = run("SELECT a FROM t WHERE id = 1");
    assert!(
        read.contains("cacheable:   yes, if the origin's catalog confirms: relation t"),
        "{read}"
    );
    assert!(
        read.contains("template:    select a from t where id = ?"),
        "{read}"
    );
    let write = run("UPDATE t SET a = 1");
    assert!(write.contains("cacheable:   no (not_a_read)"), "{write}");
    assert!(write.contains("writes:      t"), "{write}");
    assert!(run("SELECT 1 FROM t FOR UPDATE").contains("locking_clause"));
}

#[test]
fn sigterm_stops_the_daemon_cleanly() {
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = wirecache()
        .env("WIRECACHE_LISTEN_POSTGRES", "127.0.0.1:0")
        .env("WIRECACHE_LISTEN_ADMIN", admin.to_string())
        .env("WIRECACHE_CACHES_0_ID", "demo")
        .env("WIRECACHE_CACHES_0_PROTOCOL", "postgres")
        .env("WIRECACHE_CACHES_0_ORIGIN", "127.0.0.1:1")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(admin).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "admin port never opened"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The container health check: alive and ready, the address taken from the same
    // environment variable the daemon listens by.
    for args in [&["health"][..], &["health", "--ready"]] {
        let out = wirecache()
            .args(args)
            .env("WIRECACHE_LISTEN_ADMIN", admin.to_string())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {text}");
    }
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: sends a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("wirecache did not exit after SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("every session closed"), "{log}");
    // Nothing listens any more: unhealthy, exit 1, and the reason names the port.
    let out = wirecache()
        .args(["health", "--admin", &admin.to_string(), "--timeout", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot connect to the admin port"), "{err}");
}
