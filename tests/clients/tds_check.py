"""A Python SQL Server driver through wirecache: reads, cache hits, writes,
transactions, rollback, a value larger than a TDS packet.

Usage: tds_check.py DRIVER HOST PORT USER PASSWORD DB [TDS_VERSION], DRIVER being
pymssql or pytds (python-tds), TDS_VERSION 7.1, 7.2, 7.3 or 7.4 (the default).
Statements carry no parameters, but for a last read through python-tds, which sends
it as an RPC (sp_executesql), twice. Prints "ok" and exits 0 when every answer is
right; raises (exit 1) on the first wrong one.
"""
import sys


def connect(driver, host, port, user, password, db, version="7.4"):
    if driver == "pymssql":
        import pymssql
        return pymssql.connect(server=host, port=port, user=user, password=password,
                               database=db, autocommit=True, tds_version=version)
    import pytds
    from pytds import tds_base
    versions = {"7.1": tds_base.TDS71, "7.2": tds_base.TDS72, "7.3": tds_base.TDS73,
                "7.4": tds_base.TDS74}
    return pytds.connect(server=host, port=int(port), user=user, password=password,
                         database=db, autocommit=True, tds_version=versions[version])


def main():
    driver, host, port, user, password, db = sys.argv[1:7]
    version = sys.argv[7] if len(sys.argv) > 7 else "7.4"
    conn = connect(driver, host, port, user, password, db, version)
    cur = conn.cursor()
    for _ in range(3):
        cur.execute("SELECT id, name FROM t ORDER BY id")
        rows = [tuple(r) for r in cur.fetchall()]
        assert rows == [(1, "one"), (2, "two"), (3, None)], rows
    cur.execute("UPDATE t SET name = 'uno' WHERE id = 1")
    cur.execute("SELECT name FROM t WHERE id = 1")
    assert cur.fetchone()[0] == "uno"
    cur.execute("BEGIN TRAN")
    cur.execute("UPDATE t SET name = 'tx' WHERE id = 2")
    cur.execute("SELECT name FROM t WHERE id = 2")
    assert cur.fetchone()[0] == "tx"
    cur.execute("ROLLBACK TRAN")
    cur.execute("SELECT name FROM t WHERE id = 2")
    assert cur.fetchone()[0] == "two"
    long = "ü" * 9000
    cur.execute("INSERT INTO t VALUES (4, N'" + long + "')")
    for _ in range(2):
        cur.execute("SELECT name FROM t WHERE id = 4")
        assert cur.fetchone()[0] == long
    if driver == "pytds":
        for _ in range(2):
            cur.execute("SELECT name FROM t WHERE id = %s", (3,))
            assert cur.fetchone()[0] is None
    conn.close()
    print("ok")


if __name__ == "__main__":
    main()
