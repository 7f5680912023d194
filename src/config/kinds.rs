//! Value kinds: how one TOML value becomes a typed value (or a message), and
//! how it is written back. Schema fields name their kind with
//! `#[serde(with = "Kind")]`; `Opt<K>` is the optional form.

use std::marker::PhantomData;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Serialize, Serializer};
use toml::Value;

use super::rules::{check_matcher_text, format_template_id, parse_template_id};
use super::size::{format_duration, format_size, parse_duration, parse_size};

/// Which deserializer call a kind makes; the environment's text is converted to it.
pub(super) enum Ask {
    Any,
    Int,
    Bool,
}

pub(super) trait Kind: Sized {
    type Value;
    const ASK: Ask = Ask::Any;
    /// What a value must look like, for "expected …, found …".
    fn expected() -> String;
    fn read(v: &Value) -> Result<Self::Value, String>;
    fn serialize<S: Serializer>(v: &Self::Value, s: S) -> Result<S::Ok, S::Error>;

    fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self::Value, D::Error> {
        let v = KindVisitor::<Self>(PhantomData);
        match Self::ASK {
            Ask::Any => d.deserialize_any(v),
            Ask::Int => d.deserialize_i64(v),
            Ask::Bool => d.deserialize_bool(v),
        }
    }
}

struct KindVisitor<K>(PhantomData<K>);

impl<K: Kind> KindVisitor<K> {
    fn read<E: de::Error>(v: Value) -> Result<K::Value, E> {
        K::read(&v).map_err(E::custom)
    }
}

impl<K: Kind> Visitor<'_> for KindVisitor<K> {
    type Value = K::Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&K::expected())
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<K::Value, E> {
        Self::read(Value::Boolean(b))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<K::Value, E> {
        Self::read(Value::Integer(n))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<K::Value, E> {
        Self::read(Value::Float(n))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<K::Value, E> {
        Self::read(Value::String(s.to_owned()))
    }
}

/// "expected …, found …" for a value of the wrong type.
fn wrong<K: Kind>(v: &Value) -> String {
    format!("expected {}, found {}", K::expected(), v.type_str())
}

fn text<K: Kind>(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| wrong::<K>(v))
}

fn bad(kind: &str, value: &str, reason: impl std::fmt::Display) -> String {
    format!("invalid {kind} {value:?}: {reason}")
}

/// "a, b or c".
pub(super) fn or_list(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    match items.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// A kind read from a string by `|s| parse`, written as `|v| text`.
macro_rules! text_kind {
    ($(#[$doc:meta])* $name:ident: $ty:ty, $expected:expr, |$s:ident| $parse:expr, |$v:ident| $write:expr) => {
        $(#[$doc])*
        pub(super) struct $name;
        impl Kind for $name {
            type Value = $ty;
            fn expected() -> String {
                $expected.to_owned()
            }
            fn read(v: &Value) -> Result<$ty, String> {
                let $s = text::<Self>(v)?;
                $parse
            }
            fn serialize<S: Serializer>($v: &$ty, s: S) -> Result<S::Ok, S::Error> {
                Serialize::serialize(&$write, s)
            }
        }
    };
}

/// A string that `check` accepts, reported as `kind` otherwise.
fn checked(
    s: &str,
    kind: &str,
    check: fn(&str) -> Result<(), &'static str>,
) -> Result<String, String> {
    check(s).map_err(|reason| bad(kind, s, reason))?;
    Ok(s.to_owned())
}

text_kind!(
    /// A listener address; `""` or `"off"`: not started.
    Address: Option<SocketAddr>, "an address string such as \"0.0.0.0:9010\"",
    |s| match s {
        "" => Ok(None),
        s if s.eq_ignore_ascii_case("off") => Ok(None),
        s => s.parse().map(Some).map_err(|_| {
            let reason = "expected ip:port, such as 0.0.0.0:9010 or [::]:9010, or \"off\"";
            bad("address", s, reason)
        }),
    },
    |v| v.map(|a| a.to_string())
);
text_kind!(Dur: Duration, "a duration string such as \"30s\"",
    |s| parse_duration(s).map_err(|e| bad("duration", s, e)),
    |v| format_duration(*v));
text_kind!(
    /// A duration that is not zero.
    Positive: Duration, "a duration string such as \"30s\"",
    |s| match parse_duration(s).map_err(|e| bad("duration", s, e))? {
        Duration::ZERO => Err(bad("duration", s, "must be greater than zero")),
        d => Ok(d),
    },
    |v| format_duration(*v)
);
text_kind!(
    /// The admin token: never empty, always written redacted.
    Token: String, "a string",
    |s| match s {
        "" => Err(bad("token", s, "empty (omit the key to refuse mutating endpoints)")),
        s => Ok(s.to_owned()),
    },
    |_v| "<redacted>"
);
text_kind!(FilePath: PathBuf, "a file path string",
    |s| match s.trim() {
        "" => Err(bad("file path", s, "empty")),
        _ => Ok(PathBuf::from(s)),
    },
    |v| v.display().to_string());
text_kind!(ServerName: String, "a host name string",
    |s| checked(s, "server name", |s| {
        let odd = s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '/' || c == ':');
        if odd { Err("expected a DNS name or an IP address") } else { Ok(()) }
    }),
    |v| v);
text_kind!(CacheId: String, "a cache ID string",
    |s| checked(s, "cache ID", check_cache_id), |v| v);
text_kind!(Origin: String, "a host:port string such as \"127.0.0.1:5432\"",
    |s| check_origin(s)
        .map(|()| s.to_owned())
        .map_err(|reason| format!("origin {s:?} is not host:port: {reason}")),
    |v| v);
text_kind!(TemplateId: u64, "a template ID string of 16 hex digits",
    |s| parse_template_id(s).map_err(|reason| bad("template ID", s, reason)),
    |v| format_template_id(*v));
text_kind!(Pattern: String, "a pattern string such as \"select * from orders*\"",
    |s| checked(s, "pattern", check_matcher_text), |v| v);
text_kind!(TableName: String, "a table name string",
    |s| checked(s, "table", check_matcher_text), |v| v);
text_kind!(
    /// A rule's action, checked with its ttl once both are read.
    Action: String, "\"cache\", \"never\" or \"always\"", |s| Ok(s.to_owned()), |v| v
);

/// A byte size: an integer of bytes, or a string such as "512MiB".
pub(super) struct Size;
impl Kind for Size {
    type Value = u64;
    fn expected() -> String {
        "a size such as \"512MiB\"".to_owned()
    }
    fn read(v: &Value) -> Result<u64, String> {
        match v {
            Value::Integer(n) => {
                u64::try_from(*n).map_err(|_| bad("size", &n.to_string(), "negative"))
            }
            v => text::<Self>(v).and_then(|s| parse_size(s).map_err(|e| bad("size", s, e))),
        }
    }
    fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_size(*v))
    }
}

/// A count of at least 1.
pub(super) struct Count;
impl Kind for Count {
    type Value = usize;
    const ASK: Ask = Ask::Int;
    fn expected() -> String {
        "a positive integer".to_owned()
    }
    fn read(v: &Value) -> Result<usize, String> {
        let n = v.as_integer().ok_or_else(|| wrong::<Self>(v))?;
        match usize::try_from(n) {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(bad("count", &n.to_string(), "must be at least 1")),
        }
    }
    fn serialize<S: Serializer>(v: &usize, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(*v as u64)
    }
}

pub(super) struct Bool;
impl Kind for Bool {
    type Value = bool;
    const ASK: Ask = Ask::Bool;
    fn expected() -> String {
        "true or false".to_owned()
    }
    fn read(v: &Value) -> Result<bool, String> {
        v.as_bool().ok_or_else(|| wrong::<Self>(v))
    }
    fn serialize<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(*v)
    }
}

