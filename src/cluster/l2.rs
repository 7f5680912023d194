//! The shared result tier (L2): results also kept in Redis, so a cold or scaled-out
//! instance answers from there instead of the origin.
//!
//! - A fill stored locally is also queued for Redis (bounded: past [`QUEUE`] writes
//!   or [`QUEUE_BYTES`] bytes it is dropped and counted); one task sends the queue,
//!   never the session. The value ([`super::l2_codec`]) carries the full key, the
//!   shared generations read *before* the origin query, and the result; Redis
//!   expires it at its TTL (capped by `l2_max_ttl`).
//! - A leader about to ask the origin asks the tier first (`GETRANGE` bounded by
//!   `l2_max_entry_size`, and `PTTL`, in one round trip within `l2_timeout`). An
//!   answer is used only if it decodes, holds the same full key, and was read at the
//!   same epoch and generations as this instance's view now; otherwise it is a miss.
//! - It is not asked while the bus is not up, while one of this instance's own writes
//!   is not in its view yet (recording, owed, or not applied back), or for a second
//!   after Redis was slow.
//!
//! It has its own connection, so large values never delay the bus's scripts.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::aio::ConnectionManager;
use tokio::sync::mpsc;

use super::l2_codec::{self, Corrupt, Stamp};
use super::l2_figures::{L2Drop, L2Error, L2Figures, L2Miss};
use super::{BusState, Cluster, wire};

/// Most writes waiting for Redis.
pub const QUEUE: usize = 1024;
/// Most bytes (results and keys) waiting for Redis.
pub const QUEUE_BYTES: u64 = 64 << 20;
/// After a lookup timed out, the tier is not asked for this long.
const COOL_DOWN: Duration = Duration::from_secs(1);

/// The tier's settings, from `[cluster]`.
#[derive(Debug, Clone, Copy)]
pub struct L2Limits {
    pub max_entry_size: u64,
    pub max_ttl: Duration,
    pub timeout: Duration,
}

/// One result on its way to Redis.
pub(super) struct Write {
    pub key: Vec<u8>,
    pub stamp: Stamp,
    pub payload: Bytes,
    pub ttl: Duration,
}

impl Write {
    pub(super) fn bytes(&self) -> u64 {
        (self.key.len() + self.payload.len()) as u64
    }
}

/// The tier of one process (inside [`Cluster`]).
pub struct L2 {
    limits: L2Limits,
    /// `prefix:l2:`, then the key's digest.
    key_prefix: String,
    pub(super) conn: RwLock<Option<ConnectionManager>>,
    queue: mpsc::Sender<Write>,
    pub(super) queued_bytes: AtomicU64,
    /// Microseconds since `base` until which lookups are not tried.
    cool_until: AtomicU64,
    base: Instant,
    pub figures: L2Figures,
}

/// What a lookup found.
pub enum Found {
    Hit(Entry),
    Miss(L2Miss),
}

/// A current entry read from the tier.
pub struct Entry {
    value: Vec<u8>,
    /// Where the result lies in `value`.
    payload: std::ops::Range<usize>,
    /// How long Redis keeps it still (at most `l2_max_ttl`).
    pub ttl: Duration,
}

impl Entry {
    /// The result's bytes.
    pub fn payload(&self) -> &[u8] {
        self.value.get(self.payload.clone()).unwrap_or_default()
    }
}

/// What a leader keeps to write its result to the tier once stored locally.
#[derive(Debug)]
pub struct Pending {
    /// The local key it was taken for (a fill of another key does not use it).
    pub local_key: Vec<u8>,
    key: Vec<u8>,
    stamp: Stamp,
}

/// The key of a request in every instance: cache, database, the namespace's
/// material (never this process's namespace ID) and the request's own parts.
pub fn shared_key(cache: &str, db: &str, namespace: &[u8], request: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(cache.len() + db.len() + namespace.len() + request.len() + 12);
    for part in [cache.as_bytes(), db.as_bytes(), namespace] {
        k.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_le_bytes());
        k.extend_from_slice(part);
    }
    k.extend_from_slice(request);
    k
}

/// The generation fields a read of `tables` depends on: the whole database, its
/// schema, and each table.
pub fn fields_of<'a>(tables: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut f = vec![wire::WHOLE.to_owned(), wire::SCHEMA.to_owned()];
    f.extend(tables.into_iter().map(|t| format!("{}{t}", wire::TABLE)));
    f
}

impl Pending {
    /// The shared key.
    pub fn key(&self) -> &[u8] {
        &self.key
    }
}

impl L2 {
    /// The tier, and the receiving end of its queue (for [`run`]).
    pub(super) fn new(prefix: &str, limits: L2Limits) -> (L2, mpsc::Receiver<Write>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let l2 = L2 {
            limits,
            key_prefix: format!("{prefix}:l2:"),
            conn: RwLock::new(None),
            queue: tx,
            queued_bytes: AtomicU64::new(0),
            cool_until: AtomicU64::new(0),
            base: Instant::now(),
            figures: L2Figures::default(),
        };
        (l2, rx)
    }

    pub fn limits(&self) -> L2Limits {
        self.limits
    }

    /// The Redis key of a shared key: the prefix and its 128-bit digest.
    pub fn redis_key(&self, key: &[u8]) -> String {
        let digest = xxhash_rust::xxh3::xxh3_128(key);
        format!("{}{digest:032x}", self.key_prefix)
    }

