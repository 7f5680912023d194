//! PostgreSQL cases: why reads are not cacheable, function lists, multi-statement,
//! empty and unparsable texts.

use super::{GARBAGE, OTHER, READ, check};
use crate::classify::{Dialect, StatementKind, Uncacheable};

const PG: Dialect = Dialect::Postgres;

#[test]
fn uncacheable_reasons() {
    use Uncacheable::*;
    let locked = READ.because(LockingClause);
    let volatile = READ.because(NonImmutableFunction);
    let catalog = READ.because(SystemCatalog);
    check(
        PG,
        &[
            ("SELECT * FROM t FOR UPDATE", locked.reads(&["t"])),
            (
                "SELECT * FROM t WHERE id = 1 FOR SHARE SKIP LOCKED",
                locked.reads(&["t"]),
            ),
            ("SELECT * FROM t FOR NO KEY UPDATE", locked.reads(&["t"])),
            (
                "SELECT * FROM t for key share of t nowait",
                locked.reads(&["t"]),
            ),
            ("SELECT 1 FOR UPDATE", locked),
            ("SELECT now()", volatile),
            (
                "SELECT * FROM t WHERE created > CURRENT_TIMESTAMP - interval '1 day'",
                volatile.reads(&["t"]),
            ),
            ("SELECT current_user", volatile),
            ("SELECT current_schema, 1", volatile),
            ("SELECT localtimestamp", volatile),
            ("SELECT random(), nextval('s')", volatile),
            (
                "SELECT * FROM t WHERE d = 'today'::date",
                volatile.reads(&["t"]),
            ),
            ("SELECT pg_catalog.now()", volatile),
            ("SELECT pg_sleep(1)", volatile),
            ("SELECT concat(a, b) FROM t", volatile.reads(&["t"])),
            ("SELECT to_char(ts, 'YYYY') FROM t", volatile.reads(&["t"])),
            ("SELECT json_agg(t) FROM t", volatile.reads(&["t"])),
            (
                "SELECT * FROM pg_catalog.pg_class",
                catalog.reads(&["pg_catalog.pg_class"]),
            ),
            (
                "SELECT * FROM information_schema.tables",
                catalog.reads(&["information_schema.tables"]),
            ),
            (
                "SELECT * FROM pg_stat_activity",
                catalog.reads(&["pg_stat_activity"]),
            ),
            (
                "SELECT * FROM pg_temp.scratch",
                READ.because(TemporaryTable).reads(&["pg_temp.scratch"]),
            ),
            (
                "SELECT * INTO newt FROM t",
                READ.kind(StatementKind::Ddl)
                    .reads(&["t"])
                    .writes(&["newt"])
                    .writes_unknown()
                    .because(SelectInto),
            ),
            ("COPY t TO STDOUT", READ.because(NotARead).reads(&["t"])),
            (
                "COPY (SELECT * FROM t JOIN u ON true) TO STDOUT",
                READ.because(NotARead).reads(&["t", "u"]),
            ),
            (
                "SELECT now() FROM pg_temp.x FOR UPDATE",
                locked.reads(&["pg_temp.x"]),
            ),
        ],
    );
}

#[test]
fn functions() {
    let volatile = READ.because(Uncacheable::NonImmutableFunction);
    check(
        PG,
        &[
            (
                "SELECT lower(name), count(*) FROM users GROUP BY 1",
                READ.reads(&["users"]),
            ),
            (
                "SELECT coalesce(a, 0) + abs(b), greatest(a, b) FROM t",
                READ.reads(&["t"]),
            ),
            (
                "SELECT EXTRACT(YEAR FROM d), CAST(a AS text), substring(s FROM 2 FOR 3), \
             trim(both ' ' from s), position('a' in s), s::int FROM t",
                READ.reads(&["t"]),
            ),
            (
                "SELECT row_number() OVER (PARTITION BY a ORDER BY b), lag(a) OVER w FROM t \
             WINDOW w AS (ORDER BY a)",
                READ.reads(&["t"]),
            ),
            ("SELECT f(x) FROM t", READ.reads(&["t"]).calls(&["f"])),
            (
                "SELECT App.Score(id), app.score(id) FROM t",
                READ.reads(&["t"]).calls(&["app.score"]),
            ),
            ("SELECT \"MyFunc\"(1)", READ.calls(&["MyFunc"])),
            ("SELECT public.lower('A')", READ.calls(&["public.lower"])),
            ("SELECT * FROM generate_series(1, 3)", READ),
            ("SELECT * FROM unnest(ARRAY[1, 2]) AS u(x)", READ),
            (
                "SELECT * FROM t, LATERAL my_srf(t.id)",
                READ.reads(&["t"]).calls(&["my_srf"]),
            ),
            ("SELECT * FROM app.items(1)", READ.calls(&["app.items"])),
            ("SELECT * FROM json_to_recordset($1) AS x(a int)", volatile),
            ("SELECT f(now())", volatile.calls(&["f"])),
        ],
    );
}

#[test]
fn multi_statement_empty_and_unparsable() {
    use StatementKind::{Ddl, Read, Transaction, Write};
    let empty = OTHER.multi(0).because(Uncacheable::NotARead);
    let unparsable = READ.because(Uncacheable::Unparsable);
    check(
        PG,
        &[
            (
                "SELECT * FROM a; SELECT * FROM b",
                READ.multi(2).reads(&["a", "b"]),
            ),
            (
                "SELECT * FROM a; UPDATE b SET x = 1",
                READ.kind(Write).multi(2).reads(&["a"]).writes(&["b"]),
            ),
            (
                "BEGIN; INSERT INTO t VALUES (1); COMMIT;",
                READ.kind(Write).multi(3).writes(&["t"]),
            ),
            ("SET x = 1; BEGIN", READ.kind(Transaction).multi(2)),
            (
                "DROP TABLE a; DELETE FROM b",
                READ.kind(Ddl).multi(2).writes(&["b"]).writes_unknown(),
            ),
            (
                "COPY t TO STDOUT; SELECT 1",
                READ.kind(Read).multi(2).reads(&["t"]),
            ),
            ("", empty),
            (";", empty),
            ("  -- nothing\n /* at all */ ", empty),
            ("SELEC * FROM t", GARBAGE),
            ("REFRESH MATERIALIZED VIEW m", GARBAGE),
            ("SELECT 1; garbage here", GARBAGE),
            ("SELECT * FROM ROWS FROM (f(1), g(2))", unparsable),
            ("(SELECT * FROM ROWS FROM (f(1)))", unparsable),
            ("SELECT 'unterminated", unparsable),
            (
                "EXPLAIN SELECT * FROM ROWS FROM (f(1))",
                unparsable.kind(StatementKind::Other),
            ),
            ("EXPLAIN ANALYZE SELECT * FROM ROWS FROM (f(1))", GARBAGE),
            (
                "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM ROWS FROM (f(1))",
                GARBAGE,
            ),
            ("SELECT 1 FOR UPDATE; DELETE FROM t", GARBAGE),
        ],
    );
}
