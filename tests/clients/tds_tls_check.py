"""A Python SQL Server driver through wirecache over TLS inside PRELOGIN: a read
three times and a write.

Usage: tds_tls_check.py DRIVER MODE HOST PORT USER PASSWORD DB CAFILE
DRIVER: pytds (python-tds over pyOpenSSL) or pymssql (its own FreeTDS over OpenSSL).
MODE: "full" (the driver asks for encryption: everything inside TLS), "login"
(encryption off: only the LOGIN7 inside TLS) or, for pymssql, "strict" (TDS 8.0: TLS
first; its FreeTDS reads server "wc" from the freetds.conf named by $FREETDSCONF,
which sets `encryption = strict` and the CA file, and checks the certificate). pytds checks the certificate against
CAFILE and the host name; pymssql's FreeTDS does not check it. Prints "ok" and exits
0 when every answer is right; raises (exit 1) otherwise.
"""
import sys


def connect(driver, mode, host, port, user, password, db, cafile):
    if driver == "pytds":
        import pytds
        return pytds.connect(server=host, port=int(port), user=user, password=password,
                             database=db, autocommit=True, cafile=cafile,
                             validate_host=True, enc_login_only=(mode == "login"))
    import pymssql
    if mode == "strict":
        return pymssql.connect(server="wc", port=port, user=user, password=password,
                               database=db, autocommit=True)
    encryption = "require" if mode == "full" else "request"
    return pymssql.connect(server=host, port=port, user=user, password=password,
                           database=db, autocommit=True, tds_version="7.4",
                           encryption=encryption)


def main():
    driver, mode, host, port, user, password, db, cafile = sys.argv[1:9]
    conn = connect(driver, mode, host, port, user, password, db, cafile)
    cur = conn.cursor()
    for _ in range(3):
        cur.execute("SELECT id, name FROM t WHERE id < 3 ORDER BY id")
        rows = [tuple(r) for r in cur.fetchall()]
        assert rows == [(1, "one"), (2, "two")], rows
    cur.execute("UPDATE t SET name = 'uno' WHERE id = 1")
    cur.execute("SELECT id, name FROM t WHERE id < 3 ORDER BY id")
    assert [tuple(r) for r in cur.fetchall()] == [(1, "uno"), (2, "two")]
    conn.close()
    print("ok")


if __name__ == "__main__":
    main()
