//! The checker's data model, shared by every protocol: the key space, the shapes of
//! reads and writes, the statements a program is made of, and what a driver answers.
//!
//! Schema every driver creates (in its own dialect): `kv_<g>(id, grp, ver)` holds
//! the rows of group `g` (one table per group, so that a write invalidates a quarter
//! of the cached reads, not all), `kv_view` all of them; `seqs(id, ver)` holds, per key, the version of its last
//! delete. Updates set `ver = ver + 1` under the row lock. Inserts and deletes lock
//! the key's `seqs` row first: an insert takes `seqs.ver + 1`; a delete of a row at
//! version `d` sets `seqs.ver = d + 1`, the version of "absent". So per key,
//! versions grow in commit order, deletes included. No triggers: a trigger makes
//! wirecache invalidate the whole database at every write, which would leave the
//! cache nearly empty and the checker little to check.
//! `grps(grp, name)` is a static table for joins.

/// Keys are `1..=KEYS`; key `k` belongs to group `k % GROUPS`.
pub const KEYS: i64 = 24;
pub const GROUPS: i64 = 4;
/// Longest `BETWEEN` range.
pub const MAX_SPAN: i64 = 5;

pub fn group_of(key: i64) -> i64 {
    key % GROUPS
}

/// A key's state at one version: present (a row with `ver`) or absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub ver: i64,
    pub present: bool,
}

impl State {
    pub fn describe(self) -> String {
        if self.present {
            format!("v{}", self.ver)
        } else {
            format!("absent@v{}", self.ver)
        }
    }
}

/// How a statement travels: as text (simple query / COM_QUERY) or prepared
/// (extended protocol / COM_STMT_EXECUTE) with parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Text,
    Prepared,
}

/// What a read asks for; each shape knows which keys its answer covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadShape {
    Point(i64),
    /// `BETWEEN a AND b` in the table of `a`: covers the keys of `a..=b` it holds.
    Range(i64, i64),
    Group(i64),
    /// `kv` joined with `grps`, selecting a group by its name.
    Join(i64),
    /// `max(ver)` per id of one group (GROUP BY).
    Aggregate(i64),
    /// One group through `kv_view`.
    View(i64),
}

impl ReadShape {
    /// The keys the answer covers: a covered key missing from the rows is absent.
    pub fn keys(self) -> Vec<i64> {
        match self {
            ReadShape::Point(k) => vec![k],
            ReadShape::Range(a, b) => (a..=b).filter(|k| group_of(*k) == group_of(a)).collect(),
            ReadShape::Group(g)
            | ReadShape::Join(g)
            | ReadShape::Aggregate(g)
            | ReadShape::View(g) => (1..=KEYS).filter(|k| group_of(*k) == g).collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// `ver = ver + 1`; answers the new version, or nothing if the row is absent.
    Update,
    /// Inserts the row; answers its version; a duplicate key is an error.
    Insert,
    /// Deletes the row; answers the version it had, or nothing if absent.
    Delete,
}

impl WriteKind {
    /// The state a write leaves, from the version the driver returned.
    pub fn state_after(self, returned: i64) -> State {
        match self {
            WriteKind::Update | WriteKind::Insert => State {
                ver: returned,
                present: true,
            },
            WriteKind::Delete => State {
                ver: returned + 1,
                present: false,
            },
        }
    }
}

/// Every way the checker begins a transaction; a protocol supports a subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeginKind {
    /// PostgreSQL `BEGIN` (simple query, as psql/psycopg send it); MySQL `START TRANSACTION`.
    Explicit,
    /// PostgreSQL `START TRANSACTION` over the extended protocol (JDBC-like); MySQL `BEGIN`.
    ExplicitAlt,
    /// The begin and the first write in one text (multi-statement) string.
    WithFirstWrite,
    /// PostgreSQL: `BEGIN` and the first write pipelined in one batch.
    PipelinedWithFirstWrite,
    /// PostgreSQL `BEGIN ISOLATION LEVEL REPEATABLE READ`.
    RepeatableRead,
    /// PostgreSQL `BEGIN ISOLATION LEVEL SERIALIZABLE`.
    Serializable,
    /// MySQL `SET autocommit = 0`; the first write opens the transaction.
    AutocommitOff,
}

impl BeginKind {
    pub const ALL: [BeginKind; 7] = [
        BeginKind::Explicit,
        BeginKind::ExplicitAlt,
        BeginKind::WithFirstWrite,
        BeginKind::PipelinedWithFirstWrite,
        BeginKind::RepeatableRead,
        BeginKind::Serializable,
        BeginKind::AutocommitOff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BeginKind::Explicit => "explicit",
            BeginKind::ExplicitAlt => "explicit_alt",
            BeginKind::WithFirstWrite => "with_first_write",
            BeginKind::PipelinedWithFirstWrite => "pipelined_with_first_write",
            BeginKind::RepeatableRead => "repeatable_read",
            BeginKind::Serializable => "serializable",
            BeginKind::AutocommitOff => "autocommit_off",
        }
    }

