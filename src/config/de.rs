//! The reader: serde deserializers over the parsed `toml::Table` that collect
//! every problem. Each table is read into its schema struct; a key whose value
//! fails is reported with its path, dropped, and the table read again. A value
//! set from the environment is text, converted to what its field asks for.
//! Also [`schema`]: the sections and keys, learnt from the schema structs.

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

/// What reading has found: every problem, grouped by the table it concerns.
#[derive(Default)]
pub(super) struct Ctx {
    /// Key path → the environment variable that set it.
    pub sources: Sources,
    found: RefCell<Found>,
}

#[derive(Default)]
struct Found {
    /// (table, error); reported in the order the tables were first read.
    errors: Vec<(String, ConfigError)>,
    tables: Vec<String>,
    /// Key paths whose value was reported invalid (and dropped).
    invalid: HashSet<String>,
}

impl Ctx {
    /// Reports `error` about the table at `table`, once.
    pub fn push(&self, table: &str, error: ConfigError) {
        let errors = &mut self.found.borrow_mut().errors;
        let text = error.to_string();
        if !errors.iter().any(|(_, e)| e.to_string() == text) {
            errors.push((table.to_owned(), error));
        }
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

/// Reads the whole file; a section of the wrong shape is reported and dropped.
pub(super) fn read(ctx: &Ctx, mut root: Table) -> File {
    for (name, shape) in schema() {
        let Some(v) = root.get(name) else { continue };
        let expected = match shape {
            Shape::Table(_) if !v.is_table() => "a table".to_owned(),
            Shape::Array(_) if !v.is_array() => format!("an array of tables ([[{name}]])"),
            _ => continue,
        };
        ctx.invalid(
            "",
            name,
            format!("expected {expected}, found {}", v.type_str()),
        );
        root.remove(name);
    }
    read_table(ctx, "", root).unwrap_or_default()
}

/// Reads `table` (at `path`) into `T`, dropping and reporting each key that fails.
fn read_table<'de, T: Deserialize<'de>>(
    ctx: &Ctx,
    path: &str,
    mut table: Table,
) -> Result<T, DeError> {
    {
        let tables = &mut ctx.found.borrow_mut().tables;
        if !tables.iter().any(|t| t == path) {
            tables.push(path.to_owned());
        }
    }
    let mut failed = Vec::new();
    let result = loop {
        let value = Value::Table(table.clone());
        match T::deserialize(De::new(ctx, path.to_owned(), &value)) {
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
    failed.sort_by_key(|(key, _)| keys.iter().position(|k| k == key).map_or(0, |i| i + 1));
    for (key, what) in failed {
        match what {
            What::Unknown(known) => ctx.push(
                path,
                ConfigError::UnknownKey {
                    path: join(path, &key),
                    known,
                },
            ),
            What::Message(message) => ctx.invalid(path, &join(path, &key), message),
        }
    }
    result
}

/// A problem reading a table: the key at fault, once known, and what is wrong.
#[derive(Debug)]
pub(super) struct DeError(Option<String>, What);

#[derive(Debug)]
enum What {
    Message(String),
    Unknown(&'static [&'static str]),
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

/// One value at `path`. Tables are read as maps whose own tables go through
/// [`read_table`]; arrays item by item; text from the environment is converted.
struct De<'a> {
    ctx: &'a Ctx,
    path: String,
    value: &'a Value,
}

impl<'a> De<'a> {
    fn new(ctx: &'a Ctx, path: String, value: &'a Value) -> Self {
        De { ctx, path, value }
    }

    /// The text of a value set from the environment.
    fn env_text(&self) -> Option<&str> {
        let from_env = self.ctx.sources.contains_key(&self.path);
        self.value.as_str().filter(|_| from_env).map(str::trim)
    }
}

impl<'de> Deserializer<'de> for De<'_> {
    type Error = DeError;
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
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
    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.env_text() {
            Some(s) if s.eq_ignore_ascii_case("true") => v.visit_bool(true),
            Some(s) if s.eq_ignore_ascii_case("false") => v.visit_bool(false),
            Some(s) => Err(DeError::custom(format!(
                "invalid boolean {s:?}: expected true or false"
            ))),
            None => self.deserialize_any(v),
        }
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.env_text().map(|s| (s, s.parse())) {
            Some((_, Ok(n))) => v.visit_i64(n),
            Some((s, Err(_))) => Err(DeError::custom(format!("invalid integer {s:?}"))),
            None => self.deserialize_any(v),
        }
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
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
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, value)) = self.iter.next() else {
            return Ok(None);
        };
        self.value = Some((key, value));
        seed.deserialize(key.as_str().into_deserializer())
            .map(Some)
            .map_err(|e: DeError| e.at(key))
    }
    /// A table is read with [`read_table`], so that a bad key in it drops that key only.
    fn next_value<V: Deserialize<'de>>(&mut self) -> Result<V, DeError> {
        match self.value {
            Some((key, Value::Table(t))) => {
                self.value = None;
                let path = join(self.path, key);
                read_table(self.ctx, &path, t.clone()).map_err(|e| e.at(key))
            }
            _ => self.next_value_seed(PhantomData),
        }
    }
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, DeError> {
        let (key, value) = self
            .value
            .take()
            .ok_or_else(|| DeError::custom("no value"))?;
        seed.deserialize(De::new(self.ctx, join(self.path, key), value))
            .map_err(|e| e.at(key))
    }
}

