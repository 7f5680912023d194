"""PyMySQL through wirecache over TLS (tests/it/mysql_tls.rs): verifies wirecache's
certificate with the CA given (and the host name unless told not to), reports its own
socket's TLS state, then reads one row three times (a miss, then cache hits). PyMySQL
falls back to plaintext silently when a server offers no TLS, so the report matters.
Usage: pymysql_tls.py HOST PORT USER PASSWORD DB CA_FILE verify-full|verify-ca KEY.
Prints one JSON line; a failed connection exits non-zero with the driver's message."""
import json
import ssl
import sys

import pymysql

host, port, user, password, db, ca, mode, key = sys.argv[1:9]
key = int(key)
conn = pymysql.connect(host=host, port=int(port), user=user, password=password, database=db,
                       autocommit=True,
                       ssl={"ca": ca, "check_hostname": mode == "verify-full", "verify_mode": True})
sock = conn._sock  # the socket PyMySQL talks over: an ssl.SSLSocket once TLS is on
report = {"tls": isinstance(sock, ssl.SSLSocket)}
if report["tls"]:
    peer = sock.getpeercert()
    report.update(protocol=sock.version(), cipher=sock.cipher()[0],
                  peer=dict(x[0] for x in peer["subject"])["commonName"],
                  issuer=dict(x[0] for x in peer["issuer"])["commonName"])
cur = conn.cursor()
values = set()
for _ in range(3):
    cur.execute("SELECT v FROM kv WHERE id = %s", (key,))
    values.add(cur.fetchone()[0])
assert values == {f"v{key}"}, values
conn.close()
print(json.dumps(report))
