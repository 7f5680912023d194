//! Value readers: one TOML value, and the key path to name in an error,
//! become a typed value or a [`ConfigError`]. Used by the walker.

use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

use toml::Value;

use super::error::ConfigError;
use super::rules::{check_matcher_text, parse_template_id};
use super::size::{parse_duration, parse_size};
use super::types::{CacheMode, ClientTls, LogFormat, LogLevel, OriginTlsMode, Protocol};

/// Longest accepted cache ID.
const MAX_CACHE_ID_LEN: usize = 64;

pub(super) fn wrong_type(path: &str, expected: &'static str, found: &Value) -> ConfigError {
    ConfigError::WrongType {
        path: path.to_owned(),
        expected,
        found: found.type_str(),
    }
}

fn invalid(path: &str, kind: &'static str, value: &str, reason: impl ToString) -> ConfigError {
    ConfigError::InvalidValue {
        path: path.to_owned(),
        kind,
        value: value.to_owned(),
        reason: reason.to_string(),
    }
}

fn string<'v>(v: &'v Value, path: &str, expected: &'static str) -> Result<&'v str, ConfigError> {
    v.as_str().ok_or_else(|| wrong_type(path, expected, v))
}

/// A listener address; `""` or `"off"` means the listener is not started.
pub(super) fn address(v: &Value, path: &str) -> Result<Option<SocketAddr>, ConfigError> {
    let s = string(v, path, "an address string such as \"0.0.0.0:9010\"")?;
    if s.is_empty() || s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let reason = "expected ip:port, such as 0.0.0.0:9010 or [::]:9010, or \"off\"";
    s.parse()
        .map(Some)
        .map_err(|_| invalid(path, "address", s, reason))
}

/// A byte size: a non-negative integer of bytes, or a string such as "512MiB".
pub(super) fn size(v: &Value, path: &str) -> Result<u64, ConfigError> {
    match v {
        Value::Integer(n) => {
            u64::try_from(*n).map_err(|_| invalid(path, "size", &n.to_string(), "negative"))
        }
        Value::String(s) => parse_size(s).map_err(|e| invalid(path, "size", s, e)),
        other => Err(wrong_type(path, "a size such as \"512MiB\"", other)),
    }
}

pub(super) fn duration(v: &Value, path: &str) -> Result<Duration, ConfigError> {
    let s = string(v, path, "a duration string such as \"30s\"")?;
    parse_duration(s).map_err(|e| invalid(path, "duration", s, e))
}

/// A duration that must not be zero.
pub(super) fn positive_duration(v: &Value, path: &str) -> Result<Duration, ConfigError> {
    match duration(v, path)? {
        Duration::ZERO => {
            let s = v.as_str().unwrap_or_default();
            Err(invalid(path, "duration", s, "must be greater than zero"))
        }
        d => Ok(d),
    }
}

pub(super) fn count(v: &Value, path: &str) -> Result<usize, ConfigError> {
    let Value::Integer(n) = v else {
        return Err(wrong_type(path, "a positive integer", v));
    };
    match usize::try_from(*n) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid(path, "count", &n.to_string(), "must be at least 1")),
    }
}

pub(super) fn boolean(v: &Value, path: &str) -> Result<bool, ConfigError> {
    v.as_bool()
        .ok_or_else(|| wrong_type(path, "true or false", v))
}

pub(super) fn token(v: &Value, path: &str) -> Result<String, ConfigError> {
    match string(v, path, "a string")? {
        "" => Err(invalid(
            path,
            "token",
            "",
            "empty (omit the key to refuse mutating endpoints)",
        )),
        s => Ok(s.to_owned()),
    }
}

pub(super) fn log_level(v: &Value, path: &str) -> Result<LogLevel, ConfigError> {
    let s = string(v, path, "a log level string such as \"info\"")?;
    let reason = "expected error, warn, info, debug or trace";
    LogLevel::parse(s).ok_or_else(|| invalid(path, "log level", s, reason))
}

pub(super) fn log_format(v: &Value, path: &str) -> Result<LogFormat, ConfigError> {
    let s = string(v, path, "\"text\" or \"json\"")?;
    LogFormat::parse(s).ok_or_else(|| invalid(path, "log format", s, "expected text or json"))
}

pub(super) fn protocol(v: &Value, path: &str) -> Result<Protocol, ConfigError> {
    let s = string(v, path, "a protocol string such as \"postgres\"")?;
    Protocol::parse(s).ok_or_else(|| ConfigError::UnknownProtocol {
        path: path.to_owned(),
        value: s.to_owned(),
    })
}

pub(super) fn cache_mode(v: &Value, path: &str) -> Result<CacheMode, ConfigError> {
    let s = string(v, path, "\"auto\", \"manual\" or \"off\"")?;
    let reason = "expected auto, manual or off";
    CacheMode::parse(s).ok_or_else(|| invalid(path, "cache mode", s, reason))
}

