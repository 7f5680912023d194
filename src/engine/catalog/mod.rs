//! What each origin's catalog is asked (design §3), per dialect: the SQL of a
//! [`CatalogQuestion`](super::CatalogQuestion) and the facts its rows give. Pure
//! functions; a session sends the query over its own origin connection and decodes
//! the rows in its protocol.

pub mod mssql;
pub mod mysql;
pub mod postgres;

/// One row of a catalog answer: its columns as text (`None`: NULL).
pub type Row = Vec<Option<String>>;

use crate::classify::{Dialect, Isolation};

/// The query that asks the origin for the session's default isolation level: the
/// level a transaction it opens gets (after the role's and database's settings and
/// the client's startup options). MySQL names the variable `transaction_isolation`,
/// MariaDB (before 11.1) `tx_isolation`: either is found.
pub fn isolation_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => "SELECT current_setting('default_transaction_isolation')",
        Dialect::MySql | Dialect::MariaDb => {
            "SHOW SESSION VARIABLES WHERE Variable_name IN ('transaction_isolation', 'tx_isolation')"
        }
        Dialect::MsSql => {
            "SELECT CASE transaction_isolation_level WHEN 1 THEN 'read uncommitted' \
             WHEN 2 THEN 'read committed' WHEN 3 THEN 'repeatable read' \
             WHEN 4 THEN 'serializable' ELSE 'snapshot' END \
             FROM sys.dm_exec_sessions WHERE session_id = @@SPID"
        }
    }
}

/// The level in the answer to [`isolation_sql`]: the last column of its first row.
pub fn isolation_from_rows(rows: &[Row], dialect: Dialect) -> Option<Isolation> {
    let value = rows.first()?.last()?.as_deref()?;
    Isolation::parse(value, dialect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation_answers() {
        let row = |cols: &[&str]| cols.iter().map(|c| Some(c.to_string())).collect::<Row>();
        let pg = [row(&["repeatable read"])];
        assert_eq!(
            isolation_from_rows(&pg, Dialect::Postgres),
            Some(Isolation::RepeatableRead)
        );
        let my = [row(&["tx_isolation", "READ-UNCOMMITTED"])];
        assert_eq!(
            isolation_from_rows(&my, Dialect::MariaDb),
            Some(Isolation::ReadUncommitted)
        );
        assert_eq!(isolation_from_rows(&[], Dialect::MariaDb), None);
        assert_eq!(isolation_from_rows(&[vec![None]], Dialect::Postgres), None);
    }
}
