//! MySQL's and MariaDB's catalog: the information_schema query about the relations
//! and functions of a question, and the facts its rows give (design §3). Pure
//! functions; the session runs the query and asks about views' definitions
//! (`protocol::mysql::catalog`).
//!
//! - Relations: whether they exist, are views, temporary or system tables; whether a
//!   write to them writes elsewhere (triggers, inbound foreign keys with CASCADE /
//!   SET NULL / SET DEFAULT, or being a view): then it invalidates everything.
//! - Views: MariaDB 10.11 has no VIEW_TABLE_USAGE, so the view's definition is
//!   classified like any statement and its tables become the view's base tables. A
//!   definition that cannot be read, is not a plain read, calls a function not known
//!   to be immutable, or reads another view makes the view `volatile_view`: reads of it
//!   are never cached (conservative, and nested views stay correct without recursion).
//! - Functions: ROUTINES.SQL_DATA_ACCESS `MODIFIES SQL DATA` or not found → volatile;
//!   `IS_DETERMINISTIC = 'YES'` and no modification → immutable; else stable.
//!
//! Names are compared as the origin's `lower_case_table_names` says: byte for byte
//! when 0, case-insensitively otherwise. Literals are hex, immune to `sql_mode`.

use std::fmt::Write as _;

use super::Row;
use crate::classify::TableRef;
use crate::engine::{CatalogQuestion, Fact, FactKey, RelationFacts, Volatility};

/// A string literal of any content, independent of `sql_mode` and escaping rules.
fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2 + 24);
    out.push_str("CONVERT(X'");
    for b in s.as_bytes() {
        let _ = write!(out, "{b:02X}");
    }
    out.push_str("' USING utf8mb4)");
    out
}

fn schema_of(schema: Option<&str>) -> String {
    schema.map_or_else(|| "DATABASE()".to_string(), literal)
}

fn name_eq(column: &str, lit: &str) -> String {
    format!("IF(@@lower_case_table_names = 0, BINARY {column} = {lit}, {column} = {lit})")
}

fn relation_sql(i: usize, t: &TableRef) -> String {
    let schema = schema_of(t.schema.as_deref());
    let name = literal(&t.name);
    format!(
        "SELECT 'r', {i}, t.TABLE_TYPE, \
(SELECT COUNT(*) FROM information_schema.TRIGGERS g WHERE g.EVENT_OBJECT_SCHEMA = t.TABLE_SCHEMA \
AND g.EVENT_OBJECT_TABLE = t.TABLE_NAME) + \
(SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS c WHERE \
c.UNIQUE_CONSTRAINT_SCHEMA = t.TABLE_SCHEMA AND c.REFERENCED_TABLE_NAME = t.TABLE_NAME \
AND (c.DELETE_RULE IN ('CASCADE', 'SET NULL', 'SET DEFAULT') \
OR c.UPDATE_RULE IN ('CASCADE', 'SET NULL', 'SET DEFAULT'))), \
v.VIEW_DEFINITION, t.TABLE_SCHEMA \
FROM (SELECT 1) x LEFT JOIN information_schema.TABLES t ON {} AND {} \
LEFT JOIN information_schema.VIEWS v ON v.TABLE_SCHEMA = t.TABLE_SCHEMA AND v.TABLE_NAME = t.TABLE_NAME",
        name_eq("t.TABLE_SCHEMA", &schema),
        name_eq("t.TABLE_NAME", &name),
    )
}

fn function_sql(i: usize, f: &str) -> String {
    let (schema, name) = match f.rsplit_once('.') {
        Some((s, n)) => (Some(s), n),
        None => (None, f),
    };
    format!(
        "SELECT 'f', {i}, r.SQL_DATA_ACCESS, r.IS_DETERMINISTIC, NULL, NULL \
FROM (SELECT 1) x LEFT JOIN information_schema.ROUTINES r ON r.ROUTINE_TYPE = 'FUNCTION' \
AND r.ROUTINE_SCHEMA = {} AND r.ROUTINE_NAME = {}",
        schema_of(schema),
        literal(name)
    )
}

