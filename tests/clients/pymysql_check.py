"""PyMySQL through wirecache: reads, cache hits, writes, transactions, rollback.

Usage: pymysql_check.py HOST PORT USER PASSWORD DB. Prints "ok" and exits 0 when every
answer is right; raises (exit 1) on the first wrong one.
"""
import sys

import pymysql


def main():
    host, port, user, password, db = sys.argv[1:6]
    conn = pymysql.connect(host=host, port=int(port), user=user, password=password,
                           database=db, autocommit=True)
    cur = conn.cursor()
    cur.execute("CREATE TABLE py (id int PRIMARY KEY, v varchar(20), n decimal(10,2))")
    cur.executemany("INSERT INTO py VALUES (%s, %s, %s)",
                    [(1, "one", "1.50"), (2, "two", None), (3, "ünï", "3.25")])
    for _ in range(3):
        cur.execute("SELECT id, v, n FROM py ORDER BY id")
        rows = cur.fetchall()
        assert [r[1] for r in rows] == ["one", "two", "ünï"], rows
        assert str(rows[0][2]) == "1.50" and rows[1][2] is None, rows
    cur.execute("UPDATE py SET v = %s WHERE id = %s", ("uno", 1))
    assert cur.rowcount == 1
    cur.execute("SELECT v FROM py WHERE id = 1")
    assert cur.fetchone()[0] == "uno"
    conn.begin()
    cur.execute("UPDATE py SET v = 'tx' WHERE id = 2")
    cur.execute("SELECT v FROM py WHERE id = 2")
    assert cur.fetchone()[0] == "tx"
    conn.rollback()
    cur.execute("SELECT v FROM py WHERE id = 2")
    assert cur.fetchone()[0] == "two"
    conn.begin()
    cur.execute("DELETE FROM py WHERE id = 3")
    conn.commit()
    cur.execute("SELECT count(*) FROM py")
    assert cur.fetchone()[0] == 2
    cur.execute("SELECT count(*) FROM py")
    assert cur.fetchone()[0] == 2
    conn.ping()
    conn.select_db(db)
    cur.execute("SELECT NOW() IS NOT NULL, @@version")
    assert cur.fetchone()[0] == 1
    conn.close()
    print("ok")


if __name__ == "__main__":
    main()
