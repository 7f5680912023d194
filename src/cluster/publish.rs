//! A write's invalidation recorded in Redis: one Lua script moves the database's
//! generation fields, takes the next sequence number (creating the epoch if Redis
//! has none) and publishes the bump, atomically, so subscribers see bumps in
//! sequence order. The session holds the write's acknowledgement until the script
//! answered (or `ack_timeout` passed). A bump that could not be recorded is owed:
//! merged per database (bounded) and recorded once Redis answers again.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use tokio::sync::oneshot;

use super::wire::{self, Bump};
use super::{Cluster, Recording};

/// KEYS: epoch, seq, dbs, hash. ARGV: candidate epoch, channel, bump JSON, dbs member,
/// fields…
const RECORD: &str = r"
local e = redis.call('GET', KEYS[1])
if not e then e = ARGV[1]; redis.call('SET', KEYS[1], e) end
local s = redis.call('INCR', KEYS[2])
redis.call('SADD', KEYS[3], ARGV[4])
for i = 5, #ARGV do redis.call('HINCRBY', KEYS[4], ARGV[i], 1) end
redis.call('PUBLISH', ARGV[2], e .. '\n' .. s .. '\n' .. ARGV[3])
return s
";

static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(RECORD));

/// More owed fields than this for one database are owed as the whole database.
const MAX_OWED_FIELDS: usize = 256;
/// How often owed bumps are tried again.
const REPAY_EVERY: Duration = Duration::from_millis(200);

/// Bumps not yet recorded, per (cache, database).
#[derive(Debug, Default)]
pub(super) struct Owed {
    dbs: Mutex<HashMap<(String, String), BTreeSet<String>>>,
}

impl Owed {
    fn add(&self, cache: &str, db: &str, fields: Vec<String>) -> usize {
        let mut map = self.dbs.lock().unwrap_or_else(|e| e.into_inner());
        let set = map.entry((cache.to_owned(), db.to_owned())).or_default();
        set.extend(fields);
        if set.len() > MAX_OWED_FIELDS {
            let schema = set.contains(wire::SCHEMA);
            set.clear();
            set.insert(if schema { wire::SCHEMA } else { wire::WHOLE }.to_owned());
        }
        map.len()
    }

    /// What is owed now (it stays owed until [`Owed::paid`]).
    fn snapshot(&self) -> Vec<((String, String), BTreeSet<String>)> {
        let map = self.dbs.lock().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// `fields` of `key` are recorded: no longer owed. Returns how many databases
    /// still are.
    fn paid(&self, key: &(String, String), fields: &BTreeSet<String>) -> usize {
        let mut map = self.dbs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(set) = map.get_mut(key) {
            set.retain(|f| !fields.contains(f));
            if set.is_empty() {
                map.remove(key);
            }
        }
        map.len()
    }
}

/// Records a bump in the background; the receiver says whether it is in Redis.
pub(super) fn spawn(c: Arc<Cluster>, cache: &str, db: &str, fields: Vec<String>) -> Recording {
    let (tx, rx) = oneshot::channel();
    let (cache, db) = (cache.to_owned(), db.to_owned());
    tokio::spawn(async move {
        let seq = record(&c, &cache, &db, &fields).await;
        if seq.is_none() {
            owe(&c, &cache, &db, fields);
        }
        c.view.own_ended(seq);
        let _ = tx.send(seq.is_some());
    });
    rx
}

fn owe(c: &Cluster, cache: &str, db: &str, fields: Vec<String>) {
    c.figures.publish_failures.fetch_add(1, Ordering::Relaxed);
    let n = c.owed.add(cache, db, fields);
    c.figures.owed.store(n as u64, Ordering::Relaxed);
}

/// Runs the script once, within `ack_timeout`: the bump's sequence number, or
/// `None` if it was not recorded.
async fn record(c: &Cluster, cache: &str, db: &str, fields: &[String]) -> Option<u64> {
    let mut conn = c.connection()?;
    let bump = Bump {
        i: c.instance.to_string(),
        c: cache.to_owned(),
        d: db.to_owned(),
        f: fields.to_vec(),
        at: wire::now_micros(),
    };
    let json = serde_json::to_string(&bump).ok()?;
    let member = wire::member(cache, db);
    let names = &c.names;
    let mut inv = SCRIPT.prepare_invoke();
    inv.key(&names.epoch)
        .key(&names.seq)
        .key(&names.dbs)
        .key(names.hash(&member));
    let candidate = format!("{}-{}", c.instance, wire::now_micros());
    inv.arg(candidate)
        .arg(&names.channel)
        .arg(json)
        .arg(&member);
    for f in fields {
        inv.arg(f);
    }
    let run = inv.invoke_async::<u64>(&mut conn);
    match tokio::time::timeout(c.settings.ack_timeout, run).await {
        Ok(Ok(seq)) => {
            c.figures.published.fetch_add(1, Ordering::Relaxed);
            c.view.own_recorded(seq);
            Some(seq)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cluster: could not record an invalidation");
            None
        }
        Err(_) => {
            tracing::warn!("cluster: recording an invalidation timed out");
            None
        }
    }
}

/// Records owed bumps once Redis answers again, until the cluster is dropped.
pub(super) async fn repay(c: Weak<Cluster>) {
    loop {
        tokio::time::sleep(REPAY_EVERY).await;
        let Some(c) = c.upgrade() else { return };
        if c.figures.owed.load(Ordering::Relaxed) == 0 {
            continue;
        }
        for (key, fields) in c.owed.snapshot() {
            let list: Vec<String> = fields.iter().cloned().collect();
            if record(&c, &key.0, &key.1, &list).await.is_none() {
                // Still down: try again later.
                break;
            }
            let n = c.owed.paid(&key, &fields);
            c.figures.owed.store(n as u64, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owed_bumps_merge_per_database_and_stay_bounded() {
        let owed = Owed::default();
        assert_eq!(owed.add("c", "d", vec!["t:a".into()]), 1);
        assert_eq!(owed.add("c", "d", vec!["t:a".into(), "t:b".into()]), 1);
        assert_eq!(owed.add("c", "e", vec![wire::WHOLE.into()]), 2);
        let many: Vec<String> = (0..=MAX_OWED_FIELDS).map(|i| format!("t:{i}")).collect();
        owed.add("c", "d", many);
        let mut taken = owed.snapshot();
        taken.sort();
        let d: Vec<&str> = taken[0].1.iter().map(String::as_str).collect();
        assert_eq!(
            d,
            [wire::WHOLE],
            "too many tables are owed as the whole database"
        );
        assert_eq!(taken[1].0, ("c".to_owned(), "e".to_owned()));
        assert_eq!(owed.paid(&taken[1].0, &taken[1].1), 1);
        assert_eq!(owed.paid(&taken[0].0, &taken[0].1), 0);
        assert!(owed.snapshot().is_empty());
    }
}