pub(super) fn client_tls(v: &Value, path: &str) -> Result<ClientTls, ConfigError> {
    let s = string(v, path, "\"off\", \"allow\" or \"require\"")?;
    let reason = "expected off, allow or require";
    ClientTls::parse(s).ok_or_else(|| invalid(path, "TLS mode", s, reason))
}

pub(super) fn origin_tls(v: &Value, path: &str) -> Result<OriginTlsMode, ConfigError> {
    let expected = "\"disable\", \"prefer\", \"require\", \"verify-ca\" or \"verify-full\"";
    let s = string(v, path, expected)?;
    let reason = "expected disable, prefer, require, verify-ca or verify-full";
    OriginTlsMode::parse(s).ok_or_else(|| invalid(path, "TLS mode", s, reason))
}

/// A file path: a non-empty string (the file is read when TLS is set up).
pub(super) fn file_path(v: &Value, path: &str) -> Result<std::path::PathBuf, ConfigError> {
    let s = string(v, path, "a file path string")?;
    if s.trim().is_empty() {
        return Err(invalid(path, "file path", s, "empty"));
    }
    Ok(std::path::PathBuf::from(s))
}

/// A TLS server name: a DNS name or an IP address, no spaces or slashes.
pub(super) fn server_name(v: &Value, path: &str) -> Result<String, ConfigError> {
    let s = string(v, path, "a host name string")?;
    let bad = s.is_empty() || s.chars().any(|c| c.is_whitespace() || c == '/' || c == ':');
    if bad {
        return Err(invalid(
            path,
            "server name",
            s,
            "expected a DNS name or an IP address",
        ));
    }
    Ok(s.to_owned())
}

pub(super) fn cache_id(v: &Value, path: &str) -> Result<String, ConfigError> {
    let id = string(v, path, "a cache ID string")?;
    check_cache_id(id).map_err(|reason| ConfigError::InvalidCacheId {
        path: path.to_owned(),
        id: id.to_owned(),
        reason,
    })?;
    Ok(id.to_owned())
}

/// Checks a cache ID: 1 to 64 ASCII letters, digits, `-` and `_`.
pub(super) fn check_cache_id(id: &str) -> Result<(), &'static str> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if id.is_empty() {
        Err("empty")
    } else if id.len() > MAX_CACHE_ID_LEN {
        Err("longer than 64 characters")
    } else if !id.chars().all(allowed) {
        Err("only ASCII letters, digits, '-' and '_' are allowed")
    } else {
        Ok(())
    }
}

/// A rule's `template`: 16 hex digits.
pub(super) fn template_id(v: &Value, path: &str) -> Result<u64, ConfigError> {
    let s = string(v, path, "a template ID string of 16 hex digits")?;
    parse_template_id(s).map_err(|reason| invalid(path, "template ID", s, reason))
}

/// A rule's `pattern`: not blank.
pub(super) fn pattern(v: &Value, path: &str) -> Result<String, ConfigError> {
    let s = string(
        v,
        path,
        "a pattern string such as \"select * from orders*\"",
    )?;
    check_matcher_text(s).map_err(|reason| invalid(path, "pattern", s, reason))?;
    Ok(s.to_owned())
}

/// A rule's `table`: not blank.
pub(super) fn table_name(v: &Value, path: &str) -> Result<String, ConfigError> {
    let s = string(v, path, "a table name string")?;
    check_matcher_text(s).map_err(|reason| invalid(path, "table", s, reason))?;
    Ok(s.to_owned())
}

/// A rule's `action`, checked with its `ttl` by the walker.
pub(super) fn action_name(v: &Value, path: &str) -> Result<String, ConfigError> {
    let expected = "\"cache\", \"never\" or \"always\"";
    string(v, path, expected).map(str::to_owned)
}

pub(super) fn origin(v: &Value, path: &str) -> Result<String, ConfigError> {
    let s = string(v, path, "a host:port string such as \"127.0.0.1:5432\"")?;
    check_origin(s).map_err(|reason| ConfigError::InvalidOrigin {
        path: path.to_owned(),
        origin: s.to_owned(),
        reason,
    })?;
    Ok(s.to_owned())
}

/// Checks `host:port`: a DNS name or IPv4 address, or an IPv6 address in brackets.
fn check_origin(s: &str) -> Result<(), &'static str> {
    let (host, port) = s.rsplit_once(':').ok_or("missing :port")?;
    let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    if !digits || !matches!(port.parse::<u16>(), Ok(1..)) {
        return Err("the port must be a number from 1 to 65535");
    }
    if let Some(inner) = host.strip_prefix('[') {
        let ip = inner.strip_suffix(']').ok_or("unclosed '['")?;
        return ip
            .parse::<Ipv6Addr>()
            .map(drop)
            .map_err(|_| "invalid IPv6 address");
    }
    let host_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    if host.is_empty() {
        Err("missing host")
    } else if host.contains(':') {
        Err("an IPv6 address must be in brackets, such as [::1]:5432")
    } else if !host.chars().all(host_char) {
        Err("the host has characters not allowed in a host name")
    } else {
        Ok(())
    }
}
