"""origins.py — owns the private servers of the driver-suite run: PostgreSQL 15
(initdb as the `postgres` OS user), MariaDB 10.11 (mariadbd --user=mysql, with the
ed25519 plugin loaded) and wirecache in front of both, each on a free 127.0.0.1
port under one `wirecache-test-*` temp dir. Never touches the system services on
5432/3306. Everything started here is stopped by `Stack.close()`.
"""

import os
import shutil
import socket
import subprocess
import time
import urllib.request

PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")
PASSWORD = "pw"
PG_CACHE = "dspg"
MY_CACHE = "dsmy"
PG_DATABASES = ("psycopg2_test",)
MY_DATABASES = ("mysqldb_test", "test_pymysql", "test1", "test2")


class StartError(RuntimeError):
    """A private server did not come up; the message carries its log tail."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds, proc=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def tail(path, lines=8):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return f"({path}: {e})"


def run(cmd, log, **kw):
    with open(log, "a") as out:
        r = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kw)
    if r.returncode != 0:
        raise StartError(f"{cmd[0]} failed ({r.returncode}):\n{tail(log)}")


class Stack:
    """The servers of one run. Attributes are set as servers start."""

    def __init__(self, work):
        self.work = work
        self.cleanups = []
        self.pg_port = self.my_port = None
        self.wc = None

    def close(self):
        while self.cleanups:
            fn = self.cleanups.pop()
            try:
                fn()
            except Exception as e:  # cleanup goes on whatever one step does
                print(f"driver-suites: cleanup step failed: {e}")

    # --- PostgreSQL ---------------------------------------------------------
    def start_postgres(self):
        data = os.path.join(self.work, "pg")
        os.makedirs(data)
        shutil.chown(data, "postgres", "postgres")
        pwfile = os.path.join(data, "pwfile")
        with open(pwfile, "w") as f:
            f.write(PASSWORD + "\n")
        shutil.chown(pwfile, "postgres", "postgres")
        log = os.path.join(self.work, "initdb.log")
        run(["runuser", "-u", "postgres", "--", f"{PGBIN}/initdb", "-D", f"{data}/data", "-U", "postgres",
             "-E", "UTF8", "--locale=C", "--no-sync", "--auth-local=trust",
             "--auth-host=scram-sha-256", f"--pwfile={pwfile}"], log)
        self.pg_port = free_port()
        with open(f"{data}/data/postgresql.conf", "a") as f:
            f.write(f"""
