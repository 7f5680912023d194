//! Counters of one run: operations by kind, transactions by how they ended,
//! failures by class; summed over connections and rounds, printed at the end.

use std::fmt;

use super::model::{BeginKind, Ending, FailClass, Failure, Level};

#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Statements (or batches) sent.
    pub ops: u64,
    pub reads: u64,
    pub reads_in_tx: u64,
    pub writes: u64,
    pub batches: u64,
    pub ddl: u64,
    pub connects: u64,
    endings: [u64; Ending::ALL.len()],
    begins: [u64; BeginKind::ALL.len()],
    /// Transactions by isolation level.
    levels: [u64; Level::ALL.len()],
    /// Reads answered inside transactions, by isolation level.
    reads_by_level: [u64; Level::ALL.len()],
    failures: [u64; FailClass::ALL.len()],
    /// The first few unexpected failures, for the report.
    pub unexpected: Vec<String>,
}

impl Stats {
    pub fn ended(&mut self, begin: BeginKind, level: Level, e: Ending) {
        self.levels[level_index(level)] += 1;
        if let Some(i) = Ending::ALL.iter().position(|x| *x == e) {
            self.endings[i] += 1;
        }
        if let Some(i) = BeginKind::ALL.iter().position(|x| *x == begin) {
            self.begins[i] += 1;
        }
    }

    pub fn read_in_tx(&mut self, level: Level) {
        self.reads_in_tx += 1;
        self.reads_by_level[level_index(level)] += 1;
    }

    /// Transactions run at `level`, and the reads answered inside them.
    pub fn at_level(&self, level: Level) -> (u64, u64) {
        let i = level_index(level);
        (self.levels[i], self.reads_by_level[i])
    }

    pub fn failed(&mut self, f: &Failure) {
        if let Some(i) = FailClass::ALL.iter().position(|x| *x == f.class) {
            self.failures[i] += 1;
        }
        if f.class == FailClass::Other && self.unexpected.len() < 5 {
            self.unexpected.push(f.message.clone());
        }
    }

    pub fn transactions(&self) -> u64 {
        self.endings.iter().sum()
    }

    pub fn add(&mut self, o: &Stats) {
        self.ops += o.ops;
        self.reads += o.reads;
        self.reads_in_tx += o.reads_in_tx;
        self.writes += o.writes;
        self.batches += o.batches;
        self.ddl += o.ddl;
        self.connects += o.connects;
        for (a, b) in self.endings.iter_mut().zip(o.endings) {
            *a += b;
        }
        for (a, b) in self.begins.iter_mut().zip(o.begins) {
            *a += b;
        }
        for (a, b) in self.levels.iter_mut().zip(o.levels) {
            *a += b;
        }
        for (a, b) in self.reads_by_level.iter_mut().zip(o.reads_by_level) {
            *a += b;
        }
        for (a, b) in self.failures.iter_mut().zip(o.failures) {
            *a += b;
        }
        for u in &o.unexpected {
            if self.unexpected.len() < 5 {
                self.unexpected.push(u.clone());
            }
        }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  operations {} (reads {}, of them in transactions {}; writes {}; batches {}; ddl {}; connects {})",
            self.ops,
            self.reads,
            self.reads_in_tx,
            self.writes,
            self.batches,
            self.ddl,
            self.connects
        )?;
        let ends: Vec<String> = Ending::ALL
            .iter()
            .zip(self.endings)
            .map(|(e, n)| format!("{} {n}", e.as_str()))
            .collect();
        writeln!(
            f,
            "  transactions {} by end ({})",
            self.transactions(),
            ends.join(", ")
        )?;
        let begins: Vec<String> = BeginKind::ALL
            .iter()
            .zip(self.begins)
            .filter(|(_, n)| *n > 0)
            .map(|(b, n)| format!("{} {n}", b.as_str()))
            .collect();
        writeln!(f, "  transactions by begin ({})", begins.join(", "))?;
        let levels: Vec<String> = Level::ALL
            .iter()
            .map(|l| {
                let (txs, reads) = self.at_level(*l);
                format!("{} {txs} ({reads} reads)", l.as_str())
            })
            .collect();
        writeln!(
            f,
            "  transactions by level, with the reads answered inside them: {}",
            levels.join(", ")
        )?;
        let fails: Vec<String> = FailClass::ALL
            .iter()
            .zip(self.failures)
            .filter(|(_, n)| *n > 0)
            .map(|(c, n)| format!("{} {n}", c.as_str()))
            .collect();
        write!(
            f,
            "  statement errors: {}",
            if fails.is_empty() {
                "none".into()
            } else {
                fails.join(", ")
            }
        )
    }
}

fn level_index(level: Level) -> usize {
    Level::ALL.iter().position(|l| *l == level).unwrap_or(0)
}
