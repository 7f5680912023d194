//! The reader. Each key is tried alone, in a file holding only that key,
//! against the schema ([`File`]): a key that fails is reported with its path
//! and left out, so every problem is found; the keys that pass make the file
//! that is deserialized. A value set from the environment is text: one that its
//! field refuses as text is tried as a boolean or an integer.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use serde::Deserialize;
use toml::{Table, Value};

use super::error::ConfigError;
use super::schema::File;

/// What reading has found: every problem, and the environment's part.
#[derive(Default)]
pub(super) struct Ctx {
    /// Key path (such as `caches[0].origin`) → the environment variable that set it.
    pub sources: BTreeMap<String, String>,
    /// Errors with their place: (section in schema order, item), 0 for none.
    errors: Vec<((usize, usize), ConfigError)>,
    /// Key paths given a value (valid or not), and those reported invalid.
    given: HashSet<String>,
    invalid: HashSet<String>,
}

impl Ctx {
    /// Reports `error` about the key path `at` ("" for the environment).
    pub fn push(&mut self, at: &str, error: ConfigError) {
        let name = at.split(['.', '[']).next().unwrap_or_default();
        let section = schema()
            .iter()
            .position(|s| s.name == name)
            .map_or(0, |i| i + 1);
        let item = at
            .split_once('[')
            .and_then(|(_, i)| i.split(']').next()?.parse().ok());
        self.errors
            .push(((section, item.map_or(0, |i: usize| i + 1)), error));
    }

    /// Reports the value at `path` as invalid, naming the variable that set it, if any.
    pub fn invalid(&mut self, path: &str, message: String) {
        self.invalid.insert(path.to_owned());
        let shown = match self.sources.get(path) {
            Some(var) => format!("{path} (from {var})"),
            None => path.to_owned(),
        };
        self.push(
            path,
            ConfigError::Invalid {
                path: shown,
                message,
            },
        );
    }

    pub fn is_invalid(&self, path: &str) -> bool {
        self.invalid.contains(path)
    }

    pub fn given(&self, path: &str) -> bool {
        self.given.contains(path)
    }

    /// Every error: the environment's first, then section by section in schema
    /// order and item by item, each in the order found.
    pub fn into_errors(mut self) -> Vec<ConfigError> {
        self.errors.sort_by_key(|(place, _)| *place);
        self.errors.into_iter().map(|(_, e)| e).collect()
    }
}

/// A section of the file: a table, or an array of tables, with its keys.
pub(super) struct Section {
    pub name: String,
    pub array: bool,
    pub keys: Vec<String>,
}

/// The file's sections and keys, in schema order, learnt from [`File`]: what a
/// default file serializes to tells tables from arrays, and the error for an
/// unknown key lists the known ones.
pub(super) fn schema() -> &'static [Section] {
    static SCHEMA: OnceLock<Vec<Section>> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let defaults = Value::try_from(File::default()).unwrap_or(Value::Table(Table::new()));
        let known_keys = |file: Value| -> Vec<String> {
            let error = File::deserialize(file).err();
            let message = error.as_ref().map_or("", |e| e.message());
            let known = message
                .split_once(", expected ")
                .map_or("", |(_, known)| known);
            known
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect()
        };
        let section = |name: String| {
            let array = defaults.get(&name).is_some_and(Value::is_array);
            let keys = known_keys(file_with(&name, array, "\u{1}", 0.into()));
            Section { name, array, keys }
        };
        let names: Vec<String> = known_keys(one("\u{1}", 0.into()));
        names.into_iter().map(section).collect()
    })
}

/// A file holding only `key` of section `name` (in its one item, for an array).
fn file_with(name: &str, array: bool, key: &str, value: Value) -> Value {
    let table = one(key, value);
    one(name, if array { vec![table].into() } else { table })
}

/// A table of one key.
fn one(key: &str, value: Value) -> Value {
    Table::from_iter([(key.to_owned(), value)]).into()
}

