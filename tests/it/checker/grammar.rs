//! The program generator: from a seeded [`Rng`], an endless stream of *units* for
//! one connection, each an autocommit statement or a whole transaction (how it
//! begins, its body, how it is meant to end). What is generated depends only on the
//! seed and the protocol's [`Caps`], never on what the server answered.

use super::model::{
    BeginKind, Caps, EndKind, GROUPS, KEYS, MAX_SPAN, Path, ReadShape, Stmt, WriteKind, group_of,
};
use super::rng::Rng;

/// One step of a connection's program.
#[derive(Debug, Clone)]
pub enum Unit {
    /// One statement (or batch) in autocommit mode.
    Auto(Stmt),
    Tx(Tx),
}

/// A generated transaction.
#[derive(Debug, Clone)]
pub struct Tx {
    /// `Stmt::Begin`, possibly carrying the first write.
    pub begin: Stmt,
    pub kind: BeginKind,
    pub body: Vec<Stmt>,
    /// Think time in milliseconds before each body statement (and, last, before the
    /// end): it widens the windows in which other connections read mid-transaction.
    pub pauses: Vec<u64>,
    pub end: EndKind,
}

/// What kind of program the generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Everything the protocol can do (the checker's runs).
    Mixed,
    /// Only autocommit reads and writes (the "behind wirecache" self-test).
    AutocommitOnly,
    /// Autocommit reads and updates of the hot keys, and read-only transactions at
    /// REPEATABLE READ or SERIALIZABLE that read the hot keys again and again, with
    /// pauses (the self-test of the snapshot checks).
    SnapshotProbe,
}

/// What the generator may produce.
#[derive(Debug, Clone, Copy)]
pub struct Grammar {
    pub caps: Caps,
    pub workload: Workload,
    /// DDL on scratch tables (alone, and as MySQL's implicit commit).
    pub ddl: bool,
    /// The group (table) this connection writes most: each table then has one main
    /// writer, so a commit's invalidation is not soon repeated by someone else's
    /// write, and a missed one shows as a stale hit.
    pub home: i64,
}

impl Grammar {
    pub fn unit(&self, rng: &mut Rng) -> Unit {
        #[derive(Clone, Copy)]
        enum Pick {
            Read,
            Write,
            Batch,
            Ddl,
            Tx,
        }
        let choices: &[(u64, Pick)] = match self.workload {
            Workload::AutocommitOnly => &[(60, Pick::Read), (40, Pick::Write)],
            Workload::SnapshotProbe => return self.probe(rng),
            Workload::Mixed => &[
                (300, Pick::Read),
                (12, Pick::Write),
                (20, Pick::Batch),
                (u64::from(self.ddl), Pick::Ddl),
                (67, Pick::Tx),
            ],
        };
        match rng.weighted(choices) {
            Pick::Read => Unit::Auto(read(rng)),
            Pick::Write => Unit::Auto(self.autocommit_write(rng)),
            Pick::Batch => {
                let n = rng.range(2, 4);
                Unit::Auto(Stmt::Batch((0..n).map(|_| shape(rng)).collect()))
            }
            Pick::Ddl => Unit::Auto(Stmt::ScratchDdl),
            Pick::Tx => Unit::Tx(self.tx(rng)),
        }
    }

    /// A unit of the snapshot probe: point reads and updates of two hot keys in
    /// autocommit (which fill the cache and invalidate it), or a transaction that
    /// reads the hot keys, some twice, with pauses in which others commit.
    fn probe(&self, rng: &mut Rng) -> Unit {
        // Two keys: a transaction soon rereads one that changed, and the cache soon
        // holds its new version again.
        let hot = |rng: &mut Rng| rng.range(1, 2);
        match rng.below(10) {
            0..=3 => Unit::Auto(Stmt::Read(ReadShape::Point(hot(rng)), path(rng))),
            4..=6 => Unit::Auto(Stmt::Write(WriteKind::Update, hot(rng), path(rng))),
            _ => {
                let kind = rng.pick(self.caps.snapshot_begins);
                let body: Vec<Stmt> = (0..rng.range(4, 8))
                    .map(|_| Stmt::Read(ReadShape::Point(hot(rng)), path(rng)))
                    .collect();
                let pauses = (0..=body.len()).map(|_| rng.range(1, 4) as u64).collect();
                Unit::Tx(Tx {
                    begin: Stmt::Begin(kind, None),
                    kind,
                    body,
                    pauses,
                    end: EndKind::Commit,
                })
            }
        }
    }

    /// A write outside a transaction (or sharing a string with its BEGIN): only an
    /// update where the protocol cannot insert or delete in one atomic statement.
    fn autocommit_write(&self, rng: &mut Rng) -> Stmt {
        match self.write(rng) {
            Stmt::Write(_, k, p) if !self.caps.atomic_insert_delete => {
                Stmt::Write(WriteKind::Update, k, p)
            }
            other => other,
        }
    }

