//! The T-SQL subset the test TDS origin (`tds_origin`) runs on PostgreSQL: a batch
//! split into statements, the transaction statements recognised, session options
//! (`SET …`) accepted without effect, `N'…'` literals made plain, and SQL Server's
//! catalog views (and `sys.dm_exec_sessions`' isolation level) emulated over pg_catalog.

/// SQL Server's catalog views that wirecache asks, as PostgreSQL views over
/// pg_catalog, for the database the origin serves (run as the superuser at setup).
pub const SYS_CATALOG: &str = "
CREATE SCHEMA sys;
CREATE VIEW sys.schemas AS SELECT oid::int AS schema_id, nspname::text AS name FROM pg_namespace;
CREATE VIEW sys.objects AS
  SELECT c.oid::int AS object_id, c.relname::text AS name, c.relnamespace::int AS schema_id,
         CASE WHEN c.relkind IN ('v', 'm') THEN 'V ' ELSE 'U ' END AS type
  FROM pg_class c WHERE c.relkind IN ('r', 'p', 'v', 'm');
CREATE VIEW sys.triggers AS SELECT tgrelid::int AS parent_id FROM pg_trigger WHERE NOT tgisinternal;
CREATE VIEW sys.foreign_keys AS
  SELECT confrelid::int AS referenced_object_id,
         CASE confdeltype WHEN 'c' THEN 1 WHEN 'n' THEN 2 WHEN 'd' THEN 3 ELSE 0 END AS delete_referential_action,
         CASE confupdtype WHEN 'c' THEN 1 WHEN 'n' THEN 2 WHEN 'd' THEN 3 ELSE 0 END AS update_referential_action
  FROM pg_constraint WHERE contype = 'f';
CREATE VIEW sys.dm_exec_sessions AS
  SELECT pg_backend_pid() AS session_id,
         CASE current_setting('transaction_isolation') WHEN 'read uncommitted' THEN 1
              WHEN 'read committed' THEN 2 WHEN 'repeatable read' THEN 3 ELSE 4 END
           AS transaction_isolation_level;
GRANT USAGE ON SCHEMA sys TO PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA sys TO PUBLIC;
";

/// What one statement of a batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Begin,
    Commit,
    Rollback,
    Select,
    /// `SET <option> …`: SQL Server's session options (ANSI_NULLS, TEXTSIZE, …), which
    /// drivers send at connect, have no PostgreSQL equivalent: accepted, and without
    /// effect on this origin's results (`SET search_path` is run, as `Other`).
    SetOption,
    Other,
}

/// Recognises the T-SQL forms this origin translates; the rest runs as written.
pub fn verb(stmt: &str) -> Verb {
    let words: Vec<String> = stmt
        .split_whitespace()
        .take(2)
        .map(|w| w.to_ascii_uppercase())
        .collect();
    let second_is_tran = matches!(
        words.get(1).map(String::as_str),
        None | Some("TRAN" | "TRANSACTION" | "WORK")
    );
    match words.first().map(String::as_str) {
        Some("BEGIN") if second_is_tran => Verb::Begin,
        Some("COMMIT") if second_is_tran => Verb::Commit,
        Some("ROLLBACK") if second_is_tran => Verb::Rollback,
        Some("SELECT" | "WITH") => Verb::Select,
        // PostgreSQL's schema search path (the shared suite's namespaces) runs.
        Some("SET") if words.get(1).is_some_and(|w| w.starts_with("SEARCH_PATH")) => Verb::Other,
        Some("SET") => Verb::SetOption,
        _ => Verb::Other,
    }
}

/// The statements of a batch: split at `;` outside quotes, blanks dropped.
pub fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in sql.chars() {
        match ch {
            '\'' => {
                quoted = !quoted;
                cur.push(ch);
            }
            ';' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(ch),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// T-SQL's `N'…'` literals are plain strings to PostgreSQL; `@@SPID` is the backend's
/// process ID.
pub fn translate(stmt: &str) -> String {
    stmt.replace(" N'", " '")
        .replace("(N'", "('")
        .replace("@@SPID", "pg_backend_pid()")
}

/// Whether a SELECT only reads the emulated catalog (not counted as a SELECT of data).
pub fn is_catalog(stmt: &str) -> bool {
    stmt.contains("FROM sys.")
}
