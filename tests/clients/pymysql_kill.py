"""PyMySQL's ways of killing through wirecache (tests/mysql_kill.rs).

Usage: pymysql_kill.py HOST PORT USER PASSWORD. Prints one "name=value" line per
check and "ok" last; raises (exit 1) on the first wrong answer.
"""
import sys
import threading
import time

import pymysql


def connect(host, port, user, password):
    return pymysql.connect(host=host, port=int(port), user=user, password=password,
                           autocommit=True)


def is_dead(conn):
    try:
        cur = conn.cursor()
        cur.execute("SELECT CONNECTION_ID()")
        cur.fetchall()
    except (pymysql.err.OperationalError, pymysql.err.InterfaceError):
        return True
    return False


def main():
    args = sys.argv[1:5]
    victim, killer = connect(*args), connect(*args)
    assert victim.thread_id() != 0, victim.thread_id()
    assert victim.thread_id() != killer.thread_id()
    print(f"thread_ids={victim.thread_id()},{killer.thread_id()}")

    # KILL QUERY from a second connection interrupts a long query.
    outcome = {}

    def sleeper():
        started = time.monotonic()
        try:
            cur = victim.cursor()
            cur.execute("SELECT SLEEP(10)")
            outcome["result"] = cur.fetchall()
        except pymysql.err.OperationalError as e:
            outcome["error"] = e.args[0]
        outcome["seconds"] = time.monotonic() - started

    t = threading.Thread(target=sleeper)
    t.start()
    time.sleep(0.5)
    killer.query(f"KILL QUERY {victim.thread_id()}")
    t.join(15)
    assert outcome.get("seconds", 99) < 5, outcome
    print(f"kill_query={outcome.get('error', outcome.get('result'))}")
    cur = victim.cursor()
    cur.execute("SELECT 40 + 2")
    assert cur.fetchone()[0] == 42
    print("victim_alive=yes")

    # test_issue_36's pattern: conn.kill(other.thread_id()) ends the other connection.
    killer.kill(victim.thread_id())
    assert is_dead(victim)
    print("victim_killed=yes")

    # conn.kill(conn.thread_id()): a connection ends itself.
    self_killer = connect(*args)
    try:
        self_killer.kill(self_killer.thread_id())
        print("self_kill=ok")
    except pymysql.err.OperationalError as e:
        print(f"self_kill={e.args[0]}")
    assert is_dead(self_killer)
    killer.close()
    print("ok")


if __name__ == "__main__":
    main()