/// One query answering the whole question: one row per relation and per function.
pub fn catalog_sql(q: &CatalogQuestion) -> Option<String> {
    let parts: Vec<String> = q
        .relations
        .iter()
        .enumerate()
        .map(|(i, t)| relation_sql(i, t))
        .chain(
            q.functions
                .iter()
                .enumerate()
                .map(|(i, f)| function_sql(i, f)),
        )
        .collect();
    (!parts.is_empty()).then(|| parts.join(" UNION ALL "))
}

const SYSTEM_SCHEMAS: [&str; 4] = ["mysql", "information_schema", "performance_schema", "sys"];

/// A relation row: (kind, index, table type, side-effect count, view definition, schema).
fn relation_fact(
    cols: &[Option<String>],
    classify: &dyn Fn(&str) -> Option<Vec<TableRef>>,
) -> RelationFacts {
    let get = |n: usize| cols.get(n).cloned().flatten();
    let kind = get(2);
    let schema = get(5).unwrap_or_default();
    let view = kind.as_deref() == Some("VIEW");
    let inner = if view {
        get(4).as_deref().and_then(classify)
    } else {
        Some(Vec::new())
    };
    let mut base: Vec<Box<str>> = inner
        .iter()
        .flatten()
        .map(|t| t.name.to_lowercase().into_boxed_str())
        .collect();
    base.sort();
    base.dedup();
    RelationFacts {
        exists: kind.is_some(),
        temporary: kind.as_deref().is_some_and(|k| k.contains("TEMPORARY")),
        system: kind.as_deref() == Some("SYSTEM VIEW")
            || SYSTEM_SCHEMAS
                .iter()
                .any(|s| s.eq_ignore_ascii_case(&schema)),
        volatile_view: view && inner.is_none(),
        side_effects: view || get(3).is_none_or(|n| n != "0"),
        base,
    }
}

fn function_fact(cols: &[Option<String>]) -> Volatility {
    let access = cols.get(2).cloned().flatten();
    let deterministic = cols.get(3).cloned().flatten();
    match (access.as_deref(), deterministic.as_deref()) {
        (None, _) | (Some("MODIFIES SQL DATA"), _) => Volatility::Volatile,
        (Some(_), Some("YES")) => Volatility::Immutable,
        _ => Volatility::Stable,
    }
}

/// Turns the rows of the answer into facts. `classify` turns a view definition into
/// the tables it reads, or `None` if the view must never be cached.
pub fn facts_from_rows(
    q: &CatalogQuestion,
    rows: &[Row],
    classify: &dyn Fn(&str) -> Option<Vec<TableRef>>,
) -> Vec<(FactKey, Fact)> {
    let mut facts = Vec::new();
    for cols in rows {
        let kind = cols.first().cloned().flatten();
        let Some(i) = cols.get(1).cloned().flatten().and_then(|s| s.parse().ok()) else {
            continue;
        };
        match kind.as_deref() {
            Some("r") => {
                if let Some(t) = q.relations.get::<usize>(i) {
                    let f = relation_fact(cols, classify);
                    facts.push((FactKey::Relation(t.clone()), Fact::Relation(f)));
                }
            }
            Some("f") => {
                if let Some(f) = q.functions.get::<usize>(i) {
                    let v = function_fact(cols);
                    facts.push((FactKey::Function(f.clone()), Fact::Function(v)));
                }
            }
            _ => {}
        }
    }
    facts
}

/// The second question a MySQL answer may need: the relations that the views in
/// `rows` read, to find the views among them (a view of a view is never cached).
/// `None`: no view in the answer reads anything.
pub fn nested_question(
    rows: &[Row],
    classify: &dyn Fn(&str) -> Option<Vec<TableRef>>,
) -> Option<CatalogQuestion> {
    let relations: Vec<TableRef> = rows
        .iter()
        .filter(|c| c.get(2).cloned().flatten().as_deref() == Some("VIEW"))
        .filter_map(|c| c.get(4).cloned().flatten())
        .filter_map(|d| classify(&d))
        .flatten()
        .collect();
    (!relations.is_empty()).then(|| CatalogQuestion {
        relations,
        functions: Vec::new(),
    })
}