/// An array of tables; an item that is not a table is reported and skipped.
struct Items<'a> {
    ctx: &'a Ctx,
    path: &'a str,
    items: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
}

impl<'de> SeqAccess<'de> for Items<'_> {
    type Error = DeError;
    fn next_element<T: Deserialize<'de>>(&mut self) -> Result<Option<T>, DeError> {
        for (i, item) in self.items.by_ref() {
            let path = format!("{}[{i}]", self.path);
            match item {
                Value::Table(t) => return read_table(self.ctx, &path, t.clone()).map(Some),
                other => {
                    self.ctx
                        .found
                        .borrow_mut()
                        .invalid
                        .insert(self.path.to_owned());
                    let message = format!("expected a table, found {}", other.type_str());
                    self.ctx.invalid("", &path, message);
                }
            }
        }
        Ok(None)
    }
    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, DeError> {
        let Some((i, item)) = self.items.next() else {
            return Ok(None);
        };
        seed.deserialize(De::new(self.ctx, format!("{}[{i}]", self.path), item))
            .map(Some)
    }
}

/// A schema type's shape: a table or an array of tables with these keys, or a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    let section = |i| match File::deserialize(Probe(Some(i), None)) {
        Err(Probed(shape)) => shape,
        Ok(_) => Shape::Other,
    };
    names
        .iter()
        .enumerate()
        .map(|(i, &name)| (name, section(i)))
        .collect()
}

/// The shape of `T`, learnt by letting it deserialize from a probe.
fn shape<'de, T: Deserialize<'de>>() -> Shape {
    match T::deserialize(Probe(None, None)) {
        Err(Probed(shape)) => shape,
        Ok(_) => Shape::Other,
    }
}

/// Fails a struct with its keys and a sequence with its item's. `Probe(Some(i), _)`
/// has a struct read its key `i` first, failing with that key's shape; as a map,
/// a probe holds that one key.
struct Probe(Option<usize>, Option<&'static str>);

#[derive(Debug)]
struct Probed(Shape);

impl de::Error for Probed {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Probed(Shape::Other)
    }
}

impl fmt::Display for Probed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::error::Error for Probed {}

impl<'de> Deserializer<'de> for Probe {
    type Error = Probed;
    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Probed> {
        Err(Probed(Shape::Other))
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &str,
        keys: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Probed> {
        match self.0.and_then(|i| keys.get(i)) {
            Some(&key) => v.visit_map(Probe(None, Some(key))),
            None => Err(Probed(Shape::Table(keys))),
        }
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Probed> {
        match v.visit_seq(self) {
            Err(Probed(Shape::Table(keys))) => Err(Probed(Shape::Array(keys))),
            other => other,
        }
    }
    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct tuple tuple_struct map enum identifier ignored_any
    }
}

impl<'de> MapAccess<'de> for Probe {
    type Error = Probed;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Probed> {
        let key =
            |key: &'static str| -> StrDeserializer<'static, Probed> { key.into_deserializer() };
        self.1.take().map(|k| seed.deserialize(key(k))).transpose()
    }
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Probed> {
        seed.deserialize(Probe(None, None))
    }
}

impl<'de> SeqAccess<'de> for Probe {
    type Error = Probed;
    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Probed> {
        seed.deserialize(Probe(None, None)).map(Some)
    }
}
