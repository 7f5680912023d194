"""PyMySQL logs in once (tests/mysql_auth.rs).

Usage: pymysql_login.py HOST PORT USER PASSWORD. Prints "user=<CURRENT_USER()>" when
the login works, or "error=<code> <message>" when the server refuses it; any other
failure (a protocol error such as a wrong sequence number) raises (exit 1).
ed25519 users need PyNaCl installed next to PyMySQL.
"""
import sys

import pymysql


def main():
    host, port, user, password = sys.argv[1:5]
    try:
        conn = pymysql.connect(host=host, port=int(port), user=user, password=password)
    except pymysql.err.OperationalError as e:
        print(f"error={e.args[0]} {e.args[1]}")
        return
    cur = conn.cursor()
    cur.execute("SELECT CURRENT_USER()")
    print(f"user={cur.fetchone()[0]}")
    conn.close()


if __name__ == "__main__":
    main()
