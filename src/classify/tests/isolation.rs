//! What statements do to isolation (`classify::isolation`), per dialect.

use crate::classify::IsolationChange::*;
use crate::classify::{Dialect, Isolation, isolation_change};

const PG: Dialect = Dialect::Postgres;
const MY: Dialect = Dialect::MariaDb;
const RC: Isolation = Isolation::ReadCommitted;
const RR: Isolation = Isolation::RepeatableRead;
const SER: Isolation = Isolation::Serializable;

#[test]
fn levels_in_either_spelling() {
    assert_eq!(Isolation::parse("'read committed'", PG), Some(RC));
    assert_eq!(Isolation::parse("READ-COMMITTED", MY), Some(RC));
    assert_eq!(Isolation::parse(" 'REPEATABLE-READ' ", MY), Some(RR));
    assert_eq!(Isolation::parse("serializable", PG), Some(SER));
    assert_eq!(Isolation::parse("read uncommitted", PG), Some(RC));
    assert_eq!(
        Isolation::parse("READ-UNCOMMITTED", MY),
        Some(Isolation::ReadUncommitted)
    );
    for bad in [
        "",
        "read",
        "serializable read",
        "default",
        "1",
        "read committed x",
    ] {
        assert_eq!(Isolation::parse(bad, PG), None, "{bad}");
    }
}

#[test]
fn postgres_statements() {
    let cases = [
        ("BEGIN", Some(Begin(None))),
        ("begin work", Some(Begin(None))),
        (
            "BEGIN ISOLATION LEVEL REPEATABLE READ",
            Some(Begin(Some(RR))),
        ),
        (
            "start transaction isolation level serializable, read only",
            Some(Begin(Some(SER))),
        ),
        (
            "BEGIN READ ONLY ISOLATION LEVEL READ COMMITTED;",
            Some(Begin(Some(RC))),
        ),
        ("START TRANSACTION ISOLATION LEVEL BOGUS", Some(Unknown)),
        (
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            Some(ThisTransaction(SER)),
        ),
        (
            "SET transaction_isolation = 'repeatable read'",
            Some(ThisTransaction(RR)),
        ),
        (
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ",
            Some(Session(RR)),
        ),
        (
            "SET default_transaction_isolation TO 'serializable'",
            Some(Session(SER)),
        ),
        (
            "set default_transaction_isolation='read committed'",
            Some(Session(RC)),
        ),
        (
            "SET SESSION default_transaction_isolation = serializable",
            Some(Session(SER)),
        ),
        (
            "SET LOCAL default_transaction_isolation = serializable",
            Some(Unknown),
        ),
        (
            "SET default_transaction_isolation TO DEFAULT",
            Some(Unknown),
        ),
        ("RESET ALL", Some(Unknown)),
        ("reset default_transaction_isolation", Some(Unknown)),
        ("RESET search_path", None),
        ("DISCARD ALL", Some(Unknown)),
        ("DISCARD PLANS", None),
        ("SET TRANSACTION READ ONLY", None),
        ("SET search_path = a, b", None),
        ("SELECT 'isolation'", None),
        (
            "BEGIN; SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            Some(Unknown),
        ),
        ("SELECT 1; RESET ALL", Some(Unknown)),
        ("BEGIN; SELECT 1", None),
    ];
    for (sql, want) in cases {
        assert_eq!(isolation_change(sql, PG), want, "{sql}");
    }
}

#[test]
fn mysql_statements() {
    let cases = [
        ("START TRANSACTION", Some(Begin(None))),
        (
            "START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT",
            Some(Begin(None)),
        ),
        ("BEGIN NOT ATOMIC SELECT 1", None),
        (
            "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
            Some(NextTransaction(RC)),
        ),
        (
            "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            Some(Session(SER)),
        ),
        (
            "SET GLOBAL TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            Some(Unknown),
        ),
        ("SET tx_isolation = 'READ-COMMITTED'", Some(Session(RC))),
        (
            "SET SESSION transaction_isolation='REPEATABLE-READ'",
            Some(Session(RR)),
        ),
        (
            "SET @@SESSION.tx_isolation = 'SERIALIZABLE'",
            Some(Session(SER)),
        ),
        (
            "SET @@local.transaction_isolation = 'READ-COMMITTED'",
            Some(Session(RC)),
        ),
        (
            "SET @@session.transaction_isolation = 'READ-UNCOMMITTED'",
            Some(Session(Isolation::ReadUncommitted)),
        ),
        ("SET @@tx_isolation = 'READ-COMMITTED'", Some(Unknown)),
        (
            "SET @@global.tx_isolation = 'READ-COMMITTED'",
            Some(Unknown),
        ),
        ("SET tx_isolation = @saved", Some(Unknown)),
        (
            "SET autocommit = 0, tx_isolation = 'READ-COMMITTED'",
            Some(Unknown),
        ),
        ("SET NAMES utf8mb4", None),
        ("SET autocommit = 0", None),
    ];
    for (sql, want) in cases {
        assert_eq!(isolation_change(sql, MY), want, "{sql}");
    }
}
