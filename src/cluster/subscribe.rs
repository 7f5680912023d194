//! The subscription: applies other instances' bumps to the local counters, in
//! sequence order, and re-reads the shared generations whenever it may have missed
//! messages: on (re)subscribing, on a skipped sequence number, on a new epoch, and
//! when Redis's sequence stays ahead of what arrived (a stuck subscription). A
//! re-read bumps every field whose shared value differs from the one last seen; a new
//! epoch (Redis lost its data) voids everything local. Reconnects with backoff until
//! the cluster is dropped.

use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Weak};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::l2_view::Seen;
use super::wire::{self, Message};
use super::{Applied, Cluster, Resync};

/// KEYS: epoch, seq, dbs. ARGV: candidate epoch, hash prefix.
const READ_ALL: &str = r"
local e = redis.call('GET', KEYS[1])
if not e then e = ARGV[1]; redis.call('SET', KEYS[1], e) end
local s = tonumber(redis.call('GET', KEYS[2]) or '0')
local out = {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  table.insert(out, m)
  table.insert(out, redis.call('HGETALL', ARGV[2] .. m))
end
return {e, s, out}
";

static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(READ_ALL));

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Connecting, subscribing and each command of the subscription's own.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the subscription checks Redis's sequence against what arrived.
const HEALTH_EVERY: Duration = Duration::from_millis(500);
/// How long Redis's sequence may stay ahead before the generations are re-read.
const LAG_LIMIT: Duration = Duration::from_secs(1);

/// Why a subscription ended.
#[derive(Debug)]
enum End {
    /// The cluster was dropped.
    Dropped,
    Failed(String),
}

/// Runs the subscription until the cluster is dropped.
pub(super) async fn run(c: Weak<Cluster>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        match subscription(&c, &mut backoff).await {
            End::Dropped => return,
            End::Failed(why) => {
                let Some(cl) = c.upgrade() else { return };
                if cl.state() != super::BusState::Down {
                    tracing::warn!(reason = %why, "cluster bus down");
                }
                cl.figures.set_down();
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn timed<T>(f: impl Future<Output = redis::RedisResult<T>>) -> Result<T, End> {
    match tokio::time::timeout(IO_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(End::Failed(e.to_string())),
        Err(_) => Err(End::Failed("timed out".to_owned())),
    }
}

/// One subscription: connect, subscribe, re-read, then apply messages until it fails.
async fn subscription(c: &Weak<Cluster>, backoff: &mut Duration) -> End {
    let Some(cl) = c.upgrade() else {
        return End::Dropped;
    };
    let conn = match connection(&cl).await {
        Ok(conn) => conn,
        Err(end) => return end,
    };
    let mut pubsub = match timed(cl.client.get_async_pubsub()).await {
        Ok(p) => p,
        Err(end) => return end,
    };
    if let Err(end) = timed(pubsub.subscribe(&cl.names.channel)).await {
        return end;
    }
    if let Err(end) = resync(&cl, conn.clone(), Resync::Subscribed).await {
        return end;
    }
    if cl.state() != super::BusState::Up {
        tracing::info!(instance = %cl.instance, "cluster bus up");
    }
    cl.figures.set_up();
    *backoff = MIN_BACKOFF;
    drop(cl);
    let mut stream = pubsub.into_on_message();
    let mut tick = tokio::time::interval(HEALTH_EVERY);
    let mut behind_since: Option<Instant> = None;
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(msg) = msg else {
                    return End::Failed("subscription closed".to_owned());
                };
                let Some(cl) = c.upgrade() else { return End::Dropped };
                if let Err(end) = on_message(&cl, &conn, msg.get_payload_bytes()).await {
                    return end;
                }
            }
            _ = tick.tick() => {
                let Some(cl) = c.upgrade() else { return End::Dropped };
                if let Err(end) = health(&cl, &conn, &mut behind_since).await {
                    return end;
                }
            }
        }
    }
}

