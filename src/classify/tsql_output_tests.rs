//! The `OUTPUT` pre-pass (`tsql_output`): what it cuts, what it keeps, and the
//! classifications that follow, as tables of cases.

use super::tsql_output::strip;
use super::{Dialect, StatementKind, Uncacheable, classify};

/// `sql` classified for SQL Server: its kind, the tables written (`schema.name` or
/// `name`), the tables read, and whether it writes the whole database.
fn judged(sql: &str) -> (StatementKind, Vec<String>, Vec<String>, bool) {
    let c = classify(Dialect::MsSql, sql);
    assert_eq!(c.uncacheable, Some(Uncacheable::NotARead), "{sql}: {c:?}");
    let names = |ts: &[super::TableRef]| {
        ts.iter()
            .map(|t| match &t.schema {
                Some(s) => format!("{s}.{}", t.name),
                None => t.name.clone(),
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    };
    (c.kind, names(&c.writes), names(&c.reads), c.writes_unknown)
}

#[test]
fn each_dml_statement_writes_its_table_and_a_real_into_target() {
    use StatementKind::Write;
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "INSERT INTO t (a) OUTPUT inserted.id VALUES (1)",
            &["t"],
            &[],
        ),
        (
            "INSERT INTO t (a) OUTPUT inserted.id INTO @tv VALUES (1)",
            &["t"],
            &[],
        ),
        (
            "INSERT INTO t (a) OUTPUT inserted.id INTO #tmp VALUES (1)",
            &["t"],
            &[],
        ),
        (
            "INSERT INTO t (a) OUTPUT inserted.id INTO ##g (id) VALUES (1)",
            &["t"],
            &[],
        ),
        (
            "INSERT INTO t (a) OUTPUT inserted.id INTO tempdb.dbo.x VALUES (1)",
            &["t"],
            &[],
        ),
        (
            "INSERT INTO t (a) OUTPUT inserted.id INTO dbo.audit (id) VALUES (1)",
            &["dbo.audit", "t"],
            &[],
        ),
        (
            "INSERT INTO t (a) OUTPUT inserted.id, inserted.a INTO [dbo].[audit log] (id, a) \
             SELECT a FROM s",
            &["dbo.audit log", "t"],
            &["s"],
        ),
        (
            "UPDATE t SET a = 1 OUTPUT deleted.a, inserted.a WHERE id = 2",
            &["t"],
            &[],
        ),
        (
            "UPDATE t SET a = 1 OUTPUT deleted.a, inserted.a INTO audit (x, y) WHERE id = 2",
            &["audit", "t"],
            &[],
        ),
        (
            "UPDATE t SET a = s.a OUTPUT inserted.a INTO @tv FROM t JOIN s ON s.id = t.id",
            &["t"],
            &["s", "t"],
        ),
        ("DELETE FROM t OUTPUT deleted.* WHERE id = 1", &["t"], &[]),
        (
            "DELETE FROM t OUTPUT deleted.* INTO dbo.audit WHERE id = 1",
            &["dbo.audit", "t"],
            &[],
        ),
        (
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET t.a = s.a \
             WHEN NOT MATCHED THEN INSERT (id, a) VALUES (s.id, s.a) OUTPUT $action, inserted.*;",
            &["t"],
            &["s"],
        ),
        (
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET t.a = s.a \
             OUTPUT $action, inserted.id INTO dbo.audit (act, id);",
            &["dbo.audit", "t"],
            &["s"],
        ),
        // Two clauses: one into a table, one to the client.
        (
            "DELETE FROM t OUTPUT deleted.id INTO audit (id) OUTPUT deleted.* WHERE id = 1",
            &["audit", "t"],
            &[],
        ),
        (
            "WITH old AS (SELECT TOP 10 * FROM t ORDER BY id) \
             DELETE FROM old OUTPUT deleted.id INTO audit",
            &["audit", "old"],
            &["t"],
        ),
    ];
    for (sql, writes, reads) in cases {
        let (kind, w, r, unknown) = judged(sql);
        assert_eq!(kind, Write, "{sql}");
        assert_eq!(w, *writes, "{sql}");
        assert_eq!(r, *reads, "{sql}");
        assert!(!unknown, "{sql}: the whole database");
    }
}

