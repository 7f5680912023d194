//! The `wirecache` command: run the daemon, check a config, explain a query.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use wirecache::config::{self, Config, LogFormat, LogLevel};

/// A caching proxy for PostgreSQL, MySQL/MariaDB and SQL Server wire protocols.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (also WIRECACHE_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (the default).
    Run,
    /// Validate the configuration and print the effective settings.
    CheckConfig,
    /// Say whether a query would be cached, judging by its text alone.
    Explain {
        #[arg(long)]
        cache: String,
        /// Print JSON (the same shape as POST /api/explain).
        #[arg(long)]
        json: bool,
        sql: String,
    },
    /// Ask a running wirecache's admin port whether it is alive (or ready); exit 0 if
    /// so, 1 if not. Needs no config: the port comes from --admin, else from
    /// WIRECACHE_LISTEN_ADMIN, else 127.0.0.1:10000.
    Health {
        /// Admin address to ask, host:port.
        #[arg(long)]
        admin: Option<String>,
        /// Ask /readyz (accepting clients) instead of /healthz (alive).
        #[arg(long)]
        ready: bool,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
    /// Time one query straight at the origin and through wirecache (needs no config).
    LatencyTest {
        #[command(flatten)]
        args: wirecache::latency::Args,
    },
}

/// Exit code for a configuration error (sysexits EX_USAGE).
const EXIT_CONFIG: u8 = 64;

fn load(path: Option<&PathBuf>) -> Result<Config, ExitCode> {
    config::load(path.map(|p| p.as_path()), std::env::vars()).map_err(|errors| {
        eprintln!("wirecache: invalid configuration:\n{errors}");
        ExitCode::from(EXIT_CONFIG)
    })
}

fn init_logging(level: LogLevel, format: LogFormat) {
    let level = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Trace => tracing::Level::TRACE,
    };
    let builder = tracing_subscriber::fmt().with_max_level(level);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn explain(config: &Config, cache: &str, sql: &str, json: bool) -> ExitCode {
    let engine = wirecache::engine::Engine::new(config);
    let Some(ctx) = engine.caches().by_id(cache) else {
        eprintln!("wirecache: no cache with ID {cache:?}");
        return ExitCode::from(EXIT_CONFIG);
    };
    let e = engine.explain(ctx, sql);
    if json {
        println!("{}", serde_json::to_string_pretty(&e).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    let verdict = match (e.cacheable, e.reason) {
        (true, _) if e.needs_catalog.is_empty() => "yes".to_string(),
        (true, _) => format!(
            "yes, if the origin's catalog confirms: {}",
            e.needs_catalog.join(", ")
        ),
        (false, reason) => format!("no ({})", reason.unwrap_or("unknown")),
    };
    println!("cache:       {}", e.cache);
    println!("kind:        {}", e.kind);
    println!("cacheable:   {verdict}");
    println!("template:    {} [{}]", e.template, e.template_id);
    println!("reads:       {}", e.tables_read.join(", "));
    println!("writes:      {}", e.tables_written.join(", "));
    if let Some(ttl) = e.ttl_seconds {
        println!("ttl:         {ttl}s");
    }
    if e.invalidates_whole_database {
        println!("invalidates: the whole database");
    }
    ExitCode::SUCCESS
}

/// `wirecache health`: one line on stdout or stderr, exit 0 when healthy, 1 when not.
fn health(admin: Option<&str>, ready: bool, timeout: u64) -> ExitCode {
    use wirecache::health::{Probe, admin_address, check};
    let listen = std::env::var("WIRECACHE_LISTEN_ADMIN").ok();
    let addr = admin_address(admin, listen.as_deref());
    let probe = if ready { Probe::Ready } else { Probe::Live };
    match check(&addr, probe, std::time::Duration::from_secs(timeout.max(1))) {
        Ok(_) => {
            println!("wirecache at {addr}: {} ok", probe.path());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wirecache health: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Run);
    if let Command::LatencyTest { args } = &command {
        // Needs no configuration: do not load (or fail on) one.
        return wirecache::latency::main(args);
    }
    if let Command::Health {
        admin,
        ready,
        timeout,
    } = &command
    {
        return health(admin.as_deref(), *ready, *timeout);
    }
    let config = match load(cli.config.as_ref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match command {
        Command::LatencyTest { args } => wirecache::latency::main(&args),
        Command::Health {
            admin,
            ready,
            timeout,
        } => health(admin.as_deref(), ready, timeout),
        Command::CheckConfig => {
            print!("{}", config.to_toml_string());
            ExitCode::SUCCESS
        }
        Command::Explain { cache, json, sql } => explain(&config, &cache, &sql, json),
        Command::Run => {
            init_logging(config.log.level, config.log.format);
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("wirecache: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(wirecache::app::run(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("wirecache: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
