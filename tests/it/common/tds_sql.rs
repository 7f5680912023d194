//! The T-SQL subset the test TDS origin (`tds_origin`) runs on PostgreSQL: a batch
//! split into statements, the transaction statements recognised, savepoints (`SAVE
//! TRAN s`, `ROLLBACK TRAN s`) and `SET TRANSACTION ISOLATION LEVEL` mapped onto
//! PostgreSQL's, other session options (`SET …`) accepted without effect, `N'…'`
//! literals made plain, `OUTPUT inserted.c` / `deleted.c` made `RETURNING c`, and SQL
//! Server's catalog views (and `sys.dm_exec_sessions`' isolation level) emulated over
//! pg_catalog: a view's dependencies (`sys.sql_expression_dependencies`) from
//! pg_rewrite and pg_depend, its definition (`sys.sql_modules`) from pg_get_viewdef.

/// SQL Server's catalog views that wirecache asks, as PostgreSQL views over
/// pg_catalog, for the database the origin serves (run as the superuser at setup).
pub const SYS_CATALOG: &str = "
CREATE SCHEMA sys;
CREATE VIEW sys.schemas AS SELECT oid::int AS schema_id, nspname::text AS name FROM pg_namespace;
CREATE VIEW sys.objects AS
  SELECT c.oid::int AS object_id, c.relname::text AS name, c.relnamespace::int AS schema_id,
         (CASE WHEN c.relkind IN ('v', 'm') THEN 'V ' ELSE 'U ' END)::char(2) AS type
  FROM pg_class c WHERE c.relkind IN ('r', 'p', 'v', 'm');
CREATE VIEW sys.triggers AS SELECT tgrelid::int AS parent_id FROM pg_trigger WHERE NOT tgisinternal;
CREATE VIEW sys.foreign_keys AS
  SELECT confrelid::int AS referenced_object_id,
         CASE confdeltype WHEN 'c' THEN 1 WHEN 'n' THEN 2 WHEN 'd' THEN 3 ELSE 0 END AS delete_referential_action,
         CASE confupdtype WHEN 'c' THEN 1 WHEN 'n' THEN 2 WHEN 'd' THEN 3 ELSE 0 END AS update_referential_action
  FROM pg_constraint WHERE contype = 'f';
CREATE VIEW sys.dm_exec_sessions AS
  SELECT pg_backend_pid() AS session_id,
         CASE WHEN current_setting('tds.isolation', true) = 'snapshot' THEN 5
              WHEN current_setting('tds.isolation', true) = 'read uncommitted' THEN 1
              ELSE CASE current_setting('transaction_isolation') WHEN 'read uncommitted' THEN 1
              WHEN 'read committed' THEN 2 WHEN 'repeatable read' THEN 3 ELSE 4 END END
           AS transaction_isolation_level;
CREATE VIEW sys.sql_expression_dependencies AS
  SELECT DISTINCT r.ev_class::int AS referencing_id, d.refobjid::int AS referenced_id,
         COALESCE(c.relname, p.proname)::text AS referenced_entity_name,
         n.nspname::text AS referenced_schema_name, NULL::text AS referenced_database_name
  FROM pg_rewrite r
  JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
   AND d.refobjid <> r.ev_class AND d.refclassid IN ('pg_class'::regclass, 'pg_proc'::regclass)
  LEFT JOIN pg_class c ON d.refclassid = 'pg_class'::regclass AND c.oid = d.refobjid
  LEFT JOIN pg_proc p ON d.refclassid = 'pg_proc'::regclass AND p.oid = d.refobjid
  LEFT JOIN pg_namespace n ON n.oid = COALESCE(c.relnamespace, p.pronamespace);
CREATE VIEW sys.sql_modules AS
  SELECT c.oid::int AS object_id,
         'CREATE VIEW ' || c.relname || ' AS ' || pg_get_viewdef(c.oid) AS definition
  FROM pg_class c WHERE c.relkind = 'v';
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
    /// A write with an `OUTPUT` clause: it answers rows, like a SELECT.
    Output,
    /// Savepoints and the isolation level: run as [`control`] translates them.
    Control,
    /// `SET <option> …`: SQL Server's session options (ANSI_NULLS, TEXTSIZE, …), which
    /// drivers send at connect, have no PostgreSQL equivalent: accepted, and without
    /// effect on this origin's results (`SET search_path` is run, as `Other`).
    SetOption,
    Other,
}