/// Reads the whole file, leaving out (and reporting) every key that fails.
pub(super) fn read(ctx: &mut Ctx, root: &Table) -> File {
    let names: Vec<String> = schema().iter().map(|s| s.name.clone()).collect();
    for path in root.keys().filter(|k| !names.contains(k)).cloned() {
        ctx.push(
            "",
            ConfigError::UnknownKey {
                path,
                known: names.clone(),
            },
        );
    }
    let mut kept = Table::new();
    for s in schema() {
        let value = match (root.get(&s.name), s.array) {
            (None, _) => continue,
            (Some(Value::Table(t)), false) => keep(ctx, s, &s.name, t),
            (Some(Value::Array(items)), true) => {
                let item = |(i, item): (usize, &Value)| keep_item(ctx, s, i, item);
                Value::Array(items.iter().enumerate().map(item).collect())
            }
            (Some(other), array) => {
                let expected = match array {
                    true => format!("an array of tables ([[{}]])", s.name),
                    false => "a table".to_owned(),
                };
                ctx.invalid(
                    &s.name,
                    format!("expected {expected}, found {}", other.type_str()),
                );
                continue;
            }
        };
        kept.insert(s.name.clone(), value);
    }
    File::deserialize(Value::Table(kept)).unwrap_or_default()
}

/// Item `i` of an array of tables; one that is not a table is reported, and
/// read as empty (`check.rs` skips it).
fn keep_item(ctx: &mut Ctx, s: &Section, i: usize, item: &Value) -> Value {
    let path = format!("{}[{i}]", s.name);
    let Value::Table(t) = item else {
        ctx.invalid.insert(s.name.clone());
        ctx.invalid(
            &path,
            format!("expected a table, found {}", item.type_str()),
        );
        return Table::new().into();
    };
    keep(ctx, s, &path, t)
}

/// The keys of the table at `path` (of section `s`) that pass, each tried alone.
fn keep(ctx: &mut Ctx, s: &Section, path: &str, t: &Table) -> Value {
    for key in t.keys().filter(|k| !s.keys.contains(k)) {
        let (at, known) = (format!("{path}.{key}"), s.keys.clone());
        ctx.push(path, ConfigError::UnknownKey { path: at, known });
    }
    let mut kept = Table::new();
    for (key, value) in s.keys.iter().filter_map(|k| Some((k, t.get(k)?))) {
        let at = format!("{path}.{key}");
        ctx.given.insert(at.clone());
        match accepted(s, key, value, ctx.sources.contains_key(&at)) {
            Ok(value) => drop(kept.insert(key.clone(), value)),
            Err(message) => ctx.invalid(&at, message),
        }
    }
    kept.into()
}

/// `value` as `key` of section `s` accepts it, or why not. Text from the
/// environment that its field refuses as text is tried as a boolean or an integer.
fn accepted(s: &Section, key: &str, value: &Value, env: bool) -> Result<Value, String> {
    if let Value::Datetime(d) = value {
        // toml would hand it over as text; as the table it stands for, it is refused.
        return accepted(
            s,
            key,
            &one("$__toml_private_datetime", d.to_string().into()),
            false,
        );
    }
    let attempt = |value: Value| {
        let file = File::deserialize(file_with(&s.name, s.array, key, value.clone()));
        file.map(|_| value).map_err(|e| e.message().to_owned())
    };
    let first = attempt(value.clone());
    let (Some(text), Err(e)) = (value.as_str().filter(|_| env), &first) else {
        return first;
    };
    let Some(expected) = e.strip_suffix(", found string") else {
        return first;
    };
    let text = text.trim();
    match (text.to_ascii_lowercase().parse(), text.parse()) {
        (Ok(b), _) => attempt(Value::Boolean(b)),
        (_, Ok(n)) => attempt(Value::Integer(n)),
        _ => Err(format!("invalid value {text:?}: {expected}")),
    }
}
