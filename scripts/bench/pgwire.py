#!/usr/bin/env python3
"""A minimal PostgreSQL wire-protocol client (standard library only) for the memory
measurements of scripts/bench/run.sh: hold N idle sessions open, or run a list of
simple queries over one session. Trust authentication only (the benchmark's private
origin trusts 127.0.0.1).

  pgwire.py idle  --port P --user U --db D -n N --ready FILE   # open N, touch FILE, wait for stdin EOF
  pgwire.py fill  --port P --user U --db D --sql-template 'SELECT … {i} …' --from A --to B
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys


class PgError(Exception):
    pass


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise PgError("connection closed by the server")
        buf += chunk
    return bytes(buf)


def read_message(sock: socket.socket) -> tuple[bytes, bytes]:
    head = _recv_exact(sock, 5)
    tag, length = head[:1], struct.unpack("!i", head[1:])[0]
    if length < 4 or length > (1 << 30):
        raise PgError(f"bad message length {length}")
    return tag, _recv_exact(sock, length - 4)


def _error_text(body: bytes) -> str:
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[part[:1]] = part[1:].decode("utf-8", "replace")
    return f"{fields.get(b'S', 'ERROR')} {fields.get(b'C', '')}: {fields.get(b'M', '')}"


def connect(port: int, user: str, db: str, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection((host, port), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    params = b"".join(k + b"\0" + v + b"\0" for k, v in (
        (b"user", user.encode()), (b"database", db.encode()), (b"application_name", b"pgwire.py"),
    )) + b"\0"
    sock.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
    while True:
        tag, body = read_message(sock)
        if tag == b"R":
            code = struct.unpack("!i", body[:4])[0]
            if code != 0:
                raise PgError(f"authentication method {code} requested; only trust is supported")
        elif tag == b"E":
            raise PgError(_error_text(body))
        elif tag == b"Z":
            return sock


def simple_query(sock: socket.socket, sql: str) -> int:
    """Runs one simple query; returns the bytes of the answer (up to ReadyForQuery)."""
    data = sql.encode() + b"\0"
    sock.sendall(b"Q" + struct.pack("!i", 4 + len(data)) + data)
    total, error = 0, None
    while True:
        tag, body = read_message(sock)
        total += 5 + len(body)
        if tag == b"E":
            error = _error_text(body)
        elif tag == b"Z":
            if error:
                raise PgError(error)
            return total


def close(sock: socket.socket) -> None:
    try:
        sock.sendall(b"X" + struct.pack("!i", 4))
    finally:
        sock.close()


def cmd_idle(args: argparse.Namespace) -> int:
    socks = [connect(args.port, args.user, args.db) for _ in range(args.n)]
    with open(args.ready, "w", encoding="ascii") as f:
        f.write(f"{len(socks)}\n")
    sys.stdin.read()  # hold them until the caller closes our stdin
    for s in socks:
        close(s)
    return 0


def cmd_fill(args: argparse.Namespace) -> int:
    sock = connect(args.port, args.user, args.db)
    total = 0
    for i in range(args.start, args.end):
        total += simple_query(sock, args.sql_template.format(i=i))
    close(sock)
    print(total)
    return 0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("idle", "fill"):
        s = sub.add_parser(name)
        s.add_argument("--port", type=int, required=True)
        s.add_argument("--user", required=True)
        s.add_argument("--db", required=True)
    idle = sub.choices["idle"]
    idle.add_argument("-n", type=int, required=True)
    idle.add_argument("--ready", required=True, help="file written once all sessions are open")
    fill = sub.choices["fill"]
    fill.add_argument("--sql-template", required=True, help="{i} is replaced by the counter")
    fill.add_argument("--from", dest="start", type=int, required=True)
    fill.add_argument("--to", dest="end", type=int, required=True)
    args = p.parse_args(argv)
    try:
        return cmd_idle(args) if args.cmd == "idle" else cmd_fill(args)
    except (OSError, PgError) as e:
        print(f"pgwire: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
