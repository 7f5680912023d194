//! The reader. Each key is tried alone, in a file holding only that key,
//! against the schema ([`File`]): a key that fails is reported with its path
//! and left out, so every problem is found; the keys that pass make the file
//! that is deserialized. A value set from the environment is text: tried as a
//! string, then as a boolean or an integer, it is what its field accepts.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::OnceLock;

use serde::Deserialize;
use toml::{Table, Value};

use super::env::Sources;
use super::error::ConfigError;
use super::schema::File;

/// What reading has found: every problem, and the environment's part.
#[derive(Default)]
pub(super) struct Ctx {
    /// Key path → the environment variable that set it.
    pub sources: Sources,
    found: RefCell<Found>,
}

#[derive(Default)]
struct Found {
    /// (table path, error), reported in the order the tables were first read.
    errors: Vec<(String, ConfigError)>,
    tables: Vec<String>,
    /// Key paths whose value was reported invalid (and left out).
    invalid: HashSet<String>,
}

impl Ctx {
    /// Reports `error` about the table at `table`.
    pub fn push(&self, table: &str, error: ConfigError) {
        self.found
            .borrow_mut()
            .errors
            .push((table.to_owned(), error));
    }

    /// Reports the value at `path`, in the table at `table`, as invalid.
    pub fn invalid(&self, table: &str, path: &str, message: String) {
        self.found.borrow_mut().invalid.insert(path.to_owned());
        let path = self.shown(path);
        self.push(table, ConfigError::Invalid { path, message });
    }

    pub fn is_invalid(&self, path: &str) -> bool {
        self.found.borrow().invalid.contains(path)
    }

    /// A key path as errors name it, with the variable that set it, if any.
    pub fn shown(&self, path: &str) -> String {
        match self.sources.get(path) {
            Some(var) => format!("{path} (from {var})"),
            None => path.to_owned(),
        }
    }

    /// Every error, table by table in document order (environment problems first).
    pub fn into_errors(self) -> Vec<ConfigError> {
        let Found {
            mut errors, tables, ..
        } = self.found.into_inner();
        errors.sort_by_key(|(t, _)| tables.iter().position(|x| x == t).unwrap_or(usize::MAX));
        errors.into_iter().map(|(_, e)| e).collect()
    }
}

pub(super) fn join(prefix: &str, key: &str) -> String {
    match prefix {
        "" => key.to_owned(),
        _ => format!("{prefix}.{key}"),
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
        let section = |name: String| {
            let array = defaults.get(&name).is_some_and(Value::is_array);
            let keys = known_keys(file_with(&name, array, "\u{1}", Value::Integer(0)));
            Section { name, array, keys }
        };
        let names = known_keys(one("\u{1}", Value::Integer(0)));
        names.into_iter().map(section).collect()
    })
}

/// The keys that the error for an unknown key in `file` lists as known.
fn known_keys(file: Value) -> Vec<String> {
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
}

/// A file holding only `key` of section `name` (in its one item, for an array).
fn file_with(name: &str, array: bool, key: &str, value: Value) -> Value {
    let table = one(key, value);
    one(
        name,
        if array {
            Value::Array(vec![table])
        } else {
            table
        },
    )
}

/// A table of one key.
fn one(key: &str, value: Value) -> Value {
    Value::Table(Table::from_iter([(key.to_owned(), value)]))
}

/// Reads the whole file, leaving out (and reporting) every key that fails.
pub(super) fn read(ctx: &Ctx, root: Table) -> File {
    ctx.found.borrow_mut().tables.push(String::new());
    let names: Vec<String> = schema().iter().map(|s| s.name.clone()).collect();
    for name in root.keys().filter(|k| !names.contains(k)) {
        let error = ConfigError::UnknownKey {
            path: name.clone(),
            known: names.clone(),
        };
        ctx.push("", error);
    }
    let mut kept = Table::new();
    for s in schema() {
        ctx.found.borrow_mut().tables.push(s.name.clone());
        let value = match (root.get(&s.name), s.array) {
            (None, _) => continue,
            (Some(Value::Table(t)), false) => Value::Table(keep(ctx, s, &s.name, t)),
            (Some(Value::Array(items)), true) => Value::Array(keep_items(ctx, s, items)),
            (Some(other), array) => {
                let expected = match array {
                    true => format!("an array of tables ([[{}]])", s.name),
                    false => "a table".to_owned(),
                };
                let message = format!("expected {expected}, found {}", other.type_str());
                ctx.invalid(&s.name, &s.name, message);
                continue;
            }
        };
        kept.insert(s.name.clone(), value);
    }
    File::deserialize(Value::Table(kept)).unwrap_or_default()
}

/// The items of an array of tables; one that is not a table is reported, and
/// read as empty (`check.rs` skips it).
fn keep_items(ctx: &Ctx, s: &Section, items: &[Value]) -> Vec<Value> {
    let item = |(i, item): (usize, &Value)| {
        let path = format!("{}[{i}]", s.name);
        let Value::Table(t) = item else {
            ctx.found.borrow_mut().invalid.insert(s.name.clone());
            let message = format!("expected a table, found {}", item.type_str());
            ctx.invalid(&s.name, &path, message);
            return Value::Table(Table::new());
        };
        Value::Table(keep(ctx, s, &path, t))
    };
    items.iter().enumerate().map(item).collect()
}

/// The keys of the table at `path` (of section `s`) that pass, each tried alone.
fn keep(ctx: &Ctx, s: &Section, path: &str, t: &Table) -> Table {
    ctx.found.borrow_mut().tables.push(path.to_owned());
    for key in t.keys().filter(|k| !s.keys.contains(k)) {
        let error = ConfigError::UnknownKey {
            path: join(path, key),
            known: s.keys.clone(),
        };
        ctx.push(path, error);
    }
    let mut kept = Table::new();
    for key in &s.keys {
        let Some(value) = t.get(key) else { continue };
        let at = join(path, key);
        let env = ctx.sources.contains_key(&at);
        match accepted(s, key, value, env) {
            Ok(value) => drop(kept.insert(key.clone(), value)),
            Err(message) => ctx.invalid(path, &at, message),
        }
    }
    kept
}

/// `value` as `key` of section `s` accepts it, or why not. Text from the
/// environment that its field refuses as text is tried as a boolean or an integer.
fn accepted(s: &Section, key: &str, value: &Value, env: bool) -> Result<Value, String> {
    if let Value::Datetime(d) = value {
        // toml would hand it over as text; as the table it stands for, it is refused.
        let text = Value::String(d.to_string());
        return attempt(s, key, one("$__toml_private_datetime", text));
    }
    let attempt = |value| attempt(s, key, value);
    let first = attempt(value.clone());
    let (Some(text), Err(e)) = (value.as_str().filter(|_| env), &first) else {
        return first;
    };
    let Some(expected) = e.strip_suffix(", found string") else {
        return first;
    };
    let text = text.trim();
    match text.to_ascii_lowercase().as_str() {
        "true" => attempt(Value::Boolean(true)),
        "false" => attempt(Value::Boolean(false)),
        _ => match text.parse() {
            Ok(n) => attempt(Value::Integer(n)),
            Err(_) => Err(format!("invalid value {text:?}: {expected}")),
        },
    }
}

/// `value`, if `key` of section `s` takes it alone.
fn attempt(s: &Section, key: &str, value: Value) -> Result<Value, String> {
    let file = File::deserialize(file_with(&s.name, s.array, key, value.clone()));
    file.map(|_| value).map_err(|e| e.message().to_owned())
}
