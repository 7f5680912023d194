//! Value kinds: how one TOML value becomes a typed value (or the message why
//! not), and how it is written back. Schema fields name their kind with
//! `#[serde(with = "Kind")]`; `Opt<K>` is the optional form.

use std::marker::PhantomData;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{Deserialize, Deserializer, Error};
use serde::{Serialize, Serializer};
use toml::Value;

use super::rules::{check_matcher_text, format_template_id, parse_template_id};
use super::size::{format_duration, format_size, parse_duration, parse_size};

pub(super) trait Kind {
    type T;
    /// What a value must look like, for "expected …, found …".
    fn expected() -> String;
    fn read(v: &Value) -> Result<Self::T, String>;
    fn write(v: &Self::T) -> impl Serialize;

    fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self::T, D::Error> {
        Self::read(&Value::deserialize(d)?).map_err(D::Error::custom)
    }
    fn serialize<S: Serializer>(v: &Self::T, s: S) -> Result<S::Ok, S::Error> {
        Self::write(v).serialize(s)
    }
}

/// The optional form of a kind (an absent key is `None` by `#[serde(default)]`).
pub(super) struct Opt<K>(PhantomData<K>);

impl<K: Kind> Kind for Opt<K> {
    type T = Option<K::T>;
    fn expected() -> String {
        K::expected()
    }
    fn read(v: &Value) -> Result<Self::T, String> {
        K::read(v).map(Some)
    }
    fn write(v: &Self::T) -> impl Serialize {
        v.as_ref().map(K::write)
    }
}

/// The text of a string value, or "expected …, found …".
pub(super) fn text<'v>(v: &'v Value, expected: &str) -> Result<&'v str, String> {
    v.as_str().ok_or_else(|| wrong(expected, v))
}

fn wrong(expected: &str, v: &Value) -> String {
    format!("expected {expected}, found {}", v.type_str())
}

fn bad(kind: &str, value: impl std::fmt::Debug, reason: impl std::fmt::Display) -> String {
    format!("invalid {kind} {value:?}: {reason}")
}

/// "a, b or c".
pub(super) fn or_list<S: AsRef<str>>(items: &[S]) -> String {
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => items.concat(),
    }
}

/// `kind!(Name: Type, "expected", |text| parse, |value| written)` for a kind
/// written as a string; `kind!(Name: Type, "expected", value |v| read, |value| written)`
/// for one read from any TOML value.
macro_rules! kind {
    ($name:ident: $ty:ty, $exp:expr, |$s:ident| $parse:expr, |$w:ident| $write:expr) => {
        kind!($name: $ty, $exp, value |v| { let $s = text(v, $exp)?; $parse }, |$w| $write);
    };
    ($name:ident: $ty:ty, $exp:expr, value |$v:ident| $read:expr, |$w:ident| $write:expr) => {
        pub(super) struct $name;
        impl Kind for $name {
            type T = $ty;
            fn expected() -> String {
                $exp.to_owned()
            }
            fn read($v: &Value) -> Result<$ty, String> {
                $read
            }
            fn write($w: &$ty) -> impl Serialize {
                $write
            }
        }
    };
}

/// A string that `check` accepts, reported as an invalid `kind` otherwise.
fn checked(
    s: &str,
    kind: &str,
    check: fn(&str) -> Result<(), &'static str>,
) -> Result<String, String> {
    check(s)
        .map(|()| s.to_owned())
        .map_err(|reason| bad(kind, s, reason))
}

const DURATION: &str = "a duration string such as \"30s\"";
const ADDRESS: &str = "expected ip:port, such as 0.0.0.0:9010 or [::]:9010, or \"off\"";

