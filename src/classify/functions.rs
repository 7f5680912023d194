//! Function volatility lists per dialect (design §3: functions are default-deny).
//!
//! Three answers: on the immutable allow-list (cacheable), on the known non-immutable
//! list (built-ins that cannot write tables: the read is simply not cacheable), or
//! unknown (the engine asks the catalog, e.g. `pg_proc.provolatile`).
//!
//! PostgreSQL entries follow the server's `provolatile`: functions that are only
//! *stable* (they depend on `TimeZone`, `DateStyle`, type output functions …) are on
//! the non-immutable list, e.g. `concat`, `format`, `to_char`, `json_build_object`,
//! `json_agg`. A few overloaded names are listed by their common overload
//! (`generate_series` over integers is immutable; over `timestamptz` it is stable).

use super::Dialect;

/// What the text alone says about a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Volatility {
    Immutable,
    NonImmutable,
    Unknown,
}

/// Looks a folded function name up. `schema` is the qualifier as written (folded):
/// only unqualified names, or `pg_catalog.` ones in PostgreSQL, are built-ins.
pub(super) fn volatility(dialect: Dialect, schema: Option<&str>, name: &str) -> Volatility {
    match dialect {
        Dialect::Postgres => match schema {
            None | Some("pg_catalog") => postgres(name),
            Some(_) => Volatility::Unknown,
        },
        Dialect::MySql | Dialect::MariaDb => match schema {
            None => mysql(&name.to_ascii_lowercase()),
            Some(_) => Volatility::Unknown,
        },
        Dialect::MsSql => match schema {
            None => super::tsql::volatility(&name.to_ascii_lowercase()),
            Some(_) => Volatility::Unknown,
        },
    }
}

/// SQL-standard value keywords (`CURRENT_DATE`, `USER`, …) that may reach the AST
/// as bare identifiers rather than function calls. `lower` is the lowered name.
pub(super) fn is_value_keyword(dialect: Dialect, lower: &str) -> bool {
    match dialect {
        Dialect::Postgres => matches!(
            lower,
            "current_catalog"
                | "current_date"
                | "current_role"
                | "current_schema"
                | "current_time"
                | "current_timestamp"
                | "current_user"
                | "localtime"
                | "localtimestamp"
                | "session_user"
                | "system_user"
                | "user"
        ),
        Dialect::MySql | Dialect::MariaDb => matches!(
            lower,
            "current_date"
                | "current_time"
                | "current_timestamp"
                | "current_user"
                | "current_role"
                | "localtime"
                | "localtimestamp"
                | "utc_date"
                | "utc_time"
                | "utc_timestamp"
        ),
        Dialect::MsSql => super::tsql::is_value_keyword(lower),
    }
}

/// PostgreSQL special date/time input strings evaluated when the literal is read
/// (`'now'::timestamptz`, `DATE 'today'`).
pub(super) fn is_volatile_literal(dialect: Dialect, literal: &str) -> bool {
    dialect == Dialect::Postgres
        && ["now", "today", "tomorrow", "yesterday"]
            .iter()
            .any(|word| literal.trim().eq_ignore_ascii_case(word))
}

fn postgres(name: &str) -> Volatility {
    if postgres_immutable(name) {
        Volatility::Immutable
    } else if postgres_non_immutable(name) || name.starts_with("pg_") {
        // pg_* built-ins (pg_sleep, pg_backend_pid, pg_advisory_lock, …) are
        // volatile or stable; none writes user tables.
        Volatility::NonImmutable
    } else {
        Volatility::Unknown
    }
}

