//! PostgreSQL cases: reads and CTE scopes, writes, statement kinds.

use super::{DDL, GARBAGE, OTHER, READ, SESSION, TRANSACTION, WRITE, check};
use crate::classify::Dialect;

const PG: Dialect = Dialect::Postgres;

#[test]
fn reads_joins_subqueries_and_names() {
    check(
        PG,
        &[
            ("SELECT 1", READ),
            ("SELECT * FROM users WHERE id = $1", READ.reads(&["users"])),
            (
                "SELECT a.x, b.y FROM a JOIN b ON a.id = b.id LEFT JOIN c USING (id)",
                READ.reads(&["a", "b", "c"]),
            ),
            (
                "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE EXISTS (SELECT 1 FROM v))",
                READ.reads(&["t", "u", "v"]),
            ),
            (
                "SELECT * FROM (SELECT * FROM inner_t) AS d",
                READ.reads(&["inner_t"]),
            ),
            (
                "SELECT * FROM t UNION SELECT * FROM u EXCEPT SELECT * FROM v",
                READ.reads(&["t", "u", "v"]),
            ),
            ("SELECT * FROM b, a, b AS b2, A", READ.reads(&["a", "b"])),
            ("SELECT * FROM \"Users\"", READ.reads(&["Users"])),
            ("SELECT * FROM Public.Users", READ.reads(&["public.users"])),
            (
                "SELECT * FROM \"My Schema\".\"T\"",
                READ.reads(&["My Schema.T"]),
            ),
            ("SELECT * FROM db.sch.t", READ.reads(&["sch.t"])),
            ("VALUES (1), (2)", READ),
            ("WITH x AS (SELECT 1) TABLE x", READ),
            ("SELECT 1 FROM dual", READ.reads(&["dual"])),
            ("SELECT ARRAY(SELECT 1), ROW(1, 2)", READ),
            // sqlparser reads `ONLY t` as table "only" aliased t, `ONLY (t)` as a call.
            ("SELECT * FROM ONLY t", READ.reads(&["t"])),
            (
                "SELECT * FROM a JOIN ONLY (s.t) ON true",
                READ.reads(&["a", "s.t"]),
            ),
        ],
    );
}

#[test]
fn cte_scopes() {
    check(
        PG,
        &[
            (
                "WITH t AS (SELECT * FROM base) SELECT * FROM t",
                READ.reads(&["base"]),
            ),
            // A CTE shadows a table only inside its own query.
            (
                "SELECT * FROM (WITH y AS (SELECT 2) SELECT * FROM y) b, y",
                READ.reads(&["y"]),
            ),
            // Without RECURSIVE, the body of t reads the table t.
            (
                "WITH t AS (SELECT * FROM t) SELECT * FROM t",
                READ.reads(&["t"]),
            ),
            (
                "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 9) \
             SELECT * FROM r",
                READ,
            ),
            (
                "WITH a AS (SELECT * FROM src), b AS (SELECT * FROM a) SELECT * FROM b",
                READ.reads(&["src"]),
            ),
            // A qualified name never refers to a CTE.
            (
                "WITH t AS (SELECT 1) SELECT * FROM s.t",
                READ.reads(&["s.t"]),
            ),
            // A write target is always a table, even if a CTE has its name.
            (
                "WITH t AS (SELECT 1 AS id) DELETE FROM t USING t AS u WHERE t.id = u.id",
                WRITE.writes(&["t"]),
            ),
        ],
    );
}