    fn tx(&self, rng: &mut Rng) -> Tx {
        let kind = rng.pick(self.caps.begins);
        let mut ends = vec![
            (45, EndKind::Commit),
            (20, EndKind::Rollback),
            (12, EndKind::Error),
            (10, EndKind::Disconnect),
        ];
        if self.caps.implicit_commit {
            ends.push((13, EndKind::Implicit));
        }
        let mut end = rng.weighted(&ends);
        if end == EndKind::Implicit && kind != BeginKind::AutocommitOff && !self.ddl {
            // The implicit commit of other transactions is a DDL statement.
            end = EndKind::Commit;
        }
        let first = kind
            .carries_write()
            .then(|| match self.autocommit_write(rng) {
                Stmt::Write(k, key, _) => (k, key),
                _ => (WriteKind::Update, key(rng)),
            });
        let begin = Stmt::Begin(kind, first);
        let mut body = self.body(rng);
        if kind == BeginKind::AutocommitOff {
            body.insert(0, self.write(rng));
        }
        if end == EndKind::Error {
            // After the opening write, when the write is what opens the transaction.
            let from = usize::from(kind == BeginKind::AutocommitOff);
            let at = from + rng.below((body.len() - from) as u64 + 1) as usize;
            body.insert(at, Stmt::ForcedError);
        }
        let pauses = (0..=body.len())
            .map(|_| {
                if rng.chance(30) {
                    rng.range(1, 3) as u64
                } else {
                    0
                }
            })
            .collect();
        Tx {
            begin,
            kind,
            body,
            pauses,
            end,
        }
    }

    /// A transaction's body: reads and writes, some inside a savepoint that is
    /// rolled back to or released.
    fn body(&self, rng: &mut Rng) -> Vec<Stmt> {
        let mut body = Vec::new();
        let mut savepoints = 0u8;
        for _ in 0..rng.range(1, 5) {
            if rng.chance(12) {
                savepoints += 1;
                body.push(Stmt::Savepoint(savepoints));
                for _ in 0..rng.range(1, 2) {
                    body.push(self.body_stmt(rng));
                }
                body.push(if rng.chance(60) {
                    Stmt::RollbackTo(savepoints)
                } else {
                    Stmt::Release(savepoints)
                });
            } else {
                body.push(self.body_stmt(rng));
            }
        }
        body
    }

    fn body_stmt(&self, rng: &mut Rng) -> Stmt {
        if rng.chance(60) {
            read(rng)
        } else {
            self.write(rng)
        }
    }

    /// A write, three times in four to a key of the connection's home table.
    fn write(&self, rng: &mut Rng) -> Stmt {
        let key = if rng.chance(75) {
            let home: Vec<i64> = (1..=KEYS).filter(|k| group_of(*k) == self.home).collect();
            rng.pick(&home)
        } else {
            key(rng)
        };
        Stmt::Write(kind_of(rng), key, path(rng))
    }
}

/// Keys `1..=HOT` get half of all reads and writes, so that the same reads repeat
/// often enough to be served from the cache between the writes that matter.
const HOT: i64 = 4;

fn key(rng: &mut Rng) -> i64 {
    if rng.chance(60) {
        rng.range(1, HOT)
    } else {
        rng.range(1, KEYS)
    }
}

fn path(rng: &mut Rng) -> Path {
    if rng.chance(50) {
        Path::Text
    } else {
        Path::Prepared
    }
}

fn kind_of(rng: &mut Rng) -> WriteKind {
    rng.weighted(&[
        (60, WriteKind::Update),
        (20, WriteKind::Insert),
        (20, WriteKind::Delete),
    ])
}

fn shape(rng: &mut Rng) -> ReadShape {
    let g = if rng.chance(50) {
        1
    } else {
        rng.range(0, GROUPS - 1)
    };
    match rng.below(8) {
        0..=2 => ReadShape::Point(key(rng)),
        3 => {
            let a = key(rng);
            ReadShape::Range(a, (a + rng.range(0, MAX_SPAN - 1)).min(KEYS))
        }
        4 => ReadShape::Group(g),
        5 => ReadShape::Join(g),
        6 => ReadShape::Aggregate(g),
        _ => ReadShape::View(g),
    }
}

fn read(rng: &mut Rng) -> Stmt {
    Stmt::Read(shape(rng), path(rng))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: Caps = Caps {
        begins: &[BeginKind::Explicit, BeginKind::AutocommitOff],
        snapshot_begins: &[BeginKind::Explicit],
        implicit_commit: true,
        error_aborts_transaction: false,
        atomic_insert_delete: false,
        fresh_savepoint_restarts: true,
    };

    #[test]
    fn same_seed_same_program() {
        let g = Grammar {
            caps: CAPS,
            workload: Workload::Mixed,
            ddl: true,
            home: 1,
        };
        let render = |seed| {
            let mut rng = Rng::new(seed);
            (0..200)
                .map(|_| format!("{:?}", g.unit(&mut rng)))
                .collect::<Vec<_>>()
        };
        assert_eq!(render(3), render(3));
        assert_ne!(render(3), render(4));
    }

    #[test]
    fn autocommit_off_transactions_open_with_a_write() {
        let g = Grammar {
            caps: CAPS,
            workload: Workload::Mixed,
            ddl: true,
            home: 1,
        };
        let mut rng = Rng::new(11);
        let mut seen = 0;
        for _ in 0..2000 {
            if let Unit::Tx(tx) = g.unit(&mut rng)
                && tx.kind == BeginKind::AutocommitOff
            {
                seen += 1;
                assert!(matches!(tx.body.first(), Some(Stmt::Write(..))), "{tx:?}");
            }
        }
        assert!(seen > 10);
    }
}