/// Recognises the T-SQL forms this origin translates; the rest runs as written.
pub fn verb(stmt: &str) -> Verb {
    if control(stmt).is_some() {
        return Verb::Control;
    }
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
        Some("UPDATE" | "INSERT" | "DELETE") if output_clause(stmt).is_some() => Verb::Output,
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
/// `OUTPUT inserted.c` / `deleted.c` becomes PostgreSQL's `RETURNING c` (an UPDATE's
/// `deleted.c`, the value before, has no PostgreSQL form and is left to fail).
pub fn translate(stmt: &str) -> String {
    let plain = stmt
        .replace(" N'", " '")
        .replace("(N'", "('")
        .replace("@@SPID", "pg_backend_pid()");
    match output_clause(&plain) {
        Some((at, end, cols)) => format!(
            "{} {} RETURNING {cols}",
            plain[..at].trim_end(),
            plain[end..].trim_start()
        ),
        None => plain,
    }
}

/// Where an `OUTPUT` clause starts and ends in `stmt` (outside quotes), and its columns
/// with their `inserted.` / `deleted.` prefixes dropped. It ends at the next `WHERE`,
/// `FROM`, `VALUES` or `SELECT`, or at the end; `OUTPUT … INTO` is not in the subset.
fn output_clause(stmt: &str) -> Option<(usize, usize, String)> {
    let upper = stmt.to_ascii_uppercase();
    let at = keyword(&upper, "OUTPUT", 0)?;
    let from = at + "OUTPUT".len();
    let end = ["WHERE", "FROM", "VALUES", "SELECT"]
        .iter()
        .filter_map(|k| keyword(&upper, k, from))
        .min()
        .unwrap_or(stmt.len());
    let update = upper.trim_start().starts_with("UPDATE");
    let mut cols = Vec::new();
    for col in stmt[from..end].split(',') {
        let col = col.trim();
        let (prefix, name) = col.split_once('.')?;
        match prefix.to_ascii_lowercase().as_str() {
            "inserted" => cols.push(name.to_string()),
            "deleted" if !update => cols.push(name.to_string()),
            _ => return None,
        }
    }
    Some((at, end, cols.join(", ")))
}

/// The byte offset of `word` in `upper` (already upper-cased) at or after `from`, as a
/// whole word outside quotes.
fn keyword(upper: &str, word: &str, from: usize) -> Option<usize> {
    let bytes = upper.as_bytes();
    let mut quoted = false;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\'' {
            quoted = !quoted;
        }
        if quoted || i < from || !upper[i..].starts_with(word) {
            continue;
        }
        let word_char = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'@';
        let before = i == 0 || !word_char(bytes[i - 1]);
        let after = bytes.get(i + word.len()).is_none_or(|c| !word_char(*c));
        if before && after {
            return Some(i);
        }
    }
    None
}

