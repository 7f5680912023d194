//! MySQL and MariaDB cases: identifiers kept as written, `LOCK IN SHARE MODE`,
//! session variables, MySQL functions, multi-table writes, statement kinds.

use super::{DDL, GARBAGE, GARBAGE_DDL, OTHER, READ, SESSION, TRANSACTION, WRITE, check};
use crate::classify::{Dialect, StatementKind, Uncacheable};

const MY: Dialect = Dialect::MySql;

#[test]
fn reads_and_names() {
    check(
        MY,
        &[
            ("SELECT * FROM `Users` WHERE id = ?", READ.reads(&["Users"])),
            (
                "SELECT * FROM Shop.Orders o JOIN shop.items i ON o.id = i.order_id",
                READ.reads(&["Shop.Orders", "shop.items"]),
            ),
            ("SELECT `my col` FROM `db`.`T`", READ.reads(&["db.T"])),
            ("SELECT 1 FROM DUAL", READ),
            ("SELECT * FROM only t", READ.reads(&["only"])),
            ("SELECT ROW(1, 2) = ROW(a, b) FROM t", READ.reads(&["t"])),
            ("SELECT 'lock in share mode' FROM t", READ.reads(&["t"])),
            ("SELECT 1 # trailing comment", READ),
            (
                "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 5) \
             SELECT * FROM r JOIN t ON t.id = r.n",
                READ.reads(&["t"]),
            ),
            (
                "SELECT * FROM JSON_TABLE('[1]', '$[*]' COLUMNS (a INT PATH '$')) AS j",
                READ,
            ),
        ],
    );
}

#[test]
fn uncacheable_reasons() {
    use Uncacheable::*;
    let locked = READ.because(LockingClause);
    let variable = READ.because(SessionVariable);
    let volatile = READ.because(NonImmutableFunction);
    let catalog = READ.because(SystemCatalog);
    check(
        MY,
        &[
            ("SELECT * FROM t LOCK IN SHARE MODE", locked.reads(&["t"])),
            (
                "select * from t where a = 1 lock   in share\n mode",
                locked.reads(&["t"]),
            ),
            (
                "SELECT * FROM t WHERE a = 1 LIMIT 1 FOR UPDATE",
                locked.reads(&["t"]),
            ),
            ("SELECT * FROM t FOR SHARE", locked.reads(&["t"])),
            ("SELECT @x", variable),
            ("SELECT @@version", variable),
            (
                "SELECT * FROM t WHERE m = @@session.sql_mode",
                variable.reads(&["t"]),
            ),
            (
                "SELECT a INTO @x FROM t",
                READ.because(SelectInto).reads(&["t"]),
            ),
            ("SELECT NOW()", volatile),
            ("SELECT CURRENT_TIMESTAMP", volatile),
            ("SELECT current_user", volatile),
            ("SELECT UUID(), RAND()", volatile),
            ("SELECT LAST_INSERT_ID()", volatile),
            (
                "SELECT * FROM t WHERE d > CURDATE()",
                volatile.reads(&["t"]),
            ),
            ("SELECT * FROM mysql.user", catalog.reads(&["mysql.user"])),
            (
                "SELECT * FROM INFORMATION_SCHEMA.TABLES",
                catalog.reads(&["INFORMATION_SCHEMA.TABLES"]),
            ),
            (
                "SELECT * FROM performance_schema.threads",
                catalog.reads(&["performance_schema.threads"]),
            ),
            ("SELECT * FROM sys.session", catalog.reads(&["sys.session"])),
            ("SHOW TABLES", catalog),
            ("DESCRIBE t", catalog),
        ],
    );
}

#[test]
fn functions() {
    check(
        MY,
        &[
            (
                "SELECT IFNULL(a, 0), IF(a > 1, 'x', 'y'), CONCAT(a, b), UCASE(c), COUNT(*) FROM t",
                READ.reads(&["t"]),
            ),
            (
                "SELECT DATE_ADD(d, INTERVAL 1 DAY), GROUP_CONCAT(x) FROM t",
                READ.reads(&["t"]),
            ),
            (
                "SELECT my_func(a) FROM t",
                READ.reads(&["t"]).calls(&["my_func"]),
            ),
            ("SELECT MyDb.MyFunc(a)", READ.calls(&["MyDb.myfunc"])),
            ("SELECT My_Func(1), MY_FUNC(2)", READ.calls(&["my_func"])),
        ],
    );
}