// A listener address; "" or "off": not started.
kind!(Address: Option<SocketAddr>, "an address string such as \"0.0.0.0:9010\"", |s| match s {
    s if s.is_empty() || s.eq_ignore_ascii_case("off") => Ok(None),
    s => s.parse().map(Some).map_err(|_| bad("address", s, ADDRESS)),
}, |v| v.map(|a| a.to_string()));
// A byte size: an integer of bytes, or a string such as "512MiB".
kind!(Size: u64, "a size such as \"512MiB\"", value |v| match v {
    Value::Integer(n) => u64::try_from(*n).map_err(|_| bad("size", n.to_string(), "negative")),
    v => text(v, &Self::expected()).and_then(|s| parse_size(s).map_err(|e| bad("size", s, e))),
}, |v| format_size(*v));
kind!(Count: usize, "a positive integer", value |v| match v {
    Value::Integer(n) => usize::try_from(*n).ok().filter(|n| *n > 0)
        .ok_or_else(|| bad("count", n.to_string(), "must be at least 1")),
    v => Err(wrong(&Self::expected(), v)),
}, |v| *v as u64);
// A count that may be zero.
kind!(Amount: usize, "a non-negative integer", value |v| match v {
    Value::Integer(n) => usize::try_from(*n)
        .map_err(|_| bad("count", n.to_string(), "must not be negative")),
    v => Err(wrong(&Self::expected(), v)),
}, |v| *v as u64);
kind!(Bool: bool, "true or false", value |v| v.as_bool().ok_or_else(|| wrong("true or false", v)),
    |v| *v);
kind!(Dur: Duration, DURATION, |s| parse_duration(s).map_err(|e| bad("duration", s, e)),
    |v| format_duration(*v));
// A duration that is not zero.
kind!(Positive: Duration, DURATION, |s| match parse_duration(s).map_err(|e| bad("duration", s, e))? {
    Duration::ZERO => Err(bad("duration", s, "must be greater than zero")),
    d => Ok(d),
}, |v| format_duration(*v));
// The admin token: never empty, always written redacted.
kind!(Token: String, "a string", |s| match s {
    "" => Err(bad("token", s, "empty (omit the key to refuse mutating endpoints)")),
    s => Ok(s.to_owned()),
}, |_v| "<redacted>");
// A password: never empty, always written redacted, never echoed in an error.
kind!(Secret: String, "a string", |s| match s {
    "" => Err("invalid password: empty".to_owned()),
    s => Ok(s.to_owned()),
}, |_v| "<redacted>");
kind!(FilePath: PathBuf, "a file path string", |s| match s.trim() {
    "" => Err(bad("file path", s, "empty")),
    _ => Ok(PathBuf::from(s)),
}, |v| v.display().to_string());
kind!(ServerName: String, "a host name string", |s| checked(s, "server name", |s| {
    match s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '/' || c == ':') {
        true => Err("expected a DNS name or an IP address"),
        false => Ok(()),
    }
}), |v| v);
kind!(CacheId: String, "a cache ID string", |s| checked(s, "cache ID", check_cache_id), |v| v);
kind!(Origin: String, "a host:port string such as \"127.0.0.1:5432\"", |s| check_origin(s)
    .map(|()| s.to_owned())
    .map_err(|reason| format!("origin {s:?} is not host:port: {reason}")), |v| v);
kind!(TemplateId: u64, "a template ID string of 16 hex digits",
    |s| parse_template_id(s).map_err(|reason| bad("template ID", s, reason)),
    |v| format_template_id(*v));
kind!(Pattern: String, "a pattern string such as \"select * from orders*\"",
    |s| checked(s, "pattern", check_matcher_text), |v| v);
kind!(TableName: String, "a table name string", |s| checked(s, "table", check_matcher_text), |v| v);
// A rule's action, checked with its ttl once both are read.
kind!(Action: String, "\"cache\", \"never\" or \"always\"", |s| Ok(s.to_owned()), |v| v);

/// Checks a cache ID: 1 to 64 ASCII letters, digits, `-` and `_`.
pub(super) fn check_cache_id(id: &str) -> Result<(), &'static str> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    match id {
        "" => Err("empty"),
        _ if id.len() > 64 => Err("longer than 64 characters"),
        _ if !id.chars().all(allowed) => Err("only ASCII letters, digits, '-' and '_' are allowed"),
        _ => Ok(()),
    }
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
    match host {
        "" => Err("missing host"),
        _ if host.contains(':') => Err("an IPv6 address must be in brackets, such as [::1]:5432"),
        _ if !host.chars().all(host_char) => {
            Err("the host has characters not allowed in a host name")
        }
        _ => Ok(()),
    }
}