fn postgres_immutable(name: &str) -> bool {
    matches!(
        name,
        // math
        "abs" | "cbrt" | "ceil" | "ceiling" | "degrees" | "div" | "exp" | "factorial"
            | "floor" | "gcd" | "lcm" | "ln" | "log" | "log10" | "min_scale" | "mod" | "pi"
            | "pow" | "power" | "radians" | "round" | "scale" | "sign" | "sqrt"
            | "trim_scale" | "trunc" | "width_bucket" | "acos" | "asin" | "atan" | "atan2"
            | "cos" | "cot" | "sin" | "tan" | "sinh" | "cosh" | "tanh" | "acosd" | "asind"
            | "atand" | "atan2d" | "cosd" | "cotd" | "sind" | "tand"
            // strings
            | "ascii" | "bit_length" | "btrim" | "char_length" | "character_length" | "chr"
            | "initcap" | "left" | "length" | "lower" | "lpad" | "ltrim" | "md5"
            | "octet_length" | "overlay" | "position" | "regexp_count" | "regexp_instr"
            | "regexp_like" | "regexp_match" | "regexp_matches" | "regexp_replace"
            | "regexp_split_to_array" | "regexp_split_to_table" | "regexp_substr"
            | "repeat" | "replace" | "reverse" | "right" | "rpad" | "rtrim" | "split_part"
            | "starts_with" | "string_to_array" | "strpos" | "substr" | "substring"
            | "to_hex" | "translate" | "trim" | "upper" | "encode" | "decode" | "sha224"
            | "sha256" | "sha384" | "sha512" | "quote_ident"
            // conditionals
            | "coalesce" | "nullif" | "greatest" | "least" | "num_nonnulls" | "num_nulls"
            // constructors sqlparser reads as calls: ARRAY(subquery), ROW(…)
            | "array" | "row"
            // arrays and set-returning helpers
            | "array_append" | "array_cat" | "array_dims" | "array_fill" | "array_length"
            | "array_lower" | "array_ndims" | "array_position" | "array_positions"
            | "array_prepend" | "array_remove" | "array_replace" | "array_upper"
            | "cardinality" | "trim_array" | "unnest" | "generate_subscripts"
            | "generate_series"
            // json accessors
            | "json_extract_path" | "json_extract_path_text" | "jsonb_extract_path"
            | "jsonb_extract_path_text" | "json_array_length" | "jsonb_array_length"
            | "json_typeof" | "jsonb_typeof" | "json_object_keys" | "jsonb_object_keys"
            | "json_each" | "jsonb_each" | "json_each_text" | "jsonb_each_text"
            | "json_array_elements" | "jsonb_array_elements" | "json_array_elements_text"
            | "jsonb_array_elements_text" | "jsonb_set" | "jsonb_insert" | "json_strip_nulls"
            | "jsonb_strip_nulls" | "jsonb_pretty" | "jsonb_path_exists" | "jsonb_path_match"
            | "jsonb_path_query" | "jsonb_path_query_array" | "jsonb_path_query_first"
            // date/time constructors over explicit values
            | "make_date" | "make_time" | "make_timestamp" | "make_interval" | "justify_days"
            | "justify_hours" | "justify_interval"
            // aggregates
            | "count" | "sum" | "avg" | "min" | "max" | "bool_and" | "bool_or" | "every"
            | "string_agg" | "array_agg" | "stddev" | "stddev_pop" | "stddev_samp"
            | "variance" | "var_pop" | "var_samp" | "bit_and" | "bit_or" | "bit_xor" | "corr"
            | "covar_pop" | "covar_samp" | "regr_avgx" | "regr_avgy" | "regr_count"
            | "regr_intercept" | "regr_r2" | "regr_slope" | "regr_sxx" | "regr_sxy"
            | "regr_syy" | "percentile_cont" | "percentile_disc" | "mode" | "any_value"
            // window functions
            | "row_number" | "rank" | "dense_rank" | "percent_rank" | "cume_dist" | "ntile"
            | "lag" | "lead" | "first_value" | "last_value" | "nth_value"
    )
}

fn postgres_non_immutable(name: &str) -> bool {
    matches!(
        name,
        // clock
        "now" | "current_timestamp" | "current_date" | "current_time" | "localtime"
            | "localtimestamp" | "clock_timestamp" | "statement_timestamp"
            | "transaction_timestamp" | "timeofday"
            // randomness and sequences
            | "random" | "random_normal" | "setseed" | "gen_random_uuid" | "uuidv4" | "uuidv7"
            | "uuid_generate_v1" | "uuid_generate_v1mc" | "uuid_generate_v4" | "nextval"
            | "currval" | "lastval" | "setval" | "array_sample" | "array_shuffle"
            // session and server state
            | "current_setting" | "set_config" | "current_user" | "session_user" | "user"
            | "current_role" | "current_catalog" | "system_user" | "current_schema"
            | "current_schemas" | "current_database" | "current_query" | "inet_client_addr"
            | "inet_client_port" | "inet_server_addr" | "inet_server_port" | "version"
            | "txid_current" | "txid_current_if_assigned" | "txid_current_snapshot"
            | "txid_status" | "has_table_privilege" | "has_column_privilege"
            | "has_schema_privilege" | "has_database_privilege" | "has_function_privilege"
            | "obj_description" | "col_description"
            // stable: depend on TimeZone, DateStyle or type output functions
            | "to_char" | "to_date" | "to_number" | "to_timestamp" | "age" | "date_trunc"
            | "date_part" | "timezone" | "make_timestamptz" | "concat" | "concat_ws"
            | "format" | "quote_literal" | "quote_nullable" | "array_to_string"
            | "array_to_json" | "to_json" | "to_jsonb" | "row_to_json" | "json_build_object"
            | "jsonb_build_object" | "json_build_array" | "jsonb_build_array" | "json_agg"
            | "jsonb_agg" | "json_object_agg" | "jsonb_object_agg" | "json_populate_record"
            | "jsonb_populate_record" | "json_populate_recordset"
            | "jsonb_populate_recordset" | "json_to_record" | "jsonb_to_record"
            | "json_to_recordset" | "jsonb_to_recordset"
    )
}

