//! Prints the effective configuration as TOML (for `wirecache check-config`):
//! the config serialized through the schema, keys in schema order, the admin
//! token redacted. The output reads back to the same config. Also how a
//! certificate and its key, one field of the typed config, are written as two keys.

use std::fmt::Write;
use std::path::PathBuf;

use serde::Serializer;
use toml::{Table, Value};

use super::read::schema;
use super::types::Config;

impl Config {
    /// The effective configuration as TOML; the admin token shows as `<redacted>`.
    pub fn to_toml_string(&self) -> String {
        let root = match Value::try_from(self) {
            Ok(Value::Table(root)) => root,
            _ => Table::new(),
        };
        let mut out = String::new();
        for s in schema() {
            let tables = match root.get(&s.name) {
                Some(Value::Table(t)) => vec![(format!("[{}]", s.name), t)],
                Some(Value::Array(items)) => {
                    let items = items.iter().filter_map(Value::as_table);
                    items.map(|t| (format!("[[{}]]", s.name), t)).collect()
                }
                _ => Vec::new(),
            };
            for (header, t) in tables {
                let blank = if out.is_empty() { "" } else { "\n" };
                let _ = writeln!(out, "{blank}{header}");
                for key in &s.keys {
                    let _ = match (t.get(key), s.name.as_str(), key.as_str()) {
                        // A basic string, escaped as JSON escapes it, but for DEL.
                        (Some(Value::String(s)), ..) => {
                            let quoted = serde_json::to_string(s).unwrap_or_default();
                            writeln!(out, "{key} = {}", quoted.replace('\u{7f}', "\\u007F"))
                        }
                        (Some(Value::Integer(n)), ..) => writeln!(out, "{key} = {n}"),
                        (Some(Value::Boolean(b)), ..) => writeln!(out, "{key} = {b}"),
                        (Some(_), ..) => Ok(()),
                        (None, "listen", _) => writeln!(out, "# {key}: not started"),
                        (None, "admin", "token") => {
                            writeln!(out, "# token not set: mutating endpoints are refused")
                        }
                        (None, "tls", "cert_file") => {
                            writeln!(out, "# no cert_file/key_file: a self-signed certificate")
                        }
                        (None, ..) => Ok(()),
                    };
                }
            }
        }
        out
    }
}

/// A certificate and its key, both or neither.
type Pair = Option<(PathBuf, PathBuf)>;

/// `v` as the keys `names`.
fn pair<S: Serializer>(names: [&str; 2], v: &Pair, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(
        v.iter()
            .flat_map(|(cert, key)| names.into_iter().zip([cert, key])),
    )
}

pub(super) fn cert_files<S: Serializer>(v: &Pair, s: S) -> Result<S::Ok, S::Error> {
    pair(["cert_file", "key_file"], v, s)
}

pub(super) fn client_cert<S: Serializer>(v: &Pair, s: S) -> Result<S::Ok, S::Error> {
    pair(["tls_client_cert", "tls_client_key"], v, s)
}