/// Marks `volatile_view` every view of `facts` that reads a view, by the answer to
/// [`nested_question`] (`None`: it failed, so every view that reads anything).
pub fn mark_nested_views(
    facts: &mut [(FactKey, Fact)],
    nested: &CatalogQuestion,
    answer: Option<&[Row]>,
) {
    let views: Option<Vec<Box<str>>> = answer.map(|rows| {
        rows.iter()
            .filter(|c| c.get(2).cloned().flatten().as_deref() != Some("BASE TABLE"))
            .filter_map(|c| c.get(1).cloned().flatten()?.parse::<usize>().ok())
            .filter_map(|i| nested.relations.get(i))
            .map(|t| t.name.to_lowercase().into_boxed_str())
            .collect()
    });
    for (_, fact) in facts {
        if let Fact::Relation(r) = fact
            && !r.base.is_empty()
        {
            let bad = views
                .as_ref()
                .is_none_or(|v| r.base.iter().any(|b| v.contains(b)));
            r.volatile_view |= bad;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_hex() {
        assert_eq!(literal("a'b"), "CONVERT(X'612762' USING utf8mb4)");
        let q = CatalogQuestion {
            relations: vec![TableRef {
                schema: None,
                name: "T".into(),
            }],
            functions: vec!["db.f".into()],
        };
        let sql = catalog_sql(&q).unwrap();
        assert!(sql.contains("DATABASE()"));
        assert!(sql.contains(" UNION ALL SELECT 'f', 0"));
        assert!(catalog_sql(&CatalogQuestion::default()).is_none());
    }

    fn row(cols: &[Option<&str>]) -> Row {
        cols.iter().map(|c| c.map(str::to_string)).collect()
    }

    #[test]
    fn rows_become_facts() {
        let t = |n: &str| TableRef {
            schema: None,
            name: n.into(),
        };
        let q = CatalogQuestion {
            relations: vec![t("plain"), t("v"), t("gone"), t("orders")],
            functions: vec!["f".into(), "g".into(), "h".into()],
        };
        let rows = vec![
            row(&[
                Some("r"),
                Some("0"),
                Some("BASE TABLE"),
                Some("0"),
                None,
                Some("db"),
            ]),
            row(&[
                Some("r"),
                Some("1"),
                Some("VIEW"),
                Some("0"),
                Some("select"),
                Some("db"),
            ]),
            row(&[Some("r"), Some("2"), None, None, None, None]),
            row(&[
                Some("r"),
                Some("3"),
                Some("BASE TABLE"),
                Some("2"),
                None,
                Some("db"),
            ]),
            row(&[
                Some("f"),
                Some("0"),
                Some("READS SQL DATA"),
                Some("YES"),
                None,
                None,
            ]),
            row(&[
                Some("f"),
                Some("1"),
                Some("MODIFIES SQL DATA"),
                Some("YES"),
                None,
                None,
            ]),
            row(&[
                Some("f"),
                Some("2"),
                Some("CONTAINS SQL"),
                Some("NO"),
                None,
                None,
            ]),
        ];
        let classify = |_: &str| Some(vec![t("Base1"), t("base2")]);
        let facts = facts_from_rows(&q, &rows, &classify);
        let rel = |i: usize| match &facts[i].1 {
            Fact::Relation(r) => r.clone(),
            f => panic!("{f:?}"),
        };
        assert!(rel(0).exists && !rel(0).side_effects && rel(0).base.is_empty());
        assert!(rel(1).side_effects && !rel(1).volatile_view);
        assert_eq!(
            rel(1).base,
            vec!["base1".into(), "base2".into()] as Vec<Box<str>>
        );
        assert!(!rel(2).exists);
        assert!(rel(3).side_effects);
        assert_eq!(facts[4].1, Fact::Function(Volatility::Immutable));
        assert_eq!(facts[5].1, Fact::Function(Volatility::Volatile));
        assert_eq!(facts[6].1, Fact::Function(Volatility::Stable));
        let unparsable = |_: &str| None;
        let facts = facts_from_rows(&q, &rows[1..2], &unparsable);
        assert!(matches!(&facts[0].1, Fact::Relation(r) if r.volatile_view));
    }
}
