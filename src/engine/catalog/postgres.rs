//! PostgreSQL's catalog: the query that asks `pg_class`, `pg_rewrite`, `pg_depend`,
//! `pg_trigger`, `pg_constraint`, `pg_inherits` and `pg_proc` about the relations and
//! functions of a question, and the facts its rows give. Pure functions; the session
//! runs the query (`protocol::postgres::catalog`).

use super::Row;
use crate::classify::TableRef;
use crate::engine::{CatalogQuestion, Fact, FactKey, RelationFacts, Volatility};

const RELATIONS_SQL: &str = "WITH RECURSIVE req(i, oid) AS (VALUES {values}), \
deps(i, oid) AS (SELECT i, oid FROM req WHERE oid IS NOT NULL UNION \
SELECT deps.i, d.refobjid FROM deps JOIN pg_catalog.pg_rewrite r ON r.ev_class = deps.oid \
JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid \
AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid <> deps.oid) \
SELECT req.i, c.relkind, c.relpersistence, n.nspname, \
(SELECT pg_catalog.string_agg(c2.relname, ',') FROM deps JOIN pg_catalog.pg_class c2 ON c2.oid = deps.oid WHERE deps.i = req.i), \
(SELECT count(*) FROM deps JOIN pg_catalog.pg_rewrite r ON r.ev_class = deps.oid \
JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid \
AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass \
JOIN pg_catalog.pg_proc p ON p.oid = d.refobjid WHERE deps.i = req.i AND p.provolatile <> 'i'), \
(EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = req.oid AND NOT t.tgisinternal) \
OR EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite r WHERE r.ev_class = req.oid AND r.rulename <> '_RETURN') \
OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.confrelid = req.oid AND k.contype = 'f' \
AND (k.confdeltype IN ('c', 'n', 'd') OR k.confupdtype IN ('c', 'n', 'd'))) \
OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhrelid = req.oid OR h.inhparent = req.oid) \
OR c.relkind NOT IN ('r', 'm')) \
FROM req LEFT JOIN pg_catalog.pg_class c ON c.oid = req.oid \
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace";

const FUNCTIONS_SQL: &str = "SELECT f.i, (SELECT pg_catalog.string_agg(DISTINCT p.provolatile::text, '') \
FROM pg_catalog.pg_proc p WHERE p.proname = f.name AND (f.nsp IS NULL OR p.pronamespace = \
(SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = f.nsp))) FROM (VALUES {values}) f(i, name, nsp)";

/// A string literal that cannot be broken out of: dollar-quoted with a tag the text
/// does not contain.
fn literal(s: &str) -> Option<String> {
    (!s.contains("$wc$")).then(|| format!("$wc${s}$wc$"))
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn regclass_text(t: &TableRef) -> String {
    match &t.schema {
        Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&t.name)),
        None => quote_ident(&t.name),
    }
}

/// The catalog query for a question: relations first, then functions.
pub fn catalog_sql(q: &CatalogQuestion) -> Option<String> {
    let mut statements = Vec::new();
    let rels: Option<Vec<String>> = q
        .relations
        .iter()
        .enumerate()
        .map(|(i, t)| {
            literal(&regclass_text(t))
                .map(|l| format!("({i}, pg_catalog.to_regclass({l})::pg_catalog.oid)"))
        })
        .collect();
    let rels = rels?;
    if !rels.is_empty() {
        statements.push(RELATIONS_SQL.replace("{values}", &rels.join(", ")));
    }
    let funcs: Option<Vec<String>> = q
        .functions
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (nsp, name) = match f.rsplit_once('.') {
                Some((n, f)) => (Some(n), f),
                None => (None, f.as_str()),
            };
            let nsp = match nsp {
                Some(n) => format!("{}::text", literal(n)?),
                None => "NULL::text".to_string(),
            };
            Some(format!("({i}, {}::name, {nsp})", literal(name)?))
        })
        .collect();
    let funcs = funcs?;
    if !funcs.is_empty() {
        statements.push(FUNCTIONS_SQL.replace("{values}", &funcs.join(", ")));
    }
    Some(statements.join("; "))
}