#[test]
fn writes_and_kinds() {
    check(
        MY,
        &[
            (
                "INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = VALUES(a)",
                WRITE.writes(&["t"]),
            ),
            ("REPLACE INTO t VALUES (1)", WRITE.writes(&["t"])),
            ("INSERT INTO t SET a = 1", WRITE.writes(&["t"])),
            (
                "UPDATE t1 JOIN t2 ON t1.a = t2.a SET t1.b = t2.b",
                WRITE.writes(&["t1", "t2"]),
            ),
            (
                "DELETE t1 FROM t1 JOIN t2 ON t1.a = t2.a",
                WRITE.reads(&["t2"]).writes(&["t1"]),
            ),
            (
                "DELETE a1 FROM t1 AS a1 JOIN t2 ON a1.a = t2.a",
                WRITE.reads(&["t2"]).writes(&["t1"]),
            ),
            ("DELETE FROM t WHERE id = 1 LIMIT 1", WRITE.writes(&["t"])),
            (
                "DELETE FROM t1, t2 USING t1 JOIN t2 ON t1.a = t2.a",
                WRITE.reads(&["t1", "t2"]).writes(&["t1", "t2"]),
            ),
            // sqlparser reads these modifiers as table names.
            (
                "UPDATE LOW_PRIORITY t SET a = 1 ORDER BY b LIMIT 1",
                WRITE.writes(&["t"]),
            ),
            ("UPDATE IGNORE t SET a = 1", WRITE.writes(&["t"])),
            ("DELETE QUICK FROM t", WRITE.writes(&["t"])),
            (
                "DELETE quick FROM quick JOIN x ON true",
                WRITE.reads(&["x"]).writes(&["quick"]),
            ),
            ("UPDATE t1, t2 SET t1.a = t2.a", GARBAGE),
            ("CALL p()", WRITE.writes_unknown()),
            ("TRUNCATE TABLE t", DDL.writes(&["t"])),
            ("ALTER TABLE t ADD COLUMN b int", DDL),
            ("RENAME TABLE a TO b", DDL),
            ("USE shop", SESSION),
            ("SET NAMES utf8mb4", SESSION),
            ("SET @x = 1", SESSION),
            ("SHOW VARIABLES LIKE 'x'", SESSION),
            ("START TRANSACTION", TRANSACTION),
            ("BEGIN WORK", TRANSACTION),
            ("LOCK TABLES t READ", OTHER.writes_unknown()),
            ("UNLOCK TABLES", OTHER),
            ("EXPLAIN SELECT * FROM t", OTHER),
            ("LOAD DATA INFILE 'x' INTO TABLE t", GARBAGE),
            ("XA START 'x'", GARBAGE),
            // XA COMMIT may finish a transaction another session prepared: what it wrote
            // is unknown here, so it invalidates the whole database (design §4.4).
            ("XA COMMIT 'x'", GARBAGE),
            ("XA COMMIT 'x' ONE PHASE", GARBAGE),
            ("XA PREPARE 'x'", GARBAGE),
            ("SELEC garbage LOCK IN SHARE MODE", GARBAGE),
            (
                "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW UPDATE a SET n = n + 1",
                GARBAGE_DDL,
            ),
            (
                "SELECT * FROM t INTO OUTFILE '/tmp/x'",
                READ.because(Uncacheable::Unparsable),
            ),
            (
                "SELECT * FROM t1 LOCK IN SHARE MODE; UPDATE t2 SET a = 1",
                READ.kind(StatementKind::Write)
                    .multi(2)
                    .reads(&["t1"])
                    .writes(&["t2"]),
            ),
        ],
    );
}

#[test]
fn mariadb() {
    check(
        Dialect::MariaDb,
        &[
            ("SELECT * FROM Foo", READ.reads(&["Foo"])),
            (
                "SELECT NEXTVAL(s)",
                READ.because(Uncacheable::NonImmutableFunction),
            ),
            (
                "SELECT * FROM t LOCK IN SHARE MODE",
                READ.because(Uncacheable::LockingClause).reads(&["t"]),
            ),
        ],
    );
}

/// MySQL names may start with digits: two tables named so are two templates, and
/// the memo gives each text the tables it reads and writes, not its neighbour's.
#[test]
fn names_that_start_with_digits_are_not_numbers() {
    use crate::classify::Classifier;
    for dialect in [Dialect::MySql, Dialect::MariaDb] {
        let classifier = Classifier::new(dialect);
        for (first, second) in [
            (
                "SELECT v FROM 2024_orders WHERE id = 1",
                "SELECT v FROM 2025_orders WHERE id = 2",
            ),
            (
                "DELETE FROM 1st WHERE id = 1",
                "DELETE FROM 2nd WHERE id = 1",
            ),
            (
                "SELECT v FROM 2024db.orders WHERE id = 1",
                "SELECT v FROM 2025db.orders WHERE id = 1",
            ),
        ] {
            let a = classifier.classify(first);
            let b = classifier.classify(second);
            assert_ne!(a.template.id, b.template.id, "{first} / {second}");
            let tables = |x: &crate::classify::Analysis| {
                let c = &x.classification;
                c.reads
                    .iter()
                    .chain(&c.writes)
                    .map(|t| format!("{:?}.{}", t.schema, t.name))
                    .collect::<Vec<_>>()
            };
            assert_ne!(tables(&a), tables(&b), "{first} / {second}");
        }
        // Numbers still share: decimal, hexadecimal, binary, exponent.
        for (first, second) in [
            (
                "SELECT v FROM t WHERE id = 1",
                "SELECT v FROM t WHERE id = 22",
            ),
            (
                "SELECT v FROM t WHERE b = 0x1F",
                "SELECT v FROM t WHERE b = 0xab",
            ),
            (
                "SELECT v FROM t WHERE x = 1.5e3",
                "SELECT v FROM t WHERE x = 2",
            ),
        ] {
            let a = classifier.classify(first);
            let b = classifier.classify(second);
            assert_eq!(a.template.id, b.template.id, "{first} / {second}");
        }
    }
}