    /// The begin carries the first write with it.
    pub fn carries_write(self) -> bool {
        matches!(
            self,
            BeginKind::WithFirstWrite | BeginKind::PipelinedWithFirstWrite
        )
    }
}

/// How a generated transaction is meant to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndKind {
    Commit,
    Rollback,
    /// MySQL: `SET autocommit = 1` (after `SET autocommit = 0`) or DDL on a scratch table.
    Implicit,
    /// A statement fails (duplicate key), then COMMIT is sent.
    Error,
    /// The client drops the connection and reconnects.
    Disconnect,
}

/// How a transaction really ended, as the checker counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Committed,
    ImplicitlyCommitted,
    RolledBack,
    /// An error rolled the whole transaction back (PostgreSQL aborted state,
    /// MySQL deadlock); nothing of it was committed.
    ErrorRolledBack,
    /// A statement failed but the transaction went on and committed.
    ErrorThenCommitted,
    Disconnected,
    /// The COMMIT's answer was lost: it may or may not have committed.
    Unknown,
}

impl Ending {
    pub const ALL: [Ending; 7] = [
        Ending::Committed,
        Ending::ImplicitlyCommitted,
        Ending::RolledBack,
        Ending::ErrorRolledBack,
        Ending::ErrorThenCommitted,
        Ending::Disconnected,
        Ending::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Committed => "commit",
            Ending::ImplicitlyCommitted => "implicit_commit",
            Ending::RolledBack => "rollback",
            Ending::ErrorRolledBack => "error_rollback",
            Ending::ErrorThenCommitted => "error_then_commit",
            Ending::Disconnected => "disconnect",
            Ending::Unknown => "unknown",
        }
    }

    pub fn committed(self) -> bool {
        matches!(
            self,
            Ending::Committed | Ending::ImplicitlyCommitted | Ending::ErrorThenCommitted
        )
    }
}

/// One statement (or one batch) a driver sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stmt {
    Read(ReadShape, Path),
    Write(WriteKind, i64, Path),
    /// Several reads in one round trip (pipelined, or one multi-statement string).
    Batch(Vec<ReadShape>),
    /// Begins a transaction; with `Some(write)` the first write travels with it.
    Begin(BeginKind, Option<(WriteKind, i64)>),
    Commit,
    Rollback,
    /// Ends the transaction the protocol's implicit way (MySQL only).
    ImplicitCommit(BeginKind),
    /// `SET autocommit = 1` after a transaction begun with `SET autocommit = 0`.
    RestoreAutocommit,
    Savepoint(u8),
    RollbackTo(u8),
    Release(u8),
    /// A statement that always fails: a duplicate key in `grps`.
    ForcedError,
    /// Harmless DDL on the connection's own scratch table.
    ScratchDdl,
}

