"""A Python SQL Server driver's parameterized statements through wirecache: reads
with parameters (python-tds sends them as sp_executesql RPCs; pymssql substitutes
them into the text itself), the same read repeated, another value, a write with
parameters and the read after it.

Usage: tds_rpc_check.py DRIVER HOST PORT USER PASSWORD DB, DRIVER being pymssql or
pytds. Prints "ok" and exits 0 when every answer is right; raises (exit 1) on the
first wrong one.
"""
import sys

from tds_check import connect


def main():
    driver, host, port, user, password, db = sys.argv[1:7]
    conn = connect(driver, host, port, user, password, db)
    cur = conn.cursor()
    for _ in range(3):
        cur.execute("SELECT id, name FROM t WHERE id = %s", (2,))
        assert [tuple(r) for r in cur.fetchall()] == [(2, "two")]
    for _ in range(2):
        cur.execute("SELECT id FROM t WHERE name = %s", ("one",))
        assert [tuple(r) for r in cur.fetchall()] == [(1,)]
    cur.execute("SELECT id, name FROM t WHERE id = %s", (1,))
    assert [tuple(r) for r in cur.fetchall()] == [(1, "one")]
    cur.execute("UPDATE t SET name = %s WHERE id = %s", ("deux", 2))
    cur.execute("SELECT id, name FROM t WHERE id = %s", (2,))
    assert [tuple(r) for r in cur.fetchall()] == [(2, "deux")]
    conn.close()
    print("ok")


if __name__ == "__main__":
    main()
