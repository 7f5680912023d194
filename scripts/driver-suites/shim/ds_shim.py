"""ds_shim.py — owns the pytest plugin (`-p ds_shim`) that adapts drivers' own
test suites to a run through wirecache without editing them. It patches the
drivers' connection constructors, at plugin load (before any test module is
imported), for two things only:

* DS_USER_PREFIX=ID with DS_WC_PORTS=p1,p2: a connection to one of those ports
  whose user name lacks the prefix gets `ID-user` (suites that hard-code their
  user, e.g. pg8000's and aiomysql's `postgres`/`root`, reach their cache this way).
* DS_AUTOCOMMIT=1: every new connection is put in autocommit mode, so that reads
  run outside transactions and wirecache caches (and the second pass serves) them:
  psycopg2 `conn.autocommit = True` after connect (not for async connections);
  pg8000 dbapi/legacy `Connection.autocommit = True` after construction (pg8000's
  native API is autocommit already); MySQLdb, PyMySQL and aiomysql get
  `autocommit=True` as constructor argument. A test that turns autocommit off
  itself still can.

It also runs a per-test watchdog (below) that turns a hang into a recorded
timeout instead of a stalled run.
"""

import functools
import inspect
import os
import socket
import threading

PREFIX = os.environ.get("DS_USER_PREFIX", "")
PORTS = {int(p) for p in os.environ.get("DS_WC_PORTS", "").split(",") if p.strip()}
AUTOCOMMIT = os.environ.get("DS_AUTOCOMMIT") == "1"


def _prefixed(user, port):
    try:
        port = int(port or 0)
    except (TypeError, ValueError):
        return user
    if PREFIX and isinstance(user, str) and port in PORTS and not user.startswith(PREFIX + "-"):
        return f"{PREFIX}-{user}"
    return user


def _wrap_init(cls, adjust=None, after=None):
    """Wraps cls.__init__: `adjust(arguments)` edits the bound arguments before the
    original runs, `after(self)` runs once it has returned."""
    orig = cls.__init__
    sig = inspect.signature(orig)

    @functools.wraps(orig)
    def init(self, *args, **kwargs):
        if adjust is not None:
            bound = sig.bind(self, *args, **kwargs)
            adjust(bound.arguments)
            args, kwargs = bound.args[1:], bound.kwargs
        orig(self, *args, **kwargs)
        if after is not None:
            after(self)

    cls.__init__ = init


def _user_and_autocommit(default_port):
    def adjust(a):
        if "user" in a:
            a["user"] = _prefixed(a["user"], a.get("port", default_port))
        if AUTOCOMMIT:
            a["autocommit"] = True

    return adjust


def _set_autocommit(conn):
    conn.autocommit = True


def _patch_psycopg2():
    import psycopg2

    orig = psycopg2.connect

    @functools.wraps(orig)
    def connect(*args, **kwargs):
        conn = orig(*args, **kwargs)
        if AUTOCOMMIT and not conn.async_:
            conn.autocommit = True
        return conn

    psycopg2.connect = connect


def _patch_pg8000():
    import pg8000.core
    import pg8000.dbapi
    import pg8000.legacy

    def adjust(a):
        port = a.get("port", 5432)
        if a.get("sock") is not None:  # a socket the caller connected itself
            try:
                port = a["sock"].getpeername()[1]
            except (OSError, IndexError, TypeError):
                pass
        a["user"] = _prefixed(a.get("user"), port)

    _wrap_init(pg8000.core.CoreConnection, adjust=adjust)
    if AUTOCOMMIT:
        _wrap_init(pg8000.dbapi.Connection, after=_set_autocommit)
        _wrap_init(pg8000.legacy.Connection, after=_set_autocommit)


def _patch_mysqldb():
    import MySQLdb.connections

    def adjust(a):
        if AUTOCOMMIT:
            a.setdefault("kwargs", {})["autocommit"] = True

    _wrap_init(MySQLdb.connections.Connection, adjust=adjust)


def _patch_pymysql():
    import pymysql.connections

    cls = pymysql.connections.Connection
    _wrap_init(cls, adjust=_user_and_autocommit(3306))
    orig_connect = cls.connect

    @functools.wraps(orig_connect)
    def connect(self, sock=None):
        if sock is not None:  # defer_connect=True, then a socket the caller connected itself
            try:
                self.user = _prefixed(self.user, sock.getpeername()[1])
            except (OSError, IndexError, TypeError, AttributeError):
                pass
        return orig_connect(self, sock)

    cls.connect = connect


def _patch_aiomysql():
    import aiomysql.connection

    _wrap_init(aiomysql.connection.Connection, adjust=_user_and_autocommit(3306))


PATCHED = []
for _name, _patch in (("psycopg2", _patch_psycopg2), ("pg8000", _patch_pg8000), ("MySQLdb", _patch_mysqldb),
                      ("pymysql", _patch_pymysql), ("aiomysql", _patch_aiomysql)):
    try:
        _patch()
        PATCHED.append(_name)
    except ImportError:
        pass


# --- watchdog ---------------------------------------------------------------
# pytest-timeout (signal method) stops a test's call phase, but a hung connection
# then hangs the teardown that closes it (pg8000's fixtures roll back), and C
# drivers may retry an interrupted read. So a test that has not finished its
# setup, call and teardown within DS_WATCHDOG seconds has every TCP connection of
# this process to DS_TARGET_PORT shut down (which wakes any blocked read, in any
# thread or C library) and its id appended to DS_TIMEOUT_LOG: it counts as a hang.
WATCHDOG = float(os.environ.get("DS_WATCHDOG", "0") or 0)
TARGET_PORT = int(os.environ.get("DS_TARGET_PORT", "0") or 0)
TIMEOUT_LOG = os.environ.get("DS_TIMEOUT_LOG", "")


def _socket_inodes(port):
    """Inodes of this host's TCP sockets whose remote port is `port`."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.readlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and int(cols[2].rsplit(":", 1)[-1], 16) == port:
                inodes.add(cols[9])
    return inodes


def _shutdown_connections(port):
    inodes = _socket_inodes(port)
    shut = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            try:
                sock = socket.socket(fileno=int(fd))
                sock.shutdown(socket.SHUT_RDWR)
                sock.detach()
                shut += 1
            except OSError:
                pass
    return shut


def _on_hang(nodeid):
    shut = _shutdown_connections(TARGET_PORT)
    if TIMEOUT_LOG:
        with open(TIMEOUT_LOG, "a") as f:
            f.write(f"{nodeid}\t{shut}\n")


if WATCHDOG > 0 and TARGET_PORT:
    import pytest

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(item, nextitem):
        timer = threading.Timer(WATCHDOG, _on_hang, (item.nodeid,))
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()


def pytest_report_header(config):
    return (f"ds_shim: patched {', '.join(PATCHED) or 'nothing'}; autocommit forced: {AUTOCOMMIT}; "
            f"user prefix: {PREFIX or '-'} on ports {sorted(PORTS) or '-'}")
