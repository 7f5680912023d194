"""psycopg2 through wirecache: client-side parameter interpolation (simple protocol),
transactions, a server-side (named) cursor, executemany and COPY. Usage:
python3 psycopg2_check.py DSN. Exits non-zero with a message on any mismatch."""
import io
import sys

import psycopg2

dsn = sys.argv[1]
conn = psycopg2.connect(dsn)
conn.autocommit = True
cur = conn.cursor()
cur.execute("CREATE TABLE py2 (id int PRIMARY KEY, v text)")
cur.executemany("INSERT INTO py2 VALUES (%s, %s)", [(i, f"v{i}") for i in range(1, 51)])
for _ in range(3):
    cur.execute("SELECT v FROM py2 WHERE id = %s", (7,))
    assert cur.fetchone() == ("v7",), "read"
cur.execute("UPDATE py2 SET v = %s WHERE id = %s", ("seven", 7))
cur.execute("SELECT v FROM py2 WHERE id = %s", (7,))
assert cur.fetchone() == ("seven",), "read after write"

conn.autocommit = False
cur.execute("UPDATE py2 SET v = 'tx' WHERE id = 8")
cur.execute("SELECT v FROM py2 WHERE id = 8")
assert cur.fetchone() == ("tx",), "own write in transaction"
conn.rollback()
cur.execute("SELECT v FROM py2 WHERE id = 8")
assert cur.fetchone() == ("v8",), "after rollback"
named = conn.cursor(name="big")
named.itersize = 7
named.execute("SELECT id FROM py2 ORDER BY id")
assert [r[0] for r in named] == list(range(1, 51)), "named cursor"
named.close()
conn.commit()

conn.autocommit = True
cur.copy_expert("COPY py2 FROM STDIN", io.StringIO("100\thundred\n101\thundred-one\n"))
cur.execute("SELECT count(*) FROM py2")
assert cur.fetchone() == (52,), "count after copy"
out = io.StringIO()
cur.copy_expert("COPY (SELECT id FROM py2 WHERE id > 99 ORDER BY id) TO STDOUT", out)
assert out.getvalue() == "100\n101\n", out.getvalue()
conn.close()
print("psycopg2 ok")
