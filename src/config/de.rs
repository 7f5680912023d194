//! The reader: a serde deserializer over the parsed `toml::Table` that collects
//! every problem. Each table is read into its schema struct; a key whose value
//! fails is reported with its path, dropped, and the table read again. A value
//! set from the environment is text, converted to what its field asks for.
//! [`schema`] lists the sections and their keys, learnt from the structs.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::StrDeserializer;
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, Error as _, IntoDeserializer};
use serde::de::{MapAccess, SeqAccess, Unexpected, Visitor};
use serde::forward_to_deserialize_any;
use toml::{Table, Value};

use super::env::Sources;
use super::error::ConfigError;
use super::schema::File;

type R<T> = Result<T, DeError>;

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
    /// Key paths whose value was reported invalid (and dropped).
    invalid: HashSet<String>,
}

impl Ctx {
    /// Reports `error` about the table at `table`, once.
    pub fn push(&self, table: &str, error: ConfigError) {
        let errors = &mut self.found.borrow_mut().errors;
        if !errors
            .iter()
            .any(|(_, e)| e.to_string() == error.to_string())
        {
            errors.push((table.to_owned(), error));
        }
    }

    /// Reports the value at `path`, in the table at `table`, as invalid.
    pub fn invalid(&self, table: &str, path: &str, message: String) {
        self.mark(path);
        let path = self.shown(path);
        self.push(table, ConfigError::Invalid { path, message });
    }

    fn mark(&self, path: &str) {
        self.found.borrow_mut().invalid.insert(path.to_owned());
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
        errors.sort_by_key(|(t, _)| tables.iter().position(|x| x == t));
        errors.into_iter().map(|(_, e)| e).collect()
    }
}

pub(super) fn join(prefix: &str, key: &str) -> String {
    match prefix {
        "" => key.to_owned(),
        _ => format!("{prefix}.{key}"),
    }
}

/// Reads the whole file; a section of the wrong shape is reported and dropped.
pub(super) fn read(ctx: &Ctx, mut root: Table) -> File {
    for (name, shape) in schema() {
        let Some(v) = root.get(name) else { continue };
        let expected = match shape {
            Shape::Table(_) if !v.is_table() => "a table".to_owned(),
            Shape::Array(_) if !v.is_array() => format!("an array of tables ([[{name}]])"),
            _ => continue,
        };
        let message = format!("expected {expected}, found {}", v.type_str());
        ctx.invalid("", name, message);
        root.remove(name);
    }
    read_table(ctx, "", root).unwrap_or_default()
}

/// Reads `table` (at `path`) into `T`, dropping and reporting each key that fails.
fn read_table<'de, T: Deserialize<'de>>(ctx: &Ctx, path: &str, mut table: Table) -> R<T> {
    ctx.found.borrow_mut().tables.push(path.to_owned());
    let mut failed = Vec::new();
    let result = loop {
        let value = Value::Table(table.clone());
        let de = De {
            ctx,
            path: path.to_owned(),
            value: &value,
        };
        match T::deserialize(de) {
            Err(DeError(Some(key), what)) => {
                table.remove(&key);
                failed.push((key, what));
            }
            other => break other,
        }
    };
    let keys = match shape::<T>() {
        Shape::Table(keys) => keys,
        _ => &[],
    };
    failed.sort_by_key(|(key, _)| keys.iter().position(|k| k == key));
    for (key, what) in failed {
        let at = join(path, &key);
        match what {
            What::Unknown(known) => ctx.push(path, ConfigError::UnknownKey { path: at, known }),
            What::Message(message) => ctx.invalid(path, &at, message),
            What::Shape(_) => {}
        }
    }
    result
}

/// A problem reading: the key at fault, once known, and what is wrong.
#[derive(Debug)]
pub(super) struct DeError(Option<String>, What);

#[derive(Debug)]
enum What {
    Message(String),
    Unknown(&'static [&'static str]),
    /// What a [`Probe`] learnt.
    Shape(Shape),
}

impl DeError {
    fn at(mut self, key: &str) -> Self {
        self.0.get_or_insert_with(|| key.to_owned());
        self
    }
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        DeError(None, What::Message(message.to_string()))
    }
    fn invalid_type(found: Unexpected, expected: &dyn de::Expected) -> Self {
        let found = match found {
            Unexpected::Bool(_) => "boolean",
            Unexpected::Signed(_) | Unexpected::Unsigned(_) => "integer",
            Unexpected::Float(_) => "float",
            Unexpected::Seq => "array",
            Unexpected::Map => "table",
            Unexpected::Other(other) => other,
            _ => "string",
        };
        Self::custom(format_args!("expected {expected}, found {found}"))
    }
    fn unknown_field(_: &str, known: &'static [&'static str]) -> Self {
        DeError(None, What::Unknown(known))
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.1)
    }
}

impl std::error::Error for DeError {}

/// The value at `path`: a table is a map whose tables are read by [`read_table`],
/// an array a sequence of tables; text from the environment is converted.
struct De<'a> {
    ctx: &'a Ctx,
    path: String,
    value: &'a Value,
}

impl De<'_> {
    fn env_text(&self) -> Option<&str> {
        let from_env = self.ctx.sources.contains_key(&self.path);
        self.value.as_str().filter(|_| from_env).map(str::trim)
    }
}