/// The optional form of a kind (absent keys are `None` by `#[serde(default)]`).
pub(super) struct Opt<K>(PhantomData<K>);
impl<K: Kind> Kind for Opt<K> {
    type Value = Option<K::Value>;
    const ASK: Ask = K::ASK;
    fn expected() -> String {
        K::expected()
    }
    fn read(v: &Value) -> Result<Self::Value, String> {
        K::read(v).map(Some)
    }
    fn serialize<S: Serializer>(v: &Self::Value, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => K::serialize(v, s),
            None => s.serialize_none(),
        }
    }
}

/// An enum written as one of its names (any ASCII case); see `keywords!` in `types.rs`.
pub(super) trait Keyword: Copy + 'static {
    const NAMES: &'static [Self];
    fn name(self) -> &'static str;
    /// The message for an unknown name, given the accepted ones ("a, b or c").
    fn unknown(s: &str, names: &str) -> String;
}

pub(super) struct Word<E>(PhantomData<E>);
impl<E: Keyword> Kind for Word<E> {
    type Value = E;
    fn expected() -> String {
        or_list(E::NAMES.iter().map(|e| format!("{:?}", e.name())))
    }
    fn read(v: &Value) -> Result<E, String> {
        let s = text::<Self>(v)?;
        let found = E::NAMES.iter().find(|e| e.name().eq_ignore_ascii_case(s));
        found
            .copied()
            .ok_or_else(|| E::unknown(s, &or_list(E::NAMES.iter().map(|e| e.name().to_owned()))))
    }
    fn serialize<S: Serializer>(v: &E, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.name())
    }
}

/// Longest accepted cache ID.
const MAX_CACHE_ID_LEN: usize = 64;

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