#[test]
fn delete_without_from_stays_a_write_of_the_whole_database() {
    // sqlparser 0.63 rejects `DELETE t` (T-SQL's FROM is optional), with or without a
    // clause: unparsable, so the whole database is invalidated (design §3).
    for sql in [
        "DELETE t WHERE id = 1",
        "DELETE t OUTPUT deleted.* WHERE id = 1",
    ] {
        let c = classify(Dialect::MsSql, sql);
        assert!(c.writes_unknown && c.uncacheable.is_some(), "{sql}: {c:?}");
    }
}

#[test]
fn strings_comments_and_brackets_do_not_fake_a_clause() {
    let cases: &[(&str, Option<&str>, &[&str])] = &[
        // The clause in a string is data; the real one is cut.
        (
            "UPDATE t SET a = 'OUTPUT x INTO y' OUTPUT inserted.a WHERE id = 2",
            Some("UPDATE t SET a = 'OUTPUT x INTO y'  WHERE id = 2"),
            &[],
        ),
        (
            "UPDATE t SET a = 1 /* OUTPUT inserted.a INTO audit */ WHERE id = 2",
            None,
            &[],
        ),
        (
            "UPDATE t SET a = 1 -- OUTPUT inserted.a INTO audit\n",
            None,
            &[],
        ),
        (
            "UPDATE [output] SET [into] = 1 OUTPUT inserted.[into] INTO [values] WHERE id = 2",
            Some("UPDATE [output] SET [into] = 1  WHERE id = 2"),
            &["[values]"],
        ),
        (
            "INSERT INTO t (a) OUTPUT inserted.a AS [from], N'it''s' INTO audit2 VALUES (1)",
            Some("INSERT INTO t (a)  VALUES (1)"),
            &["audit2"],
        ),
        // Not a DML clause: a procedure's output parameter, a declaration.
        ("EXEC p @x OUTPUT", None, &[]),
        (
            "DECLARE @n int; EXEC sp_executesql N'SELECT 1', N'@n int OUTPUT', @n OUTPUT",
            None,
            &[],
        ),
        ("UPDATE t SET a = 1; EXEC p @x OUTPUT", None, &[]),
        // Unbalanced or empty: left to the parser.
        ("DELETE FROM t OUTPUT WHERE id = 1", None, &[]),
        ("DELETE FROM t OUTPUT (deleted.id WHERE id = 1", None, &[]),
    ];
    for (sql, text, into) in cases {
        let s = strip(sql);
        assert_eq!(s.as_ref().map(|s| s.text.as_str()), *text, "{sql}");
        let got: Vec<&str> = s
            .as_ref()
            .map(|s| s.into_tables.iter().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(got, *into, "{sql}");
    }
    // Multi-line text: offsets by line and column.
    let s =
        strip("UPDATE t\n  SET a = 'é'\n  OUTPUT inserted.a\n  INTO log\n  WHERE id = 2").unwrap();
    assert_eq!(s.text, "UPDATE t\n  SET a = 'é'\n   WHERE id = 2");
    assert_eq!(s.into_tables, ["log"]);
}

#[test]
fn a_batch_with_a_clause_keeps_its_other_statements() {
    let sql = "DECLARE @ids TABLE (id int); \
               INSERT INTO t (a) OUTPUT inserted.id INTO @ids VALUES (1); \
               SELECT id FROM @ids";
    let c = classify(Dialect::MsSql, sql);
    assert_eq!(c.kind, StatementKind::Write, "{c:?}");
    assert_eq!(c.statements, 3);
    assert!(c.writes.iter().any(|t| t.name == "t"), "{c:?}");
    assert!(c.uncacheable.is_some());
    // Not this pre-pass's: other texts classify as before.
    let plain = classify(Dialect::MsSql, "SELECT [output] FROM t");
    assert_eq!(plain.kind, StatementKind::Read);
    assert_eq!(plain.uncacheable, None);
}