fn relation_fact(cols: &[Option<String>]) -> Option<(usize, RelationFacts)> {
    let i: usize = cols.first()?.as_ref()?.parse().ok()?;
    let get = |n: usize| cols.get(n).and_then(|c| c.as_deref());
    let exists = get(1).is_some();
    let nsp = get(3).unwrap_or("");
    Some((
        i,
        RelationFacts {
            exists,
            temporary: get(2) == Some("t") || nsp.starts_with("pg_temp"),
            system: nsp == "pg_catalog"
                || nsp == "information_schema"
                || nsp.starts_with("pg_toast"),
            volatile_view: get(5).is_some_and(|c| c != "0"),
            side_effects: get(6) != Some("f"),
            base: get(4)
                .unwrap_or("")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.to_lowercase().into_boxed_str())
                .collect(),
        },
    ))
}

fn function_fact(cols: &[Option<String>]) -> Option<(usize, Volatility)> {
    let i: usize = cols.first()?.as_ref()?.parse().ok()?;
    let v = match cols.get(1).and_then(|c| c.as_deref()) {
        Some(v) if v.contains('v') => Volatility::Volatile,
        Some(v) if v.contains('s') => Volatility::Stable,
        Some(v) if !v.is_empty() => Volatility::Immutable,
        // Unknown to the catalog: assume the worst.
        _ => Volatility::Volatile,
    };
    Some((i, v))
}

/// Turns the rows of the answer (one list per statement) into facts.
pub fn facts_from_rows(q: &CatalogQuestion, results: &[Vec<Row>]) -> Vec<(FactKey, Fact)> {
    let mut facts = Vec::new();
    let mut results = results.iter();
    if !q.relations.is_empty() {
        for row in results.next().into_iter().flatten() {
            let Some((i, f)) = relation_fact(row) else {
                continue;
            };
            if let Some(t) = q.relations.get(i) {
                facts.push((FactKey::Relation(t.clone()), Fact::Relation(f)));
            }
        }
    }
    if !q.functions.is_empty() {
        for row in results.next().into_iter().flatten() {
            let Some((i, v)) = function_fact(row) else {
                continue;
            };
            if let Some(f) = q.functions.get(i) {
                facts.push((FactKey::Function(f.clone()), Fact::Function(v)));
            }
        }
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_quotes_names() {
        let q = CatalogQuestion {
            relations: vec![TableRef {
                schema: Some("s".into()),
                name: "We\"ird".into(),
            }],
            functions: vec!["public.f".into()],
        };
        let sql = catalog_sql(&q).unwrap();
        assert!(sql.contains("$wc$\"s\".\"We\"\"ird\"$wc$"));
        assert!(sql.contains("$wc$f$wc$::name, $wc$public$wc$::text"));
        let bad = CatalogQuestion {
            relations: vec![TableRef {
                schema: None,
                name: "x$wc$y".into(),
            }],
            functions: vec![],
        };
        assert!(catalog_sql(&bad).is_none());
    }

    fn row(cols: &[Option<&str>]) -> Row {
        cols.iter().map(|c| c.map(str::to_string)).collect()
    }

    #[test]
    fn rows_become_facts() {
        let t = TableRef {
            schema: None,
            name: "v".into(),
        };
        let q = CatalogQuestion {
            relations: vec![t.clone()],
            functions: vec!["f".into(), "g".into()],
        };
        let rels = vec![row(&[
            Some("0"),
            Some("v"),
            Some("p"),
            Some("public"),
            Some("v,T1"),
            Some("0"),
            Some("t"),
        ])];
        let funcs = vec![row(&[Some("0"), Some("i")]), row(&[Some("1"), None])];
        let facts = facts_from_rows(&q, &[rels, funcs]);
        assert_eq!(facts.len(), 3);
        let Fact::Relation(r) = &facts[0].1 else {
            panic!()
        };
        assert_eq!(r.base, vec!["v".into(), "t1".into()] as Vec<Box<str>>);
        assert!(r.side_effects && r.exists && !r.temporary);
        assert_eq!(facts[1].1, Fact::Function(Volatility::Immutable));
        assert_eq!(facts[2].1, Fact::Function(Volatility::Volatile));
    }
}