    pub(super) fn connection(&self) -> Option<ConnectionManager> {
        self.conn.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn now_micros(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn cooling(&self) -> bool {
        self.now_micros() < self.cool_until.load(Ordering::Relaxed)
    }

    fn cool_down(&self) {
        let until = self
            .now_micros()
            .saturating_add(COOL_DOWN.as_micros() as u64);
        self.cool_until.store(until, Ordering::Relaxed);
    }

    /// Queues a result stored locally for Redis; never waits.
    pub fn put(&self, pending: Pending, payload: Bytes, ttl: Duration) {
        let size = l2_codec::encoded_len(&pending.key, &pending.stamp, &payload);
        if size as u64 > self.limits.max_entry_size {
            self.figures.dropped(L2Drop::TooLarge);
            return;
        }
        let write = Write {
            key: pending.key,
            stamp: pending.stamp,
            payload,
            ttl: ttl.min(self.limits.max_ttl),
        };
        let bytes = write.bytes();
        if self.queued_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes > QUEUE_BYTES {
            self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            self.figures.dropped(L2Drop::QueueFull);
            return;
        }
        match self.queue.try_send(write) {
            Ok(()) => {
                self.figures.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                self.figures.dropped(L2Drop::QueueFull);
            }
        }
    }

    /// Judges a value read from Redis for `key`.
    fn judge(&self, c: &Cluster, key: &[u8], want: &Want<'_>, value: Vec<u8>, pttl: i64) -> Found {
        if value.is_empty() {
            return Found::Miss(L2Miss::Absent);
        }
        let decoded = match l2_codec::decode(&value) {
            Ok(d) => d,
            Err(Corrupt::Version(_)) => return Found::Miss(L2Miss::Version),
            Err(_) => return Found::Miss(L2Miss::Corrupt),
        };
        if decoded.key != key {
            return Found::Miss(L2Miss::Collision);
        }
        if !c
            .view
            .current(want.member, decoded.epoch, &decoded.fields, want.fields)
        {
            return Found::Miss(L2Miss::Stale);
        }
        // Every value is written with an expiry: none (-1) is not one of ours.
        let Ok(ms) = u64::try_from(pttl) else {
            return Found::Miss(if pttl == -1 {
                L2Miss::Corrupt
            } else {
                L2Miss::Absent
            });
        };
        let ttl = Duration::from_millis(ms).min(self.limits.max_ttl);
        // The layout ends with the result and an 8-byte checksum.
        let end = value.len().saturating_sub(8);
        let payload = end.saturating_sub(decoded.payload.len())..end;
        Found::Hit(Entry {
            value,
            payload,
            ttl,
        })
    }
}

/// What a lookup must match: the database (`cache/db`) and the fields this
/// instance's plan depends on.
pub struct Want<'a> {
    pub member: &'a str,
    pub fields: &'a [String],
}

impl Cluster {
    /// The shared result tier, if `cluster.l2` is on.
    pub fn l2(&self) -> Option<&L2> {
        self.l2.as_ref()
    }

    /// Whether the tier may be asked now: the bus is up, every own write is in the
    /// view, and Redis was not slow a moment ago.
    fn l2_may_read(&self, l2: &L2) -> bool {
        self.state() == BusState::Up
            && self.figures.owed.load(Ordering::SeqCst) == 0
            && self.view.own_settled(self.applied.borrow().seq)
            && !l2.cooling()
    }

    /// What to write with a result of `want` read from the origin after now: the
    /// shared generations it is read at. `None` if the tier is off or the view empty.
    pub fn l2_pending(&self, local_key: &[u8], key: Vec<u8>, want: &Want<'_>) -> Option<Pending> {
        self.l2.as_ref()?;
        let stamp = self.view.stamp(want.member, want.fields)?;
        Some(Pending {
            local_key: local_key.to_vec(),
            key,
            stamp,
        })
    }

    /// Looks `key` up in the tier (within `l2_timeout`). Counts misses; a hit is
    /// counted by the caller once it is installed.
    pub async fn l2_lookup(&self, key: &[u8], want: &Want<'_>) -> Found {
        let found = self.l2_ask(key, want).await;
        if let (Some(l2), Found::Miss(why)) = (&self.l2, &found) {
            l2.figures.miss(*why);
        }
        found
    }

    async fn l2_ask(&self, key: &[u8], want: &Want<'_>) -> Found {
        let Some(l2) = &self.l2 else {
            return Found::Miss(L2Miss::Unavailable);
        };
        let Some(mut conn) = l2.connection().filter(|_| self.l2_may_read(l2)) else {
            return Found::Miss(L2Miss::Unavailable);
        };
        let rkey = l2.redis_key(key);
        let mut pipe = redis::pipe();
        pipe.cmd("GETRANGE")
            .arg(&rkey)
            .arg(0)
            .arg(l2.limits.max_entry_size);
        pipe.cmd("PTTL").arg(&rkey);
        let started = Instant::now();
        let asked = pipe.query_async::<(Vec<u8>, i64)>(&mut conn);
        let answer = tokio::time::timeout(l2.limits.timeout, asked).await;
        l2.figures.lookup.record(started.elapsed());
        let (value, pttl) = match answer {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "cluster: shared tier lookup failed");
                l2.figures.error(L2Error::ReadFailed);
                return Found::Miss(L2Miss::Failed);
            }
            Err(_) => {
                l2.figures.error(L2Error::ReadTimeout);
                l2.cool_down();
                return Found::Miss(L2Miss::Failed);
            }
        };
        // Over the bound (GETRANGE read one byte more than it allows): not used.
        if value.len() as u64 > l2.limits.max_entry_size {
            return Found::Miss(L2Miss::Corrupt);
        }
        let found = l2.judge(self, key, want, value, pttl);
        if matches!(found, Found::Hit(_)) && !self.l2_may_read(l2) {
            // An own write began meanwhile: the view may be behind it.
            return Found::Miss(L2Miss::Unavailable);
        }
        found
    }
}
