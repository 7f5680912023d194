"""suites.py — owns what is known about each driver's own test suite: where its
tests are in its unpacked source distribution, which of its own settings point
it at a server (read from each suite's test setup), and which run modes apply.

A `Target` is where one pass points the suite: the origin directly, or
wirecache with a cache ID prefix on the user name.
"""

import json
import os
import shutil
from dataclasses import dataclass, field

from origins import PASSWORD


@dataclass
class Target:
    port: int
    user: str  # the user name this pass logs in as (`dspg-postgres` through wirecache)
    prefix: str = ""  # cache ID the shim puts in front of hard-coded user names
    wc_ports: tuple = ()


@dataclass
class Suite:
    name: str
    dist: str  # sdist directory name, e.g. psycopg2-2.9.10
    protocol: str  # "pg" or "my"
    paths: list  # test paths relative to the run dir
    modes: tuple = ("shipped", "autocommit")
    extra_args: list = field(default_factory=list)
    tests_only: bool = False  # copy only the tests: the sdist's own package dir would shadow the built one

    def prepare(self, src_root, run_dir):
        """Copies the unpacked sdist (or just its tests) to run_dir; returns the cwd for pytest."""
        src = os.path.join(src_root, self.dist)
        if self.tests_only:
            for p in self.paths:
                shutil.copytree(os.path.join(src, p), os.path.join(run_dir, p))
        else:
            shutil.copytree(src, run_dir, dirs_exist_ok=True)
        return run_dir

    def env(self, t, run_dir):
        """The suite's own environment settings for target t."""
        return ENV[self.name](t, run_dir)

    def args(self, t):
        return [a.format(port=t.port) for a in self.extra_args]


def _psycopg2_env(t, run_dir):
    return {"PSYCOPG2_TESTDB": "psycopg2_test", "PSYCOPG2_TESTDB_HOST": "127.0.0.1",
            "PSYCOPG2_TESTDB_PORT": str(t.port), "PSYCOPG2_TESTDB_USER": t.user,
            "PSYCOPG2_TESTDB_PASSWORD": PASSWORD}


def _pg8000_env(t, run_dir):
    # pg8000's conftest hard-codes user "postgres"; the shim adds the cache ID.
    return {"PGHOST": "127.0.0.1", "PGPORT": str(t.port), "PGPASSWORD": PASSWORD}


def _asyncpg_env(t, run_dir):
    # With PGHOST set, asyncpg's _testbase uses the running server and libpq's variables.
    return {"PGHOST": "127.0.0.1", "PGPORT": str(t.port), "PGUSER": t.user, "PGPASSWORD": PASSWORD,
            "PGDATABASE": "postgres", "PGINSTALLATION": os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")}


def _mysqlclient_env(t, run_dir):
    # tests/configdb.py reads the [MySQLdb-tests] group of the file named by TESTDB.
    cnf = os.path.join(run_dir, "ds-mysqldb.cnf")
    with open(cnf, "w") as f:
        f.write(f"[MySQLdb-tests]\nhost = 127.0.0.1\nport = {t.port}\nuser = {t.user}\n"
                f"password = {PASSWORD}\ndatabase = mysqldb_test\n")
    return {"TESTDB": cnf}


def _aiomysql_env(t, run_dir):
    # conftest.py logs in as root with MYSQL_ROOT_PASSWORD; the shim adds the cache ID.
    return {"MYSQL_ROOT_PASSWORD": PASSWORD, "MYSQL_DB": "test_pymysql"}


def _pymysql_env(t, run_dir):
    # pymysql/tests/base.py reads databases.json next to it; the shim adds the cache ID.
    dbs = [{"host": "127.0.0.1", "port": t.port, "user": "root", "password": PASSWORD, "database": "test1",
            "use_unicode": True, "local_infile": True},
           {"host": "127.0.0.1", "port": t.port, "user": "test2", "password": "some password", "database": "test2"}]
    with open(os.path.join(run_dir, "pymysql", "tests", "databases.json"), "w") as f:
        json.dump(dbs, f)
    return {}


ENV = {"psycopg2": _psycopg2_env, "pg8000": _pg8000_env, "asyncpg": _asyncpg_env,
       "mysqlclient": _mysqlclient_env, "aiomysql": _aiomysql_env, "pymysql": _pymysql_env}

SUITES = {
    "psycopg2": Suite("psycopg2", "psycopg2-2.9.10", "pg", ["tests"]),
    "pg8000": Suite("pg8000", "pg8000-1.31.6", "pg", ["test"], extra_args=["--benchmark-disable"]),
    "mysqlclient": Suite("mysqlclient", "mysqlclient-2.3.2", "my", ["tests"]),
    "aiomysql": Suite("aiomysql", "aiomysql-0.3.2", "my", ["tests"],
                      extra_args=["--mysql-address=127.0.0.1:{port}"], tests_only=True),
    # asyncpg has no autocommit switch: outside a transaction block it always autocommits.
    "asyncpg": Suite("asyncpg", "asyncpg-0.32.0", "pg", ["tests"], modes=("shipped",), tests_only=True),
    # PyMySQL ships no tests in its sdist: only with PYMYSQL_SRC=<a checkout you provide>
    # (run.sh never fetches it). Its own package dir is what the tests import.
    "pymysql": Suite("pymysql", os.environ.get("PYMYSQL_SRC", "PYMYSQL_SRC-not-set"), "my", ["pymysql"]),
}
