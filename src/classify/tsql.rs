//! What T-SQL (SQL Server) text says that the generic rules do not: its built-in
//! functions' volatility (default-deny, design §3), its session values (`@@IDENTITY`,
//! `CURRENT_USER`, …), system catalogs (`sys.*`, `INFORMATION_SCHEMA`), temporary
//! tables (`#t`, `##t`, and anything in `tempdb`), and table hints (`WITH (NOLOCK)`,
//! `UPDLOCK`, `HOLDLOCK`, …), which make a read uncacheable: a locking read must reach
//! the origin, and a dirty read may see what is later rolled back.

use sqlparser::ast::{ObjectName, ObjectNamePart, TableFactor};

use super::facts::Facts;
use super::functions::Volatility;
use super::names::RelationClass;
use super::{Dialect, TableRef};

/// A built-in function's volatility (`name` lowered).
pub(super) fn volatility(name: &str) -> Volatility {
    if immutable(name) {
        Volatility::Immutable
    } else if non_immutable(name) {
        Volatility::NonImmutable
    } else {
        Volatility::Unknown
    }
}

fn immutable(name: &str) -> bool {
    matches!(
        name,
        // math
        "abs" | "acos" | "asin" | "atan" | "atn2" | "ceiling" | "cos" | "cot" | "degrees"
            | "exp" | "floor" | "log" | "log10" | "pi" | "power" | "radians" | "round"
            | "sign" | "sin" | "sqrt" | "square" | "tan"
            // strings
            | "ascii" | "char" | "charindex" | "concat" | "concat_ws" | "difference"
            | "left" | "len" | "lower" | "ltrim" | "nchar" | "patindex" | "quotename"
            | "replace" | "replicate" | "reverse" | "right" | "rtrim" | "soundex" | "space"
            | "str" | "string_escape" | "stuff" | "substring" | "translate" | "trim"
            | "unicode" | "upper" | "datalength"
            // conditionals and conversions between explicit values
            | "coalesce" | "isnull" | "nullif" | "iif" | "choose" | "cast" | "convert"
            | "try_cast" | "try_convert" | "isnumeric"
            // dates from explicit values
            | "datefromparts" | "datetime2fromparts" | "datetimefromparts" | "timefromparts"
            | "smalldatetimefromparts" | "datediff" | "datediff_big" | "dateadd" | "day"
            | "month" | "year" | "eomonth"
            // json
            | "json_value" | "json_query" | "isjson" | "json_modify"
            // aggregates
            | "avg" | "count" | "count_big" | "max" | "min" | "sum" | "stdev" | "stdevp"
            | "var" | "varp" | "string_agg" | "grouping" | "grouping_id" | "checksum_agg"
            // window functions
            | "row_number" | "rank" | "dense_rank" | "ntile" | "lag" | "lead"
            | "first_value" | "last_value" | "cume_dist" | "percent_rank"
    )
}

fn non_immutable(name: &str) -> bool {
    matches!(
        name,
        // clock
        "getdate" | "getutcdate" | "sysdatetime" | "sysutcdatetime" | "sysdatetimeoffset"
            | "current_timestamp" | "current_timezone" | "current_timezone_id"
            // language- or DATEFIRST-dependent, or formatting by culture
            | "datename" | "datepart" | "format" | "parse" | "try_parse"
            // randomness and ids
            | "rand" | "newid" | "newsequentialid" | "checksum" | "binary_checksum"
            | "crypt_gen_random" | "scope_identity" | "ident_current" | "@@identity"
            // session and server state
            | "current_user" | "session_user" | "system_user" | "user" | "user_name"
            | "suser_name" | "suser_sname" | "suser_id" | "suser_sid" | "user_id"
            | "original_login" | "host_name" | "host_id" | "app_name" | "db_name" | "db_id"
            | "schema_name" | "schema_id" | "object_id" | "object_name" | "objectproperty"
            | "session_context" | "context_info" | "connectionproperty" | "serverproperty"
            | "databasepropertyex" | "is_member" | "is_srvrolemember" | "has_perms_by_name"
            | "error_message" | "error_number" | "error_line" | "error_state"
            | "error_severity" | "error_procedure" | "xact_state" | "@@trancount"
            | "@@rowcount" | "@@spid" | "@@error" | "@@version" | "@@servername"
            | "next value for"
    )
}

/// SQL-standard words T-SQL evaluates per session or per call (`lower` is lowered).
pub(super) fn is_value_keyword(lower: &str) -> bool {
    matches!(
        lower,
        "current_timestamp" | "current_user" | "session_user" | "system_user" | "user"
    )
}

/// System catalogs and temporary tables. `#t` is a session's own temporary table,
/// `##t` a global one: neither is ever cached.
pub(super) fn relation_class(table: &TableRef) -> RelationClass {
    const SYSTEM: [&str; 2] = ["sys", "information_schema"];
    if table.name.starts_with('#') {
        return RelationClass::Temporary;
    }
    match table.schema.as_deref() {
        Some(schema) if SYSTEM.iter().any(|s| s.eq_ignore_ascii_case(schema)) => {
            RelationClass::SystemCatalog
        }
        _ if table.name.to_ascii_lowercase().starts_with("sys") && table.schema.is_none() => {
            // Old compatibility views (sysobjects, syscolumns, …).
            RelationClass::SystemCatalog
        }
        _ => RelationClass::Plain,
    }
}

/// A table reference's T-SQL facts: any table hint (`WITH (NOLOCK)`, `UPDLOCK`,
/// `HOLDLOCK`, `INDEX(…)`) counts as a locking clause (never cached); a table of
/// `tempdb` as a temporary one.
pub(super) fn table_facts(dialect: Dialect, facts: &mut Facts, factor: &TableFactor) {
    if let TableFactor::Table {
        name, with_hints, ..
    } = factor
        && dialect == Dialect::MsSql
    {
        facts.locking |= !with_hints.is_empty();
        facts.temp_table |= in_tempdb(name);
    }
}

/// Whether a relation lives in `tempdb` (three-part name `tempdb.schema.t`).
fn in_tempdb(name: &ObjectName) -> bool {
    let parts = &name.0;
    parts.len() >= 3
        && matches!(parts.first(), Some(ObjectNamePart::Identifier(db)) if db.value.eq_ignore_ascii_case("tempdb"))
}
