//! SQL Server (T-SQL) cases: TOP and bracketed names, T-SQL's non-deterministic and
//! session functions, `@@` variables, temporary tables, table hints, SELECT INTO,
//! MERGE and OUTPUT, EXEC, transaction and session statements.

use super::{DDL, OTHER, READ, SESSION, TRANSACTION, WRITE, check};
use crate::classify::{
    Dialect, Isolation, IsolationChange, StatementKind, Uncacheable, isolation_change,
};

const MS: Dialect = Dialect::MsSql;

#[test]
fn reads_and_names() {
    check(
        MS,
        &[
            (
                "SELECT TOP 5 id, name FROM dbo.t WHERE id > 1 ORDER BY id",
                READ.reads(&["dbo.t"]),
            ),
            ("SELECT [id] FROM [dbo].[Users]", READ.reads(&["dbo.Users"])),
            ("SELECT LEN(name), UPPER(name) FROM t", READ.reads(&["t"])),
            (
                "SELECT COUNT(*) FROM shop.dbo.t -- note",
                READ.reads(&["dbo.t"]),
            ),
            ("SELECT dbo.f(1)", READ.calls(&["dbo.f"])),
        ],
    );
}

#[test]
fn uncacheable_reasons() {
    use Uncacheable::*;
    let volatile = READ.because(NonImmutableFunction);
    let temp = READ.because(TemporaryTable);
    let locked = READ.because(LockingClause);
    let catalog = READ.because(SystemCatalog);
    check(
        MS,
        &[
            ("SELECT GETDATE()", volatile),
            ("SELECT SYSDATETIME()", volatile),
            ("SELECT NEWID()", volatile),
            ("SELECT RAND()", volatile),
            ("SELECT SCOPE_IDENTITY()", volatile),
            ("SELECT CURRENT_USER", volatile),
            ("SELECT CURRENT_TIMESTAMP", volatile),
            ("SELECT DATENAME(month, d) FROM t", volatile.reads(&["t"])),
            ("SELECT @@IDENTITY", READ.because(SessionVariable)),
            ("SELECT @@TRANCOUNT", READ.because(SessionVariable)),
            ("SELECT * FROM #tmp", temp.reads(&["#tmp"])),
            ("SELECT * FROM ##g", temp.reads(&["##g"])),
            ("SELECT * FROM tempdb.dbo.x", temp.reads(&["dbo.x"])),
            ("SELECT * FROM t WITH (NOLOCK)", locked.reads(&["t"])),
            (
                "SELECT * FROM t WITH (UPDLOCK, HOLDLOCK) WHERE id = 1",
                locked.reads(&["t"]),
            ),
            ("SELECT * FROM sys.tables", catalog.reads(&["sys.tables"])),
            (
                "SELECT * FROM INFORMATION_SCHEMA.TABLES",
                catalog.reads(&["INFORMATION_SCHEMA.TABLES"]),
            ),
            ("SELECT * FROM sysobjects", catalog.reads(&["sysobjects"])),
        ],
    );
}

#[test]
fn writes_and_kinds() {
    let select_into = DDL.because(Uncacheable::SelectInto);
    check(
        MS,
        &[
            (
                "SELECT id INTO t2 FROM t",
                select_into.reads(&["t"]).writes(&["t2"]),
            ),
            (
                "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET t.a = s.a \
                 WHEN NOT MATCHED THEN INSERT (id, a) VALUES (s.id, s.a);",
                WRITE.reads(&["s"]).writes(&["t"]),
            ),
            (
                "INSERT INTO t (a) OUTPUT inserted.id VALUES (1)",
                WRITE.writes(&["t"]),
            ),
            (
                "UPDATE t SET a = 1 OUTPUT deleted.a WHERE id = 2",
                WRITE.writes(&["t"]),
            ),
            ("DELETE FROM t WHERE id = 1", WRITE.writes(&["t"])),
            ("EXEC p 1", WRITE.writes_unknown()),
            ("EXECUTE dbo.p @a = 1", WRITE.writes_unknown()),
            ("TRUNCATE TABLE t", DDL.writes(&["t"])),
            ("CREATE TABLE #t (id int)", DDL),
            ("BEGIN TRAN", TRANSACTION),
            ("BEGIN TRANSACTION", TRANSACTION),
            ("COMMIT TRAN", TRANSACTION),
            ("ROLLBACK TRANSACTION", TRANSACTION),
            ("SET DATEFORMAT dmy", SESSION),
            ("SET LANGUAGE French", SESSION),
            ("SET ANSI_NULLS OFF", SESSION),
            ("SET IMPLICIT_TRANSACTIONS ON", SESSION),
            ("USE shop", SESSION),
            (
                "DECLARE @x int = 1; SELECT * FROM t WHERE id = @x",
                OTHER.reads(&["t"]).multi(2),
            ),
        ],
    );
    let c = crate::classify::classify(MS, "SAVE TRANSACTION s1");
    assert_eq!(c.kind, StatementKind::Other);
    assert!(c.writes_unknown, "what cannot be parsed may write");
}

#[test]
fn isolation_is_set_for_the_session() {
    assert_eq!(
        isolation_change("SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED", MS),
        Some(IsolationChange::Session(Isolation::ReadUncommitted))
    );
    assert_eq!(
        isolation_change("SET TRANSACTION ISOLATION LEVEL SNAPSHOT", MS),
        Some(IsolationChange::Session(Isolation::RepeatableRead))
    );
    assert_eq!(
        isolation_change("set transaction isolation level snapshot;", MS),
        Some(IsolationChange::Session(Isolation::RepeatableRead))
    );
    // Only SQL Server has it.
    assert_eq!(
        isolation_change(
            "SET TRANSACTION ISOLATION LEVEL SNAPSHOT",
            Dialect::Postgres
        ),
        Some(IsolationChange::Unknown)
    );
}