impl<'de> Deserializer<'de> for De<'_> {
    type Error = DeError;
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> R<V::Value> {
        let (ctx, path) = (self.ctx, self.path.as_str());
        match self.value {
            Value::String(s) => v.visit_str(s),
            Value::Integer(n) => v.visit_i64(*n),
            Value::Float(n) => v.visit_f64(*n),
            Value::Boolean(b) => v.visit_bool(*b),
            Value::Datetime(_) => Err(DeError::invalid_type(Unexpected::Other("datetime"), &v)),
            Value::Array(items) => v.visit_seq(Items {
                ctx,
                path,
                items: items.iter().enumerate(),
            }),
            Value::Table(t) => v.visit_map(Entries {
                ctx,
                path,
                iter: t.iter(),
                value: None,
            }),
        }
    }
    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> R<V::Value> {
        match self.env_text() {
            Some(s) if s.eq_ignore_ascii_case("true") => v.visit_bool(true),
            Some(s) if s.eq_ignore_ascii_case("false") => v.visit_bool(false),
            Some(s) => Err(DeError::custom(format!(
                "invalid boolean {s:?}: expected true or false"
            ))),
            None => self.deserialize_any(v),
        }
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> R<V::Value> {
        match self.env_text().map(|s| (s, s.parse())) {
            Some((_, Ok(n))) => v.visit_i64(n),
            Some((s, Err(_))) => Err(DeError::custom(format!("invalid integer {s:?}"))),
            None => self.deserialize_any(v),
        }
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> R<V::Value> {
        v.visit_some(self)
    }
    forward_to_deserialize_any! {
        i8 i16 i32 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

struct Entries<'a> {
    ctx: &'a Ctx,
    path: &'a str,
    iter: toml::map::Iter<'a, String, Value>,
    value: Option<(&'a String, &'a Value)>,
}

impl<'de> MapAccess<'de> for Entries<'_> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> R<Option<K::Value>> {
        self.value = self.iter.next();
        let Some((key, _)) = self.value else {
            return Ok(None);
        };
        let de: StrDeserializer<DeError> = key.as_str().into_deserializer();
        seed.deserialize(de).map(Some).map_err(|e| e.at(key))
    }
    /// A table is read by [`read_table`]: a bad key in it drops that key only.
    fn next_value<V: Deserialize<'de>>(&mut self) -> R<V> {
        let Some((key, Value::Table(t))) = self.value else {
            return self.next_value_seed(PhantomData);
        };
        read_table(self.ctx, &join(self.path, key), t.clone()).map_err(|e| e.at(key))
    }
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> R<S::Value> {
        let (key, value) = self.value.ok_or_else(|| DeError::custom("no value"))?;
        let de = De {
            ctx: self.ctx,
            path: join(self.path, key),
            value,
        };
        seed.deserialize(de).map_err(|e| e.at(key))
    }
}

/// An array of tables, each read by [`read_table`]; an item that is not a
/// table is reported and skipped.
struct Items<'a> {
    ctx: &'a Ctx,
    path: &'a str,
    items: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
}

impl<'de> SeqAccess<'de> for Items<'_> {
    type Error = DeError;
    fn next_element<T: Deserialize<'de>>(&mut self) -> R<Option<T>> {
        for (i, item) in self.items.by_ref() {
            let path = format!("{}[{i}]", self.path);
            let Value::Table(t) = item else {
                self.ctx.mark(self.path);
                let message = format!("expected a table, found {}", item.type_str());
                self.ctx.invalid("", &path, message);
                continue;
            };
            return read_table(self.ctx, &path, t.clone()).map(Some);
        }
        Ok(None)
    }
    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, _: S) -> R<Option<S::Value>> {
        Err(DeError::custom("expected a schema struct"))
    }
}

/// A schema type's shape: a table or an array of tables with these keys, or a value.
#[derive(Debug, Clone, Copy)]
pub(super) enum Shape {
    Table(&'static [&'static str]),
    Array(&'static [&'static str]),
    Other,
}

/// The file's sections, in order, with their shapes.
pub(super) fn schema() -> Vec<(&'static str, Shape)> {
    let Shape::Table(names) = shape::<File>() else {
        return Vec::new();
    };
    let of = |name| File::deserialize(Probe(Some(name))).map_or_else(shape_of, |_| Shape::Other);
    names.iter().map(|&name| (name, of(name))).collect()
}

/// The shape of `T`, learnt by letting it deserialize from a probe.
fn shape<'de, T: Deserialize<'de>>() -> Shape {
    T::deserialize(Probe(None)).map_or_else(shape_of, |_| Shape::Other)
}

fn shape_of(e: DeError) -> Shape {
    match e.1 {
        What::Shape(shape) => shape,
        _ => Shape::Other,
    }
}

/// Fails a struct with its keys, and a sequence with its item's; as a map, holds
/// one key (`Probe(Some(key))`) whose value is probed.
struct Probe(Option<&'static str>);

impl<'de> Deserializer<'de> for Probe {
    type Error = DeError;
    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> R<V::Value> {
        Err(DeError(None, What::Shape(Shape::Other)))
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &str,
        keys: &'static [&'static str],
        v: V,
    ) -> R<V::Value> {
        match self.0 {
            Some(_) => v.visit_map(self),
            None => Err(DeError(None, What::Shape(Shape::Table(keys)))),
        }
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> R<V::Value> {
        match v.visit_seq(self).map_err(shape_of) {
            Err(Shape::Table(keys)) => Err(DeError(None, What::Shape(Shape::Array(keys)))),
            _ => Err(DeError(None, What::Shape(Shape::Other))),
        }
    }
    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct tuple tuple_struct map enum identifier ignored_any
    }
}

impl<'de> MapAccess<'de> for Probe {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> R<Option<K::Value>> {
        let key = |key: &'static str| -> StrDeserializer<DeError> { key.into_deserializer() };
        self.0.take().map(|k| seed.deserialize(key(k))).transpose()
    }
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> R<S::Value> {
        seed.deserialize(Probe(None))
    }
}

impl<'de> SeqAccess<'de> for Probe {
    type Error = DeError;
    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> R<Option<S::Value>> {
        seed.deserialize(Probe(None)).map(Some)
    }
}