fn mysql(name: &str) -> Volatility {
    if mysql_immutable(name) {
        Volatility::Immutable
    } else if mysql_non_immutable(name) {
        Volatility::NonImmutable
    } else {
        Volatility::Unknown
    }
}

fn mysql_immutable(name: &str) -> bool {
    matches!(
        name,
        // math
        "abs" | "acos" | "asin" | "atan" | "atan2" | "ceil" | "ceiling" | "conv" | "cos"
            | "cot" | "crc32" | "degrees" | "exp" | "floor" | "ln" | "log" | "log2" | "log10"
            | "mod" | "pi" | "pow" | "power" | "radians" | "round" | "sign" | "sin" | "sqrt"
            | "tan" | "truncate"
            // strings
            | "ascii" | "bin" | "bit_length" | "char" | "char_length" | "character_length"
            | "concat" | "concat_ws" | "elt" | "field" | "find_in_set" | "from_base64"
            | "hex" | "insert" | "instr" | "lcase" | "left" | "length" | "locate" | "lower"
            | "lpad" | "ltrim" | "md5" | "mid" | "oct" | "octet_length" | "ord" | "position"
            | "quote" | "regexp_instr" | "regexp_like" | "regexp_replace" | "regexp_substr"
            | "repeat" | "replace" | "reverse" | "right" | "rpad" | "rtrim" | "sha" | "sha1"
            | "sha2" | "soundex" | "space" | "strcmp" | "substr" | "substring"
            | "substring_index" | "to_base64" | "trim" | "ucase" | "unhex" | "upper"
            // conditionals
            | "coalesce" | "greatest" | "if" | "ifnull" | "isnull" | "least" | "nullif"
            | "interval" | "values" | "row"
            // json
            | "json_array" | "json_contains" | "json_contains_path" | "json_depth"
            | "json_extract" | "json_insert" | "json_keys" | "json_length"
            | "json_merge_patch" | "json_merge_preserve" | "json_object" | "json_overlaps"
            | "json_pretty" | "json_quote" | "json_remove" | "json_replace" | "json_search"
            | "json_set" | "json_type" | "json_unquote" | "json_valid" | "json_value"
            // date arithmetic over explicit values
            | "adddate" | "date" | "date_add" | "date_sub" | "datediff" | "day"
            | "dayofmonth" | "dayofweek" | "dayofyear" | "from_days" | "hour" | "last_day"
            | "makedate" | "maketime" | "microsecond" | "minute" | "month" | "period_add"
            | "period_diff" | "quarter" | "sec_to_time" | "second" | "subdate" | "time"
            | "time_to_sec" | "timediff" | "timestampadd" | "timestampdiff" | "to_days"
            | "weekday" | "year"
            // aggregates
            | "any_value" | "avg" | "bit_and" | "bit_or" | "bit_xor" | "count"
            | "group_concat" | "json_arrayagg" | "json_objectagg" | "max" | "min" | "std"
            | "stddev" | "stddev_pop" | "stddev_samp" | "sum" | "var_pop" | "var_samp"
            | "variance"
            // window functions
            | "cume_dist" | "dense_rank" | "first_value" | "lag" | "last_value" | "lead"
            | "nth_value" | "ntile" | "percent_rank" | "rank" | "row_number"
    )
}

fn mysql_non_immutable(name: &str) -> bool {
    matches!(
        name,
        // clock
        "now" | "sysdate" | "curdate" | "curtime" | "current_date" | "current_time"
            | "current_timestamp" | "localtime" | "localtimestamp" | "utc_date" | "utc_time"
            | "utc_timestamp" | "unix_timestamp" | "from_unixtime"
            // locale or session dependent formatting
            | "date_format" | "dayname" | "monthname" | "week" | "yearweek" | "get_format"
            | "convert_tz" | "format"
            // randomness, ids and sequences
            | "rand" | "random_bytes" | "uuid" | "uuid_short" | "sys_guid" | "last_insert_id"
            | "found_rows" | "row_count" | "nextval" | "lastval" | "setval"
            // locks and sleeping
            | "get_lock" | "release_lock" | "release_all_locks" | "is_free_lock"
            | "is_used_lock" | "sleep" | "benchmark" | "master_pos_wait" | "source_pos_wait"
            // session and server state
            | "connection_id" | "user" | "current_user" | "session_user" | "system_user"
            | "current_role" | "database" | "schema" | "version" | "load_file" | "charset"
            | "collation" | "coercibility"
    )
}
