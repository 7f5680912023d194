//! A pooled session's startup parameters on its origin connection: which of the
//! client's parameters are settable (`user` and `database` choose the pool;
//! `replication` and a non-empty `options` are refused in pooled mode), and the SQL
//! that moves a connection from the parameters it has to the ones a client wants
//! (`SET` what differs, `RESET` what the client does not have), so a connection that
//! already has them costs no round trip.

use super::errors::PgError;

/// Parameter name → value, in the client's order.
pub type Params = Vec<(String, String)>;

/// The client's parameters that are set with `SET` on the leased connection.
pub fn settable(params: &[(String, String)]) -> Result<Params, PgError> {
    let mut out = Vec::new();
    for (k, v) in params {
        match k.as_str() {
            "user" | "database" => {}
            "replication" => {
                return Err(PgError::Unsupported(
                    "replication connections in pooled mode",
                ));
            }
            "options" if !v.trim().is_empty() => {
                return Err(PgError::Unsupported(
                    "the startup parameter \"options\" in pooled mode",
                ));
            }
            "options" => {}
            _ => out.push((k.clone(), v.clone())),
        }
    }
    Ok(out)
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `SET` for each of `want` whose value `has` lacks, `RESET` for each of `has` that
/// `want` does not name: one query text, empty when nothing differs.
pub fn diff(want: &[(String, String)], has: &[(String, String)]) -> String {
    let mut sql = String::new();
    for (k, v) in want {
        if !has.iter().any(|(hk, hv)| hk == k && hv == v) {
            let value = v.replace('\\', "\\\\").replace('\'', "\\'");
            sql.push_str(&format!("SET {} TO E'{value}';", ident(k)));
        }
    }
    for (k, _) in has {
        if !want.iter().any(|(wk, _)| wk == k) {
            sql.push_str(&format!("RESET {};", ident(k)));
        }
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn startup_parameters_become_quoted_sets() {
        let want = settable(&params(&[
            ("user", "app"),
            ("database", "db"),
            ("application_name", "it's a \\ test"),
            ("we\"ird", "x"),
            ("options", " "),
        ]));
        let want = want.unwrap_or_default();
        assert_eq!(
            diff(&want, &[]),
            "SET \"application_name\" TO E'it\\'s a \\\\ test';SET \"we\"\"ird\" TO E'x';"
        );
        let refused = |p: &[(&str, &str)]| settable(&params(p)).is_err();
        assert!(refused(&[("replication", "database")]));
        assert!(refused(&[("options", "-c search_path=x")]));
    }

    #[test]
    fn only_what_differs_is_sent() {
        let has = params(&[("application_name", "pgbench"), ("TimeZone", "UTC")]);
        assert_eq!(diff(&has, &has), "");
        let want = params(&[("application_name", "psql")]);
        assert_eq!(
            diff(&want, &has),
            "SET \"application_name\" TO E'psql';RESET \"TimeZone\";"
        );
    }
}