/// The PostgreSQL statements a savepoint or isolation statement becomes: `SAVE
/// TRAN[SACTION] s` is `SAVEPOINT s`, `ROLLBACK TRAN[SACTION] s` is `ROLLBACK TO
/// SAVEPOINT s` (SQL Server has no RELEASE), and `SET TRANSACTION ISOLATION LEVEL l`
/// sets the session's default level: SQL Server's `READ UNCOMMITTED` runs as
/// PostgreSQL's (which is READ COMMITTED), `SNAPSHOT` as REPEATABLE READ (a snapshot
/// from the first statement, and an update conflict fails), REPEATABLE READ and
/// SERIALIZABLE as PostgreSQL's (snapshots, not SQL Server's held locks). The name
/// given is kept in `tds.isolation` for `sys.dm_exec_sessions`. Inside a transaction
/// it applies from the next one (SQL Server changes the open one's level too).
pub fn control(stmt: &str) -> Option<String> {
    let words: Vec<String> = stmt
        .split_whitespace()
        .map(|w| w.to_ascii_uppercase())
        .collect();
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let name = |i: usize| stmt.split_whitespace().nth(i).map(str::to_string);
    match w.as_slice() {
        // PostgreSQL's own forms (the shared suite's), run as written.
        ["SAVEPOINT" | "RELEASE", ..] | ["ROLLBACK", "TO", ..] => Some(stmt.to_string()),
        ["SAVE", "TRAN" | "TRANSACTION", _] => Some(format!("SAVEPOINT {}", name(2)?)),
        ["ROLLBACK", "TRAN" | "TRANSACTION", _] => {
            Some(format!("ROLLBACK TO SAVEPOINT {}", name(2)?))
        }
        ["SET", "TRANSACTION", "ISOLATION", "LEVEL", level @ ..] => {
            let named = level.join(" ");
            let pg = match named.as_str() {
                "READ UNCOMMITTED" | "READ COMMITTED" | "REPEATABLE READ" | "SERIALIZABLE" => {
                    named.clone()
                }
                "SNAPSHOT" => "REPEATABLE READ".to_string(),
                _ => return None,
            };
            Some(format!(
                "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL {pg}; \
                 SET tds.isolation = '{}'",
                named.to_ascii_lowercase()
            ))
        }
        _ => None,
    }
}

/// `SET IMPLICIT_TRANSACTIONS ON` / `OFF`: whether data statements outside a
/// transaction open one.
pub fn implicit(stmt: &str) -> Option<bool> {
    let words: Vec<String> = stmt
        .split_whitespace()
        .map(|w| w.to_ascii_uppercase())
        .collect();
    match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["SET", "IMPLICIT_TRANSACTIONS", "ON"] => Some(true),
        ["SET", "IMPLICIT_TRANSACTIONS", "OFF"] => Some(false),
        _ => None,
    }
}

/// Whether a SELECT only reads the emulated catalog (not counted as a SELECT of data).
pub fn is_catalog(stmt: &str) -> bool {
    stmt.contains("FROM sys.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_becomes_returning() {
        assert_eq!(
            translate("UPDATE kv_1 SET ver = ver + 1 OUTPUT inserted.ver WHERE id = 5"),
            "UPDATE kv_1 SET ver = ver + 1 WHERE id = 5 RETURNING ver"
        );
        assert_eq!(
            translate("DELETE FROM kv_1 OUTPUT deleted.ver WHERE id = @P1"),
            "DELETE FROM kv_1 WHERE id = @P1 RETURNING ver"
        );
        assert_eq!(
            translate("INSERT INTO t (id, v) OUTPUT inserted.id, inserted.v VALUES (1, 'output')"),
            "INSERT INTO t (id, v) VALUES (1, 'output') RETURNING id, v"
        );
        assert_eq!(verb("UPDATE t SET v = 1 OUTPUT inserted.v"), Verb::Output);
        assert_eq!(verb("UPDATE t SET v = 'OUTPUT x'"), Verb::Other);
        // An UPDATE's old values have no PostgreSQL form: left to fail.
        assert_eq!(verb("UPDATE t SET v = 1 OUTPUT deleted.v"), Verb::Other);
    }

    #[test]
    fn savepoints_and_levels() {
        assert_eq!(control("SAVE TRAN s1").as_deref(), Some("SAVEPOINT s1"));
        assert_eq!(
            control("rollback transaction s1").as_deref(),
            Some("ROLLBACK TO SAVEPOINT s1")
        );
        assert_eq!(verb("ROLLBACK TRAN"), Verb::Rollback);
        assert_eq!(verb("ROLLBACK TRANSACTION s2"), Verb::Control);
        let snap = control("SET TRANSACTION ISOLATION LEVEL SNAPSHOT").unwrap();
        assert!(snap.contains("LEVEL REPEATABLE READ") && snap.contains("'snapshot'"));
        assert_eq!(control("SET TRANSACTION ISOLATION LEVEL CHAOS"), None);
    }
}
