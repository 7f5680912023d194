//! SQL Server's catalog: the query about the relations of a question, and the facts
//! its rows give (design §3). Pure functions; the TDS session runs the query.
//!
//! - Relations: every object of the name (in the given schema, or in any schema for
//!   an unqualified name, which SQL Server resolves through the user's default
//!   schema): whether one exists, whether it is a view, and whether a write to it
//!   writes elsewhere (triggers, or inbound foreign keys whose ON DELETE / ON UPDATE
//!   action is not NO ACTION). A view, or a write with side effects, is judged the
//!   conservative way: reads of views are never cached in this slice (their base
//!   tables are not asked for yet) and writes to them invalidate the whole database.
//! - Functions: user functions are not asked about; each is taken as volatile (a
//!   possible write of its whole database).

use std::fmt::Write as _;

use super::Row;
use crate::engine::{CatalogQuestion, Fact, FactKey, RelationFacts, Volatility};

/// An N'…' literal, quotes doubled.
fn literal(s: &str) -> String {
    format!("N'{}'", s.replace('\'', "''"))
}

/// The query, or `None` when the question names no relation.
pub fn catalog_sql(q: &CatalogQuestion) -> Option<String> {
    if q.relations.is_empty() {
        return None;
    }
    let mut sql = String::new();
    for (i, t) in q.relations.iter().enumerate() {
        if i > 0 {
            sql.push_str(" UNION ALL ");
        }
        let _ = write!(
            sql,
            "SELECT N'r' AS k, {i} AS i, o.type AS type, \
(SELECT COUNT(*) FROM sys.triggers g WHERE g.parent_id = o.object_id) AS triggers, \
(SELECT COUNT(*) FROM sys.foreign_keys f WHERE f.referenced_object_id = o.object_id \
AND (f.delete_referential_action <> 0 OR f.update_referential_action <> 0)) AS cascades \
FROM sys.objects o JOIN sys.schemas s ON s.schema_id = o.schema_id WHERE o.name = {}",
            literal(&t.name)
        );
        if let Some(schema) = &t.schema {
            let _ = write!(sql, " AND s.name = {}", literal(schema));
        }
    }
    Some(sql)
}

/// What the rows say: one fact per relation asked (none found: it does not exist),
/// every function volatile.
pub fn facts_from_rows(q: &CatalogQuestion, rows: &[Row]) -> Vec<(FactKey, Fact)> {
    let mut facts = Vec::new();
    for (i, t) in q.relations.iter().enumerate() {
        let mut f = RelationFacts {
            exists: false,
            temporary: false,
            system: false,
            volatile_view: false,
            side_effects: false,
            base: vec![t.name.to_lowercase().into_boxed_str()],
        };
        for cols in rows.iter().filter(|c| index(c) == Some(i)) {
            let text = |n: usize| cols.get(n).cloned().flatten().unwrap_or_default();
            let count = |n: usize| text(n).trim().parse::<u64>().unwrap_or(u64::MAX);
            let view = text(2).trim() != "U";
            f.exists = true;
            f.volatile_view |= view;
            f.side_effects |= view || count(3) > 0 || count(4) > 0;
        }
        facts.push((FactKey::Relation(t.clone()), Fact::Relation(f)));
    }
    for name in &q.functions {
        facts.push((
            FactKey::Function(name.clone()),
            Fact::Function(Volatility::Volatile),
        ));
    }
    facts
}

fn index(cols: &Row) -> Option<usize> {
    cols.get(1).cloned().flatten()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::TableRef;

    fn t(schema: Option<&str>, name: &str) -> TableRef {
        TableRef {
            schema: schema.map(str::to_string),
            name: name.to_string(),
        }
    }

    fn row(cols: &[&str]) -> Row {
        cols.iter().map(|c| Some(c.to_string())).collect()
    }

    #[test]
    fn facts() {
        let q = CatalogQuestion {
            relations: vec![
                t(None, "plain"),
                t(Some("dbo"), "trig"),
                t(None, "v"),
                t(None, "gone"),
            ],
            functions: vec!["dbo.f".into()],
        };
        let sql = catalog_sql(&q).unwrap();
        assert!(
            sql.contains("o.name = N'trig' AND s.name = N'dbo'"),
            "{sql}"
        );
        let rows = vec![
            row(&["r", "0", "U ", "0", "0"]),
            row(&["r", "1", "U ", "2", "0"]),
            row(&["r", "2", "V ", "0", "0"]),
            row(&["r", "9", "U ", "0", "0"]),
        ];
        let facts = facts_from_rows(&q, &rows);
        let rel = |i: usize| match &facts[i].1 {
            Fact::Relation(r) => r.clone(),
            Fact::Function(_) => panic!(),
        };
        assert!(rel(0).exists && !rel(0).side_effects && !rel(0).volatile_view);
        assert!(rel(1).side_effects);
        assert!(rel(2).volatile_view && rel(2).side_effects);
        assert!(!rel(3).exists);
        assert_eq!(facts[4].1, Fact::Function(Volatility::Volatile));
        assert_eq!(literal("it's"), "N'it''s'");
        assert_eq!(catalog_sql(&CatalogQuestion::default()), None);
    }
}
