"""psycopg2 or psycopg 3 through wirecache over TLS (tests/it/pg_tls.rs): reports what
libpq says about the encryption of its own connection, then reads one row three times
(a miss, then cache hits). Usage: python3 psycopg_tls.py psycopg2|psycopg DSN KEY.
Prints one JSON line {"ssl_in_use", "protocol", "cipher", "v"}; a failed connection
exits non-zero with the driver's message on stderr."""
import json
import sys

which, dsn, key = sys.argv[1], sys.argv[2], int(sys.argv[3])
if which == "psycopg2":
    import psycopg2

    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    info = conn.info
    report = {
        "ssl_in_use": info.ssl_in_use,
        "protocol": info.ssl_attribute("protocol"),
        "cipher": info.ssl_attribute("cipher"),
    }
    cur = conn.cursor()

    def read():
        cur.execute("SELECT v FROM kv WHERE id = %s", (key,))
        return cur.fetchone()[0]
else:
    import psycopg

    conn = psycopg.connect(dsn, autocommit=True)
    # psycopg 3 exposes libpq's PQsslInUse only.
    report = {"ssl_in_use": conn.pgconn.ssl_in_use, "protocol": None, "cipher": None}

    def read():
        return conn.execute("SELECT v FROM kv WHERE id = %s", (key,)).fetchone()[0]

values = {read() for _ in range(3)}
assert values == {f"v{key}"}, values
report["v"] = values.pop()
conn.close()
print(json.dumps(report))