/// A driver's answer to a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `(id, ver)` rows of a read.
    Rows(Vec<(i64, i64)>),
    /// One row set per read of a batch.
    Batch(Vec<Vec<(i64, i64)>>),
    /// The version a write returned (see [`WriteKind`]), `None` if it touched no row.
    Wrote(Option<i64>),
    Done,
}

/// Why a statement failed, as far as the checker cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailClass {
    Duplicate,
    Deadlock,
    /// Serialization failure (SQLSTATE 40001: PostgreSQL REPEATABLE READ and
    /// SERIALIZABLE): the transaction is rolled back, an expected outcome.
    Serialization,
    LockTimeout,
    /// PostgreSQL "current transaction is aborted".
    Aborted,
    /// The connection is gone.
    Connection,
    /// Anything else: unexpected, reported as a checker finding.
    Other,
}

impl FailClass {
    pub const ALL: [FailClass; 7] = [
        FailClass::Duplicate,
        FailClass::Deadlock,
        FailClass::Serialization,
        FailClass::LockTimeout,
        FailClass::Aborted,
        FailClass::Connection,
        FailClass::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailClass::Duplicate => "duplicate",
            FailClass::Deadlock => "deadlock",
            FailClass::Serialization => "serialization",
            FailClass::LockTimeout => "lock_timeout",
            FailClass::Aborted => "aborted",
            FailClass::Connection => "connection",
            FailClass::Other => "other",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub class: FailClass,
    pub message: String,
}

/// A transaction's isolation level, as the checker counts transactions and reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

impl Level {
    pub const ALL: [Level; 3] = [
        Level::ReadCommitted,
        Level::RepeatableRead,
        Level::Serializable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::ReadCommitted => "read_committed",
            Level::RepeatableRead => "repeatable_read",
            Level::Serializable => "serializable",
        }
    }
}

/// What the reads inside a transaction must reflect, by how the origin runs its
/// level (see [`super::judge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotRule {
    /// Each statement sees what was committed before it started (READ COMMITTED):
    /// the floor is what was acknowledged before the read was sent.
    PerStatement,
    /// One snapshot for the whole transaction (REPEATABLE READ; PostgreSQL's
    /// SERIALIZABLE), taken no earlier than its begin was sent and no later than
    /// its first read was answered: the floor is what was acknowledged before the
    /// begin, nothing sent after that first answer may show, and a key reads the
    /// same every time until the transaction writes it.
    FromBegin,
    /// Every read is a locking read of the latest committed data whose locks are
    /// held to the end (InnoDB's SERIALIZABLE): the floor is per statement, and a
    /// key reads the same every time until the transaction writes it.
    Locked,
}

impl SnapshotRule {
    /// Two reads of a key must agree unless the transaction wrote it in between.
    pub fn repeatable(self) -> bool {
        matches!(self, SnapshotRule::FromBegin | SnapshotRule::Locked)
    }
}

/// What a protocol's driver can do, for the program generator.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub begins: &'static [BeginKind],
    /// How the snapshot probe (the self-test of snapshots) begins its transactions:
    /// at REPEATABLE READ or SERIALIZABLE where a begin names the level, else at the
    /// connection's level.
    pub snapshot_begins: &'static [BeginKind],
    /// The protocol has an implicit commit (MySQL).
    pub implicit_commit: bool,
    /// A failed statement aborts the whole transaction (PostgreSQL).
    pub error_aborts_transaction: bool,
    /// Inserts and deletes are single statements, so they may run in autocommit
    /// (PostgreSQL, with writable CTEs); otherwise only inside transactions.
    pub atomic_insert_delete: bool,
    /// `ROLLBACK TO` a savepoint taken before the transaction first touched a table
    /// ends the storage engine's transaction: its snapshot and its locks go, and the
    /// next read takes a new snapshot (MariaDB 10.11: the engine was not yet in the
    /// transaction when the savepoint was set, so it is rolled back whole).
    pub fresh_savepoint_restarts: bool,
}
