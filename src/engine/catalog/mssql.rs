//! SQL Server's catalog: the query about the relations of a question, and the facts
//! its rows give (design §3). Pure functions; the TDS session runs the query.
//!
//! - Relations: every object of the name (in the given schema, or in any schema for
//!   an unqualified name, which SQL Server resolves through the user's default
//!   schema): whether one exists, whether it is a view, and whether a write to it
//!   writes elsewhere (triggers, or inbound foreign keys whose ON DELETE / ON UPDATE
//!   action is not NO ACTION). A write to a view, or one with side effects,
//!   invalidates the whole database.
//! - Views (issue 17): what a view reads comes from `sys.sql_expression_dependencies`
//!   (one row per referenced object, with its type from `sys.objects`), and its query
//!   from `sys.sql_modules`, classified by the caller: a view is cached, depending on
//!   its base tables, only when every dependency is a table of the same database and
//!   its query is a plain cacheable read (the dependencies do not list built-in
//!   functions such as `GETDATE()`). A view of a view, of a function, of another
//!   database, or with an unresolved reference is never cached.
//! - Functions: user functions are not asked about; each is taken as volatile (a
//!   possible write of its whole database).

use std::fmt::Write as _;

use super::Row;
use crate::classify::{TableRef, view_query};
use crate::engine::{CatalogQuestion, Fact, FactKey, RelationFacts, Volatility};

/// An N'…' literal, quotes doubled.
fn literal(s: &str) -> String {
    format!("N'{}'", s.replace('\'', "''"))
}

/// The query, or `None` when the question names no relation. Each relation gets a
/// row `('r', i, type, triggers, cascades, definition)`, and a view one row `('d', i,
/// type, 0, 0, name)` per object it references (type `?` when not resolved to an
/// object of this database).
pub fn catalog_sql(q: &CatalogQuestion) -> Option<String> {
    if q.relations.is_empty() {
        return None;
    }
    let mut sql = String::new();
    for (i, t) in q.relations.iter().enumerate() {
        if i > 0 {
            sql.push_str(" UNION ALL ");
        }
        let mut filter = format!("o.name = {}", literal(&t.name));
        if let Some(schema) = &t.schema {
            let _ = write!(filter, " AND s.name = {}", literal(schema));
        }
        let _ = write!(
            sql,
            "SELECT N'r' AS k, {i} AS i, o.type AS type, \
(SELECT COUNT(*) FROM sys.triggers g WHERE g.parent_id = o.object_id) AS triggers, \
(SELECT COUNT(*) FROM sys.foreign_keys f WHERE f.referenced_object_id = o.object_id \
AND (f.delete_referential_action <> 0 OR f.update_referential_action <> 0)) AS cascades, \
m.definition AS detail \
FROM sys.objects o JOIN sys.schemas s ON s.schema_id = o.schema_id \
LEFT JOIN sys.sql_modules m ON m.object_id = o.object_id WHERE {filter} \
UNION ALL SELECT N'd', {i}, CASE WHEN d.referenced_database_name IS NULL \
THEN COALESCE(r.type, N'?') ELSE N'?' END, 0, 0, d.referenced_entity_name \
FROM sys.objects o JOIN sys.schemas s ON s.schema_id = o.schema_id \
JOIN sys.sql_expression_dependencies d ON d.referencing_id = o.object_id \
LEFT JOIN sys.objects r ON r.object_id = d.referenced_id WHERE {filter} AND o.type = N'V'"
        );
    }
    Some(sql)
}