#[test]
fn writes() {
    check(
        PG,
        &[
            (
                "WITH x AS (DELETE FROM a RETURNING *) SELECT * FROM x",
                WRITE.writes(&["a"]),
            ),
            (
                "WITH moved AS (DELETE FROM queue WHERE id = 1 RETURNING *) \
             INSERT INTO done SELECT * FROM moved",
                WRITE.writes(&["done", "queue"]),
            ),
            (
                "UPDATE t SET a = u.a FROM u WHERE t.id = u.id",
                WRITE.reads(&["u"]).writes(&["t"]),
            ),
            (
                "DELETE FROM t USING u WHERE t.id = u.id",
                WRITE.reads(&["u"]).writes(&["t"]),
            ),
            (
                "INSERT INTO archive SELECT * FROM events WHERE ts < $1",
                WRITE.reads(&["events"]).writes(&["archive"]),
            ),
            (
                "INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET b = 2 RETURNING id",
                WRITE.writes(&["t"]),
            ),
            (
                "UPDATE t SET a = (SELECT max(b) FROM u) WHERE id IN (SELECT id FROM v)",
                WRITE.reads(&["u", "v"]).writes(&["t"]),
            ),
            (
                "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a \
             WHEN NOT MATCHED THEN INSERT (id, a) VALUES (s.id, s.a)",
                WRITE.reads(&["s"]).writes(&["t"]),
            ),
            (
                "INSERT INTO t VALUES (now(), f(1))",
                WRITE.writes(&["t"]).calls(&["f"]),
            ),
            ("COPY t FROM STDIN", WRITE.writes(&["t"])),
            ("TRUNCATE a, s.b", DDL.writes(&["a", "s.b"])),
            ("CALL refresh_all(1)", WRITE.writes_unknown()),
            ("EXECUTE stmt(1)", WRITE.writes_unknown()),
            ("EXPLAIN ANALYZE DELETE FROM t", WRITE.writes(&["t"])),
            (
                "EXPLAIN (ANALYZE, BUFFERS) UPDATE t SET a = 1",
                WRITE.writes(&["t"]),
            ),
        ],
    );
}

#[test]
fn statement_kinds() {
    check(
        PG,
        &[
            ("BEGIN", TRANSACTION),
            (
                "START TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                TRANSACTION,
            ),
            ("COMMIT", TRANSACTION),
            ("ROLLBACK TO SAVEPOINT a", TRANSACTION),
            ("SAVEPOINT a", TRANSACTION),
            ("RELEASE SAVEPOINT a", TRANSACTION),
            // Two-phase commit: what a prepared transaction wrote is not known where it
            // is committed (any session may do it), so its commit invalidates the whole
            // database (design §4.4).
            ("PREPARE TRANSACTION 'tx1'", GARBAGE),
            ("COMMIT PREPARED 'tx1'", GARBAGE),
            ("ROLLBACK PREPARED 'tx1'", GARBAGE),
            ("SET search_path = app, public", SESSION),
            ("SET TIME ZONE 'UTC'", SESSION),
            ("SHOW search_path", SESSION),
            ("RESET ALL", SESSION),
            ("DISCARD ALL", SESSION),
            ("PREPARE s AS SELECT * FROM t", SESSION),
            ("DEALLOCATE s", SESSION),
            (
                "LOCK TABLE t IN ACCESS EXCLUSIVE MODE",
                OTHER.writes_unknown(),
            ),
            ("EXPLAIN SELECT * FROM t", OTHER),
            (
                "EXPLAIN ANALYZE SELECT f(1) FROM t",
                OTHER.reads(&["t"]).calls(&["f"]),
            ),
            ("VACUUM t", OTHER),
            ("LISTEN channel", OTHER),
            ("CREATE TABLE t (a int)", DDL),
            ("CREATE TABLE t2 AS SELECT * FROM t", DDL),
            ("CREATE INDEX i ON t (a)", DDL),
            ("ALTER TABLE t ADD COLUMN b int", DDL),
            ("DROP TABLE t", DDL),
            ("GRANT SELECT ON t TO reader", DDL),
            ("REVOKE SELECT ON t FROM reader", DDL),
            ("COMMENT ON TABLE t IS 'x'", DDL),
            (
                "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql",
                DDL,
            ),
            ("DO $$ BEGIN DELETE FROM t; END $$", GARBAGE),
        ],
    );
}