# --- scripts/driver-suites ---
listen_addresses = '127.0.0.1'
port = {self.pg_port}
unix_socket_directories = '{data}'
max_connections = 300
max_prepared_transactions = 20
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
""")
        run(["runuser", "-u", "postgres", "--", f"{PGBIN}/pg_ctl", "-D", f"{data}/data", "-l",
             f"{data}/server.log", "-w", "-t", "60", "start"], log)
        self.cleanups.append(lambda: subprocess.run(
            ["runuser", "-u", "postgres", "--", f"{PGBIN}/pg_ctl", "-D", f"{data}/data", "-m", "immediate",
             "-w", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False))
        self.pg_sock = data
        self.reset_postgres()

    def reset_postgres(self):
        """Recreates the suites' databases (pg8000 and asyncpg use `postgres`), straight
        on the origin, so every pass starts from the same empty state."""
        # Two-phase-commit tests may leave prepared transactions, which block DROP DATABASE.
        for gid, db in self.psql_rows("template1", "SELECT gid, database FROM pg_prepared_xacts"):
            self.psql(db, f"ROLLBACK PREPARED '{gid}'")
        for db in ("postgres", *PG_DATABASES):
            self.psql("template1", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            self.psql("template1", f"CREATE DATABASE {db}")
            self.psql(db, "CREATE EXTENSION hstore")

    def psql_rows(self, db, sql):
        out = subprocess.run([f"{PGBIN}/psql", "-X", "-A", "-t", "-F", "\t", "-h", self.pg_sock, "-p",
                              str(self.pg_port), "-U", "postgres", "-d", db, "-c", sql],
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise StartError(f"psql failed: {out.stderr.strip()}")
        return [line.split("\t") for line in out.stdout.splitlines() if line]

    def psql(self, db, sql):
        run([f"{PGBIN}/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.pg_sock, "-p",
             str(self.pg_port), "-U", "postgres", "-d", db, "-c", sql], os.path.join(self.work, "psql.log"))

    # --- MariaDB ------------------------------------------------------------
    def start_mariadb(self):
        base = os.path.join(self.work, "maria")
        # A tmpdir of its own: MariaDB servers sharing /tmp clash over temp-table files
        # (a segfault in ha_maria::drop_table was seen).
        os.makedirs(f"{base}/data")
        os.makedirs(f"{base}/tmp")
        for d in (base, f"{base}/data", f"{base}/tmp"):
            shutil.chown(d, "mysql", "mysql")
        log = os.path.join(self.work, "maria-install.log")
        run(["mariadb-install-db", "--no-defaults", "--user=mysql", f"--datadir={base}/data",
             f"--tmpdir={base}/tmp", "--auth-root-authentication-method=normal", "--skip-test-db"], log)
        self.my_port = free_port()
        self.my_sock = f"{base}/mysqld.sock"
        ssl = self.mariadb_cert(base, log)
        errlog = f"{base}/error.log"
        proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", "--user=mysql", f"--datadir={base}/data", f"--tmpdir={base}/tmp",
             f"--port={self.my_port}",
             "--bind-address=127.0.0.1", f"--socket={self.my_sock}", f"--pid-file={base}/mysqld.pid",
             f"--log-error={errlog}", "--plugin-load-add=auth_ed25519", "--skip-log-bin",
             "--innodb-flush-log-at-trx-commit=0", "--local-infile=1", "--max-connections=500",
             "--skip-name-resolve", "--max-allowed-packet=64M", *ssl],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.cleanups.append(lambda: stop(proc))
        if not wait_port(self.my_port, 60, proc):
            raise StartError(f"mariadbd did not start:\n{tail(errlog)}")
        users = "".join(
            f"CREATE OR REPLACE USER 'root'@'{h}' IDENTIFIED BY '{PASSWORD}'; "
            f"GRANT ALL ON *.* TO 'root'@'{h}' WITH GRANT OPTION; " for h in ("127.0.0.1", "%"))
        # PyMySQL's tests also log in as test2 and create an ed25519 user with this function.
        extra = ("CREATE OR REPLACE USER test2 IDENTIFIED BY 'some password'; GRANT ALL ON test2.* TO test2; "
                 "CREATE FUNCTION IF NOT EXISTS ed25519_password RETURNS STRING SONAME 'auth_ed25519.so'; ")
        self.maria(users + extra)
        self.reset_mariadb()

    def reset_mariadb(self):
        """Recreates the suites' databases straight on the origin (see reset_postgres)."""
        self.maria("".join(f"DROP DATABASE IF EXISTS {d}; CREATE DATABASE {d} DEFAULT CHARACTER SET utf8mb4; "
                           for d in MY_DATABASES))

    def reset(self, protocol):
        if protocol == "pg":
            self.reset_postgres()
        else:
            self.reset_mariadb()

    @staticmethod
    def mariadb_cert(base, log):
        """A throwaway self-signed certificate, so suites that insist on TLS to the
        server (aiomysql's conftest) can run; returns mariadbd's TLS options."""
        cert, key = f"{base}/server-cert.pem", f"{base}/server-key.pem"
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=wirecache-test-mariadb", "-keyout", key, "-out", cert], log)
        for f in (cert, key):
            shutil.chown(f, "mysql", "mysql")
        return [f"--ssl-cert={cert}", f"--ssl-key={key}"]

    def maria(self, sql):
        run(["mariadb", "--no-defaults", "-uroot", "-S", self.my_sock, "-e", sql],
            os.path.join(self.work, "maria.log"))

    # --- wirecache ----------------------------------------------------------
    def start_wirecache(self, binary, tag):
        """Starts a fresh wirecache in front of both origins; returns a Wirecache."""
        wc = Wirecache(binary, os.path.join(self.work, f"wirecache-{tag}"), self.pg_port, self.my_port)
        self.cleanups.append(wc.stop)
        wc.start()
        return wc


def stop(proc, sig_timeout=20):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(sig_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Wirecache:
    """One wirecache process with caches `dspg` (PostgreSQL) and `dsmy` (MariaDB)."""

    def __init__(self, binary, directory, pg_origin, my_origin):
        self.binary, self.dir = binary, directory
        self.pg_origin, self.my_origin = pg_origin, my_origin
        self.pg_port, self.my_port, self.admin_port = free_port(), free_port(), free_port()
        self.proc = None

    def config(self):
        return f"""[listen]
postgres = "127.0.0.1:{self.pg_port}"
mariadb = "127.0.0.1:{self.my_port}"
admin = "127.0.0.1:{self.admin_port}"

[cache]
max_memory = "1GiB"
max_entry_size = "4MiB"
default_ttl = "1h"
min_ttl = "1s"
max_ttl = "1h"
max_connections = 2000
shutdown_grace = "2s"

[log]
level = "warn"

[[caches]]
id = "{PG_CACHE}"
protocol = "postgres"
origin = "127.0.0.1:{self.pg_origin}"

[[caches]]
id = "{MY_CACHE}"
protocol = "mariadb"
origin = "127.0.0.1:{self.my_origin}"
"""

    def start(self):
        os.makedirs(self.dir)
        cfg = os.path.join(self.dir, "wirecache.toml")
        with open(cfg, "w") as f:
            f.write(self.config())
        self.log = os.path.join(self.dir, "wirecache.log")
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen([self.binary, "--config", cfg], stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT)
        for port in (self.pg_port, self.my_port, self.admin_port):
            if not wait_port(port, 30, self.proc):
                raise StartError(f"wirecache did not listen on {port}:\n{tail(self.log)}")

    def stop(self):
        if self.proc is not None:
            stop(self.proc)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def metrics(self, names=("wirecache_hits_total", "wirecache_misses_total", "wirecache_fills_total")):
        """Sums of the named counters over all labels, from /metrics ({} if unreachable)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/metrics", timeout=10) as r:
                text = r.read().decode()
        except OSError:
            return {}
        sums = {n: 0.0 for n in names}
        for line in text.splitlines():
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name in sums:
                try:
                    sums[name] += float(line.rsplit(" ", 1)[-1])
                except ValueError:
                    pass
        return {n.removeprefix("wirecache_").removesuffix("_total"): int(v) for n, v in sums.items()}
