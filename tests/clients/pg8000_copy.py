"""pg8000 (always the extended protocol) through wirecache: COPY FROM STDIN, COPY TO
STDOUT, a COPY that fails on a bad row, and reads around them. Usage:
python3 pg8000_copy.py HOST PORT USER DATABASE. Exits non-zero on any mismatch."""
import io
import sys

import pg8000.native

host, port, user, database = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
conn = pg8000.native.Connection(user, host=host, port=port, database=database)
conn.run("CREATE TABLE p8 (id int, v text)")
for round_ in range(1, 4):
    conn.run("COPY p8 FROM STDIN", stream=io.StringIO("1\tone\n2\ttwo\n"))
    assert conn.row_count == 2, f"row count {conn.row_count}"
    assert conn.run("SELECT count(*) FROM p8") == [[2 * round_]], "count after COPY"
out = io.StringIO()
conn.run("COPY p8 TO STDOUT", stream=out)
assert len(out.getvalue().splitlines()) == 6, out.getvalue()
try:
    conn.run("COPY p8 FROM STDIN", stream=io.StringIO("x\tbad\n"))
    raise AssertionError("a bad row was accepted")
except pg8000.native.DatabaseError as e:
    assert e.args[0]["C"] == "22P02", e.args[0]
assert conn.run("SELECT v FROM p8 WHERE id = :id ORDER BY v", id=1) == [["one"]] * 3
conn.close()
print("ok")