/// What the rows say: one fact per relation asked (none found: it does not exist),
/// every function volatile. `classify` gives the tables a view's query reads if it is
/// a plain cacheable read (`None` otherwise).
pub fn facts_from_rows(
    q: &CatalogQuestion,
    rows: &[Row],
    classify: &dyn Fn(&str) -> Option<Vec<TableRef>>,
) -> Vec<(FactKey, Fact)> {
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
        let mut view = false;
        let mut references = Vec::new();
        for cols in rows.iter().filter(|c| index(c) == Some(i)) {
            let text = |n: usize| cols.get(n).cloned().flatten().unwrap_or_default();
            let count = |n: usize| text(n).trim().parse::<u64>().unwrap_or(u64::MAX);
            let table = text(2).trim() == "U";
            match cols.first().cloned().flatten().as_deref() {
                Some("r") => {
                    f.exists = true;
                    f.side_effects |= !table || count(3) > 0 || count(4) > 0;
                    if !table {
                        view = true;
                        view_query_facts(&mut f, &text(5), classify);
                    }
                }
                Some("d") => references.push((table, text(5))),
                _ => f.volatile_view = true,
            }
        }
        // A table's own references (computed columns, constraints) are not reads.
        for (table, name) in references.into_iter().filter(|_| view) {
            if table && !name.is_empty() {
                f.base.push(name.to_lowercase().into_boxed_str());
            } else {
                // A view, function or object not resolved in this database.
                f.volatile_view = true;
            }
        }
        f.base.sort();
        f.base.dedup();
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

/// A view's query, from its definition: a plain cacheable read adds the tables it
/// names to the view's base; anything else (or no definition to read, as for an
/// encrypted view) keeps the view from being cached.
fn view_query_facts(
    f: &mut RelationFacts,
    definition: &str,
    classify: &dyn Fn(&str) -> Option<Vec<TableRef>>,
) {
    match view_query(definition).and_then(classify) {
        Some(tables) => f.base.extend(
            tables
                .iter()
                .map(|t| t.name.to_lowercase().into_boxed_str()),
        ),
        None => f.volatile_view = true,
    }
}

fn index(cols: &Row) -> Option<usize> {
    cols.get(1).cloned().flatten()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(schema: Option<&str>, name: &str) -> TableRef {
        TableRef {
            schema: schema.map(str::to_string),
            name: name.to_string(),
        }
    }

    fn row(cols: &[&str]) -> Row {
        cols.iter().map(|c| Some(c.to_string())).collect()
    }

    /// A view's query reads `t` when it is a plain read (a stand-in for the classifier).
    fn classify(query: &str) -> Option<Vec<TableRef>> {
        (!query.contains("GETDATE")).then(|| vec![t(Some("dbo"), "T")])
    }

    fn rel(facts: &[(FactKey, Fact)], i: usize) -> RelationFacts {
        match &facts[i].1 {
            Fact::Relation(r) => r.clone(),
            Fact::Function(_) => panic!(),
        }
    }

    #[test]
    fn facts() {
        let q = CatalogQuestion {
            relations: vec![t(None, "plain"), t(Some("dbo"), "trig"), t(None, "gone")],
            functions: vec!["dbo.f".into()],
        };
        let sql = catalog_sql(&q).unwrap();
        assert!(
            sql.contains("o.name = N'trig' AND s.name = N'dbo'"),
            "{sql}"
        );
        assert!(sql.contains("sys.sql_expression_dependencies"), "{sql}");
        let mut rows = vec![
            row(&["r", "0", "U ", "0", "0"]),
            row(&["r", "1", "U ", "2", "0"]),
            row(&["r", "9", "U ", "0", "0"]),
        ];
        // A table's computed column calling a function is no read of it.
        rows.push(row(&["d", "0", "?", "0", "0", "f"]));
        let facts = facts_from_rows(&q, &rows, &classify);
        assert!(rel(&facts, 0).exists && !rel(&facts, 0).side_effects);
        assert!(!rel(&facts, 0).volatile_view);
        assert!(rel(&facts, 1).side_effects);
        assert!(!rel(&facts, 2).exists);
        assert_eq!(facts[3].1, Fact::Function(Volatility::Volatile));
        assert_eq!(literal("it's"), "N'it''s'");
        assert_eq!(catalog_sql(&CatalogQuestion::default()), None);
    }

    #[test]
    fn views_depend_on_their_base_tables_or_are_never_cached() {
        let q = CatalogQuestion {
            relations: vec![
                t(None, "v"),
                t(None, "nested"),
                t(None, "clock"),
                t(None, "elsewhere"),
                t(None, "hidden"),
            ],
            functions: vec![],
        };
        let def = |q: &str| format!("CREATE VIEW x AS {q}");
        let plain = def("SELECT id FROM dbo.T");
        let clock = def("SELECT GETDATE() AS now FROM dbo.T");
        let mut rows = vec![
            row(&["r", "0", "V ", "0", "0", &plain]),
            row(&["d", "0", "U ", "0", "0", "T"]),
            row(&["d", "0", "U ", "0", "0", "Other"]),
            row(&["r", "1", "V ", "0", "0", &plain]),
            row(&["d", "1", "V ", "0", "0", "v"]),
            row(&["r", "2", "V ", "0", "0", &clock]),
            row(&["d", "2", "U ", "0", "0", "T"]),
            row(&["r", "3", "V ", "0", "0", &plain]),
            row(&["d", "3", "?", "0", "0", "T"]),
        ];
        // An encrypted view: no definition to read.
        let mut hidden = row(&["r", "4", "V ", "0", "0", ""]);
        hidden[5] = None;
        rows.push(hidden);
        let facts = facts_from_rows(&q, &rows, &classify);
        let v = rel(&facts, 0);
        assert!(v.exists && !v.volatile_view, "{v:?}");
        assert!(
            v.side_effects,
            "a write to a view invalidates the whole database"
        );
        assert_eq!(
            v.base,
            vec!["other".into(), "t".into(), "v".into()] as Vec<Box<str>>
        );
        for i in 1..=4 {
            assert!(rel(&facts, i).volatile_view, "{:?}", q.relations[i]);
        }
    }
}