/// The command connection, made once and kept (it reconnects by itself).
async fn connection(c: &Cluster) -> Result<ConnectionManager, End> {
    if let Some(conn) = c.connection() {
        return Ok(conn);
    }
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(IO_TIMEOUT))
        .set_response_timeout(Some(IO_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(MAX_BACKOFF);
    let conn = timed(c.client.get_connection_manager_with_config(config)).await?;
    *c.conn.write().unwrap_or_else(|e| e.into_inner()) = Some(conn.clone());
    Ok(conn)
}

/// One message: applied if it is the next in sequence; otherwise re-read.
async fn on_message(c: &Cluster, conn: &ConnectionManager, payload: &[u8]) -> Result<(), End> {
    c.figures.received.fetch_add(1, Ordering::Relaxed);
    let Some(m) = wire::decode(payload) else {
        // A lost bump shows up as a gap in the sequence of the next one.
        c.figures.undecodable.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    };
    let applied = c.applied.borrow().clone();
    if applied.epoch.as_deref() != Some(m.epoch.as_str()) {
        return resync(c, conn.clone(), Resync::Epoch).await;
    }
    if m.seq <= applied.seq {
        return Ok(());
    }
    if m.seq != applied.seq + 1 {
        return resync(c, conn.clone(), Resync::Gap).await;
    }
    apply(c, &m);
    c.applied.send_modify(|a| a.seq = m.seq);
    Ok(())
}

/// Applies the next bump to the view (before its sequence number is taken as
/// applied), and to the local counters if it is another instance's (this one
/// applied its own already).
fn apply(c: &Cluster, m: &Message) {
    let b = &m.bump;
    c.view.bumped(&wire::member(&b.c, &b.d), &b.f);
    if *b.i != *c.instance {
        c.apply_local(&b.c, &b.d, &b.f);
        let lag = wire::now_micros().saturating_sub(b.at);
        c.figures.lag.record(Duration::from_micros(lag));
    }
}

/// Checks that Redis answers and that its sequence is not ahead for too long.
async fn health(
    c: &Cluster,
    conn: &ConnectionManager,
    behind_since: &mut Option<Instant>,
) -> Result<(), End> {
    let mut conn2 = conn.clone();
    let mut cmd = redis::cmd("GET");
    cmd.arg(&c.names.seq);
    let seq: Option<u64> = timed(cmd.query_async(&mut conn2)).await?;
    if seq.unwrap_or(0) <= c.applied.borrow().seq {
        *behind_since = None;
        return Ok(());
    }
    match behind_since {
        Some(since) if since.elapsed() > LAG_LIMIT => {
            *behind_since = None;
            resync(c, conn.clone(), Resync::Lag).await
        }
        Some(_) => Ok(()),
        None => {
            *behind_since = Some(Instant::now());
            Ok(())
        }
    }
}

/// The shared generations as Redis holds them: epoch, sequence, and each database's
/// fields.
type Shared = (String, u64, Vec<redis::Value>);

/// Re-reads the shared generations and bumps whatever moved since last seen; a new
/// epoch voids everything local.
async fn resync(c: &Cluster, mut conn: ConnectionManager, why: Resync) -> Result<(), End> {
    c.figures.resynced(why);
    let candidate = format!("{}-{}", c.instance, wire::now_micros());
    let hash_prefix = c.names.hash("");
    let mut inv = SCRIPT.prepare_invoke();
    inv.key(&c.names.epoch).key(&c.names.seq).key(&c.names.dbs);
    inv.arg(candidate).arg(hash_prefix);
    let (epoch, seq, dbs): Shared = timed(inv.invoke_async(&mut conn)).await?;
    let known = c.applied.borrow().epoch.clone();
    match c.view.replace(&epoch, parse_dbs(dbs)) {
        Some(moved) if known.as_deref() == Some(epoch.as_str()) => {
            for (member, fields) in &moved {
                if let Some((cache, db)) = wire::split_member(member) {
                    c.apply_local(cache, db, fields);
                }
            }
        }
        _ => {
            if known.is_some() {
                tracing::warn!(
                    "cluster: Redis has a new epoch (it lost its data): every entry is void"
                );
            }
            c.void_all();
        }
    }
    let epoch: Arc<str> = epoch.into();
    c.applied.send_replace(Applied {
        epoch: Some(epoch),
        seq,
    });
    Ok(())
}

/// `[member, [field, value, …], …]` as read.
fn parse_dbs(dbs: Vec<redis::Value>) -> Seen {
    let mut out = Seen::new();
    let mut it = dbs.into_iter();
    while let (Some(m), Some(h)) = (it.next(), it.next()) {
        let (Ok(member), Ok(pairs)) = (
            redis::from_redis_value::<String>(m),
            redis::from_redis_value::<Vec<(String, i64)>>(h),
        ) else {
            continue;
        };
        out.insert(member, pairs.into_iter().collect());
    }
    out
}
