//! The pool's contract with a fake connection: reuse, the size limit and its queue,
//! broken connections never handed out, lifetime and idle timeout.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

struct Fake {
    id: usize,
    alive: bool,
}

impl Conn for Fake {
    fn alive(&mut self) -> bool {
        self.alive
    }
}

fn limits() -> Limits {
    Limits {
        size: 2,
        min_idle: 0,
        max_lifetime: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        queue_timeout: Duration::from_millis(50),
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

async fn open() -> Result<Fake, std::io::Error> {
    Ok(Fake {
        id: NEXT.fetch_add(1, Ordering::Relaxed),
        alive: true,
    })
}

fn id(lease: &mut Lease<Fake>) -> usize {
    lease.conn().map_or(usize::MAX, |c| c.id)
}

async fn lease(pool: &Pool<Fake>) -> Lease<Fake> {
    match pool.lease(open).await {
        Ok(l) => l,
        Err(e) => panic!("lease: {e}"),
    }
}

fn give_back(mut lease: Lease<Fake>) {
    let conn = lease.take();
    if let Some(conn) = conn {
        lease.give_back(conn);
    }
}

#[tokio::test]
async fn a_returned_connection_is_lent_again() {
    let m = Arc::new(PoolMetrics::default());
    let pool = Pool::new(limits(), m.clone());
    let mut a = lease(&pool).await;
    let first = id(&mut a);
    assert_eq!(m.active.get(), 1);
    give_back(a);
    assert_eq!((m.active.get(), m.idle.get()), (0, 1));
    let mut b = lease(&pool).await;
    assert_eq!(id(&mut b), first);
    assert_eq!(m.opened.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_full_pool_makes_clients_wait_then_refuses_them() {
    let m = Arc::new(PoolMetrics::default());
    let pool = Pool::new(limits(), m.clone());
    let a = lease(&pool).await;
    let _b = lease(&pool).await;
    let third = pool.lease(open).await;
    assert!(matches!(third, Err(LeaseError::QueueTimeout(_))));
    assert_eq!(m.closed.load(Ordering::Relaxed), 0);
    assert_eq!(m.queue_timeouts.load(Ordering::Relaxed), 1);
    // A place freed while a client waits is its.
    let waiting = tokio::spawn({
        let pool = pool.clone();
        async move { pool.lease(open).await.is_ok() }
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    give_back(a);
    assert!(waiting.await.unwrap_or(false));
    assert_eq!(m.waiting.get(), 0);
}

/// `try_lease_idle` lends only what is idle now: it never opens a connection and never
/// waits for a place.
#[tokio::test]
async fn an_idle_lease_neither_opens_nor_waits() {
    let m = Arc::new(PoolMetrics::default());
    let pool = Pool::new(limits(), m.clone());
    assert!(pool.try_lease_idle().is_none(), "nothing idle yet");
    assert_eq!(m.opened.load(Ordering::Relaxed), 0);
    let mut a = lease(&pool).await;
    let first = id(&mut a);
    give_back(a);
    let mut b = pool.try_lease_idle().expect("the idle connection");
    assert_eq!(id(&mut b), first);
    assert_eq!((m.active.get(), m.idle.get()), (1, 0));
    give_back(b);
    assert_eq!((m.active.get(), m.idle.get()), (0, 1));
    // Every place taken: none at once, and nobody queued.
    let (_c, _d) = (lease(&pool).await, lease(&pool).await);
    assert!(pool.try_lease_idle().is_none(), "a full pool lent a place");
    assert_eq!(m.waiting.get(), 0);
    assert_eq!(m.opened.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn a_broken_connection_is_never_handed_out() {
    let m = Arc::new(PoolMetrics::default());
    let pool = Pool::new(limits(), m.clone());
    let mut a = lease(&pool).await;
    let first = id(&mut a);
    if let Some(c) = a.conn() {
        c.alive = false;
    }
    give_back(a);
    let mut b = lease(&pool).await;
    assert_ne!(id(&mut b), first);
    assert_eq!(m.closed.load(Ordering::Relaxed), 1);
    // Dropped without being given back: closed, and its place freed.
    drop(b);
    assert_eq!((m.active.get(), m.idle.get()), (0, 0));
    assert_eq!(m.closed.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn old_and_idle_connections_are_closed() {
    let m = Arc::new(PoolMetrics::default());
    let short = Limits {
        max_lifetime: Duration::from_millis(30),
        ..limits()
    };
    let pool = Pool::new(short, m.clone());
    let mut a = lease(&pool).await;
    let first = id(&mut a);
    give_back(a);
    tokio::time::sleep(Duration::from_millis(40)).await;
    let mut b = lease(&pool).await;
    assert_ne!(
        id(&mut b),
        first,
        "a connection past max_lifetime was reused"
    );

    let idle = Limits {
        idle_timeout: Duration::from_millis(20),
        min_idle: 1,
        ..limits()
    };
    let pool = Pool::new(idle, m.clone());
    let (a, b) = (lease(&pool).await, lease(&pool).await);
    give_back(a);
    give_back(b);
    assert_eq!(pool.sweep(), 0);
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(pool.sweep(), 1, "min_idle keeps one");
    assert_eq!(pool.idle_count(), 1);
}

#[tokio::test]
async fn pools_are_per_key() {
    let pools: Arc<Pools<(String, String), Fake>> =
        Pools::new(limits(), Arc::new(PoolMetrics::default()));
    let key = |u: &str| (u.to_owned(), "db".to_owned());
    let mut a = lease(&pools.get(&key("alice"))).await;
    let first = id(&mut a);
    give_back(a);
    let mut b = lease(&pools.get(&key("bob"))).await;
    assert_ne!(id(&mut b), first);
    let mut c = lease(&pools.get(&key("alice"))).await;
    assert_eq!(id(&mut c), first);
    // A pool whose connections are all gone is forgotten by the sweep.
    drop(b);
    pools.sweep();
    assert_eq!(pools.len(), 1, "bob's empty pool was kept");
    drop(c);
    pools.sweep();
    assert!(pools.is_empty());
}
