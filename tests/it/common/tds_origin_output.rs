//! The test TDS origin's `OUTPUT … INTO table` (issue 17): an `INSERT`, `UPDATE` or
//! `DELETE` whose changed rows are also written into another table runs on
//! PostgreSQL as a data-modifying CTE, `WITH o AS (<dml> RETURNING cols) INSERT INTO
//! target (cols) SELECT * FROM o`, and answers its row count (SQL Server answers the
//! DML's count). Only the subset the tests use: `inserted.c` columns (and an
//! `DELETE`'s `deleted.c`), a real table as the target. `OUTPUT` without `INTO` is
//! `tds_sql::translate`'s.

use crate::common::tds_sql::translate;

/// The PostgreSQL form of `stmt` when it has an `OUTPUT … INTO` clause.
pub fn output_into(stmt: &str) -> Option<String> {
    let verb = stmt.split_whitespace().next()?.to_ascii_uppercase();
    if !matches!(verb.as_str(), "INSERT" | "UPDATE" | "DELETE") {
        return None;
    }
    let output = word_at(stmt, "OUTPUT", 0)?;
    let into = word_at(stmt, "INTO", output)?;
    let cols_text = stmt.get(output + "OUTPUT".len()..into)?;
    let mut cols = Vec::new();
    for col in cols_text.split(',') {
        let (prefix, name) = col.trim().split_once('.')?;
        match prefix.to_ascii_lowercase().as_str() {
            "inserted" => cols.push(name.trim().to_string()),
            "deleted" if verb == "DELETE" => cols.push(name.trim().to_string()),
            _ => return None,
        }
    }
    // The target, and its column list if any.
    let after = stmt.get(into + "INTO".len()..)?;
    let name_len = after
        .trim_start()
        .find(|c: char| !(c.is_alphanumeric() || "_.[]".contains(c)))
        .unwrap_or(after.trim_start().len());
    let lead = after.len() - after.trim_start().len();
    let target = after.get(lead..lead + name_len)?;
    if target.is_empty() {
        return None;
    }
    let mut rest = after.get(lead + name_len..)?;
    let mut target_cols = String::new();
    if rest.trim_start().starts_with('(') {
        let open = rest.find('(')?;
        let close = rest.find(')')?;
        target_cols = format!(" {}", rest.get(open..=close)?);
        rest = rest.get(close + 1..)?;
    }
    let dml = format!("{} {}", stmt.get(..output)?.trim_end(), rest.trim_start());
    let target = target.replace(['[', ']'], "");
    Some(format!(
        "WITH wc_output AS ({} RETURNING {}) INSERT INTO {target}{target_cols} SELECT * FROM wc_output",
        translate(dml.trim()),
        cols.join(", ")
    ))
}

/// The byte offset of `word` (a whole word, any case, outside quotes) at or after
/// `from`.
fn word_at(stmt: &str, word: &str, from: usize) -> Option<usize> {
    let upper = stmt.to_ascii_uppercase();
    let bytes = upper.as_bytes();
    let mut quoted = false;
    let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'@';
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\'' {
            quoted = !quoted;
        }
        if quoted || i < from || !upper[i..].starts_with(word) {
            continue;
        }
        let before = i == 0 || !is_word(bytes[i - 1]);
        let after = bytes.get(i + word.len()).is_none_or(|c| !is_word(*c));
        if before && after {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_into_becomes_a_data_modifying_cte() {
        assert_eq!(
            output_into(
                "INSERT INTO b (id, v) OUTPUT inserted.id, inserted.v INTO audit (id, v) VALUES (1, N'x')"
            )
            .as_deref(),
            Some(
                "WITH wc_output AS (INSERT INTO b (id, v) VALUES (1, 'x') RETURNING id, v) \
                 INSERT INTO audit (id, v) SELECT * FROM wc_output"
            )
        );
        assert_eq!(
            output_into(
                "UPDATE t SET v = 'output' OUTPUT inserted.id INTO [dbo].[audit] WHERE id = 2"
            )
            .as_deref(),
            Some(
                "WITH wc_output AS (UPDATE t SET v = 'output' WHERE id = 2 RETURNING id) \
                 INSERT INTO dbo.audit SELECT * FROM wc_output"
            )
        );
        assert_eq!(
            output_into("UPDATE t SET v = 1 OUTPUT inserted.v WHERE id = 1"),
            None
        );
        assert_eq!(output_into("SELECT 1 INTO x"), None);
    }
}
