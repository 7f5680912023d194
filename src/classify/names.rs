//! Names: how each dialect folds identifiers, how an `ObjectName` becomes a
//! [`TableRef`] or a function name, and which relations are system catalogs or
//! temporary tables.

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};

use super::{Dialect, TableRef};

/// Folds one identifier the way the dialect stores it: PostgreSQL lowers unquoted
/// identifiers (ASCII only, as the server does for multi-byte encodings) and keeps
/// quoted ones; MySQL and MariaDB keep every identifier as written (the engine folds
/// table names later according to `lower_case_table_names`).
pub(super) fn fold_ident(dialect: Dialect, ident: &Ident) -> String {
    match dialect {
        Dialect::Postgres if ident.quote_style.is_none() => ident.value.to_ascii_lowercase(),
        _ => ident.value.clone(),
    }
}

fn fold_part(dialect: Dialect, part: &ObjectNamePart) -> String {
    match part {
        ObjectNamePart::Identifier(ident) => fold_ident(dialect, ident),
        ObjectNamePart::Function(function) => fold_ident(dialect, &function.name),
    }
}

/// The last two parts of a possibly qualified name (`db.schema.table` keeps
/// `schema.table`), folded.
fn last_two(dialect: Dialect, name: &ObjectName) -> Option<(Option<String>, String)> {
    let parts = &name.0;
    let last = parts.last()?;
    let schema = parts
        .len()
        .checked_sub(2)
        .and_then(|i| parts.get(i))
        .map(|part| fold_part(dialect, part));
    Some((schema, fold_part(dialect, last)))
}

/// A relation name as a [`TableRef`], or `None` for an empty name.
pub(super) fn table_ref(dialect: Dialect, name: &ObjectName) -> Option<TableRef> {
    let (schema, name) = last_two(dialect, name)?;
    Some(TableRef { schema, name })
}

/// A function name as `(schema, name)`. MySQL function names are case-insensitive,
/// so the name (not the database) is lowered there; PostgreSQL folds as for tables.
pub(super) fn function_name(
    dialect: Dialect,
    name: &ObjectName,
) -> Option<(Option<String>, String)> {
    let (schema, function) = last_two(dialect, name)?;
    match dialect {
        Dialect::Postgres => Some((schema, function)),
        Dialect::MySql | Dialect::MariaDb | Dialect::MsSql => {
            Some((schema, function.to_lowercase()))
        }
    }
}

/// What reading a relation implies for caching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RelationClass {
    Plain,
    SystemCatalog,
    Temporary,
}

/// Classifies a (folded) relation name: system catalogs and temporary tables are
/// recognisable from the text alone only when qualified (or, in PostgreSQL, when the
/// name itself starts with `pg_`).
pub(super) fn relation_class(dialect: Dialect, table: &TableRef) -> RelationClass {
    match dialect {
        Dialect::Postgres => postgres_class(table),
        Dialect::MySql | Dialect::MariaDb => mysql_class(table),
        Dialect::MsSql => super::tsql::relation_class(table),
    }
}

fn postgres_class(table: &TableRef) -> RelationClass {
    match table.schema.as_deref() {
        Some(schema) if schema == "pg_temp" || schema.starts_with("pg_temp_") => {
            RelationClass::Temporary
        }
        Some(schema)
            if schema == "pg_catalog"
                || schema == "information_schema"
                || schema.starts_with("pg_toast") =>
        {
            RelationClass::SystemCatalog
        }
        Some(_) => RelationClass::Plain,
        None if table.name.starts_with("pg_") => RelationClass::SystemCatalog,
        None => RelationClass::Plain,
    }
}

fn mysql_class(table: &TableRef) -> RelationClass {
    const SYSTEM: [&str; 4] = ["mysql", "information_schema", "performance_schema", "sys"];
    match table.schema.as_deref() {
        Some(schema) if SYSTEM.iter().any(|s| s.eq_ignore_ascii_case(schema)) => {
            RelationClass::SystemCatalog
        }
        _ => RelationClass::Plain,
    }
}

/// A keyword sqlparser 0.63 misreads as a table name, the real table then being
/// read as its alias: PostgreSQL `ONLY t` (also `ONLY (t)`, read as a table
/// function) anywhere, and on MySQL write targets `UPDATE LOW_PRIORITY t` /
/// `UPDATE IGNORE t` (reserved words there, so never real table names).
pub(super) fn is_misread_modifier(dialect: Dialect, name: &ObjectName, target: bool) -> bool {
    let words: &[&str] = match dialect {
        Dialect::Postgres => &["only"],
        Dialect::MySql | Dialect::MariaDb if target => &["low_priority", "ignore"],
        Dialect::MySql | Dialect::MariaDb | Dialect::MsSql => &[],
    };
    is_bare_word(name, words)
}

/// MySQL `DELETE QUICK FROM t` (or LOW_PRIORITY, IGNORE) reads as deleting the
/// table named by the modifier.
pub(super) fn is_delete_modifier(dialect: Dialect, name: &ObjectName) -> bool {
    matches!(dialect, Dialect::MySql | Dialect::MariaDb)
        && is_bare_word(name, &["low_priority", "quick", "ignore"])
}

fn is_bare_word(name: &ObjectName, words: &[&str]) -> bool {
    let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() else {
        return false;
    };
    ident.quote_style.is_none() && words.iter().any(|w| ident.value.eq_ignore_ascii_case(w))
}

/// MySQL's `FROM DUAL` names no table.
pub(super) fn is_dual(dialect: Dialect, table: &TableRef) -> bool {
    matches!(dialect, Dialect::MySql | Dialect::MariaDb)
        && table.schema.is_none()
        && table.name.eq_ignore_ascii_case("dual")
}
