//! `Facts`: everything the walk learns about one statement, from which the
//! statement's classification is decided (`statement`).

use std::collections::BTreeSet;

use sqlparser::ast::ObjectName;

use super::names::{self, RelationClass};
use super::{Dialect, TableRef};

/// Everything learned about one statement.
#[derive(Debug, Default)]
pub(super) struct Facts {
    pub reads: BTreeSet<TableRef>,
    pub writes: BTreeSet<TableRef>,
    pub unknown_functions: BTreeSet<String>,
    pub writes_unknown: bool,
    /// An INSERT, UPDATE, DELETE or MERGE was seen (top level or nested).
    pub dml: bool,
    /// PostgreSQL `SELECT … INTO table` creates a table.
    pub creates_table: bool,
    pub select_into: bool,
    pub locking: bool,
    pub non_immutable: bool,
    pub system_catalog: bool,
    pub temp_table: bool,
    pub session_var: bool,
    /// A relation sqlparser misread and that could not be recovered.
    pub unresolved: bool,
}

impl Facts {
    /// Records a relation read, with what its name implies.
    pub fn read(&mut self, dialect: Dialect, table: TableRef) {
        match names::relation_class(dialect, &table) {
            RelationClass::SystemCatalog => self.system_catalog = true,
            RelationClass::Temporary => self.temp_table = true,
            RelationClass::Plain => {}
        }
        self.reads.insert(table);
    }

    pub fn write_name(&mut self, dialect: Dialect, name: &ObjectName) {
        match names::table_ref(dialect, name) {
            Some(table) => {
                self.writes.insert(table);
            }
            None => self.writes_unknown = true,
        }
    }
}
