//! Prints the effective configuration as TOML (for `wirecache check-config`):
//! the config serialized through the schema, keys in schema order, the admin
//! token redacted. The output reads back to the same config.

use std::fmt::Write;

use toml::{Table, Value};

use super::read::schema;
use super::schema::File;
use super::types::Config;

impl Config {
    /// The effective configuration as TOML; the admin token shows as `<redacted>`.
    pub fn to_toml_string(&self) -> String {
        let root = match Value::try_from(File::from(self)) {
            Ok(Value::Table(root)) => root,
            _ => Table::new(),
        };
        let mut out = String::new();
        for s in schema() {
            let (name, keys) = (s.name.as_str(), &s.keys);
            match root.get(name) {
                Some(Value::Table(t)) => push_table(&mut out, &format!("[{name}]"), name, keys, t),
                Some(Value::Array(items)) => {
                    for t in items.iter().filter_map(Value::as_table) {
                        push_table(&mut out, &format!("[[{name}]]"), name, keys, t);
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// The comment printed in place of a key that is not set, if any.
fn unset_note(section: &str, key: &str) -> Option<String> {
    match (section, key) {
        ("listen", _) => Some(format!("{key}: not started")),
        ("admin", "token") => Some("token not set: mutating endpoints are refused".to_owned()),
        ("tls", "cert_file") => Some("no cert_file/key_file: a self-signed certificate".to_owned()),
        _ => None,
    }
}

fn push_table(out: &mut String, header: &str, section: &str, keys: &[String], t: &Table) {
    if !out.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "{header}");
    for key in keys {
        let line = match t.get(key) {
            Some(Value::String(s)) => format!("{key} = {}", quoted(s)),
            Some(Value::Integer(n)) => format!("{key} = {n}"),
            Some(Value::Boolean(b)) => format!("{key} = {b}"),
            _ => match unset_note(section, key) {
                Some(note) => format!("# {note}"),
                None => continue,
            },
        };
        out.push_str(&line);
        out.push('\n');
    }
}

/// A TOML basic string.
fn quoted(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
