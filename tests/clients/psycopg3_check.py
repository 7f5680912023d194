"""psycopg 3 through wirecache: server-side binding (extended protocol), prepared
statements after repeated use, binary results, pipeline mode, transactions.
Usage: python3 psycopg3_check.py DSN. Exits non-zero on any mismatch."""
import sys

import psycopg

dsn = sys.argv[1]
with psycopg.connect(dsn, autocommit=True, prepare_threshold=2) as conn:
    conn.execute("CREATE TABLE py3 (id int PRIMARY KEY, v text, n numeric)")
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO py3 VALUES (%s, %s, %s)", [(i, f"v{i}", i * 1.5) for i in range(1, 41)])
    for _ in range(5):
        row = conn.execute("SELECT v, n FROM py3 WHERE id = %s", (4,)).fetchone()
        assert row[0] == "v4" and float(row[1]) == 6.0, row
    for _ in range(3):
        with conn.cursor(binary=True) as cur:
            cur.execute("SELECT id, v FROM py3 WHERE id < %s ORDER BY id", (5,))
            assert [r[0] for r in cur.fetchall()] == [1, 2, 3, 4]
    conn.execute("UPDATE py3 SET v = %s WHERE id = %s", ("four", 4))
    assert conn.execute("SELECT v, n FROM py3 WHERE id = %s", (4,)).fetchone()[0] == "four"
    with conn.pipeline():
        curs = [conn.execute("SELECT v FROM py3 WHERE id = %s", (i,)) for i in range(1, 11)]
        conn.execute("UPDATE py3 SET v = 'p' WHERE id = 10")
        after = conn.execute("SELECT v FROM py3 WHERE id = %s", (10,))
    assert [c.fetchone()[0] for c in curs] == [f"v{i}" if i != 4 else "four" for i in range(1, 11)]
    assert after.fetchone()[0] == "p", "pipeline read after write"
    # A statement the origin refuses at Parse (wirecache defers the unnamed Parse):
    # the error arrives, and the session stays usable, twice in a row.
    for _ in range(2):
        try:
            conn.execute("SELEC v FROM py3 WHERE id = %s", (1,))
            raise AssertionError("syntax error not reported")
        except psycopg.errors.SyntaxError:
            pass
        assert conn.execute("SELECT v FROM py3 WHERE id = %s", (2,)).fetchone()[0] == "v2"
    with conn.transaction():
        conn.execute("UPDATE py3 SET v = 'in tx' WHERE id = 1")
        assert conn.execute("SELECT v FROM py3 WHERE id = %s", (1,)).fetchone()[0] == "in tx"
    assert conn.execute("SELECT v FROM py3 WHERE id = %s", (1,)).fetchone()[0] == "in tx"
print("psycopg3 ok")
