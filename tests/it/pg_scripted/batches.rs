//! Scripts of the extended protocol's corners as drivers run them: function calls,
//! Flush after each step, errors followed by more messages and a Sync, Describe before
//! Execute, row-limited Executes, and pipelines mixing hits and misses. Each returns a
//! transcript to compare between the origin and wirecache.

use std::time::Duration;

use super::{Raw, tags};

/// FunctionCall (`F`) of abs(integer): FunctionCallResponse then ReadyForQuery.
pub async fn function_call(c: &mut Raw, oid: i32) -> String {
    c.function_call(oid, &["-5"]).send().await;
    let msgs = c.ready(1).await;
    let mut t = tags(&msgs);
    t += &String::from_utf8_lossy(&msgs[0].body[4..]);
    c.function_call(oid, &["oops"]).send().await;
    let msgs = c.ready(1).await;
    t += &tags(&msgs);
    t += &c.scalar("SELECT 'after'").await.unwrap_or_default();
    t
}

/// Flush after each step, as drivers that look at every answer before going on do
/// (asyncpg, JDBC's describe-first, psycopg's pipeline): each message the proxy
/// holds back (the unnamed Parse, a Bind) must be answered at the Flush.
pub async fn flushes(c: &mut Raw) -> String {
    let q = "SELECT id FROM k ORDER BY id";
    let mut t = String::new();
    for _ in 0..2 {
        c.parse("", q).flush().send().await;
        t += &tags(&c.take(1).await);
        c.bind("", "", &[]).flush().send().await;
        t += &tags(&c.take(1).await);
        c.describe(b'P', "").flush().send().await;
        t += &tags(&c.take(1).await);
        c.execute("", 0).flush().send().await;
        t += &tags(&c.until(b'C').await);
        c.sync().send().await;
        t += &tags(&c.ready(1).await);
        t.push('|');
    }
    for _ in 0..2 {
        c.parse("", q)
            .bind("", "", &[])
            .execute("", 0)
            .flush()
            .send()
            .await;
        t += &tags(&c.until(b'C').await);
        c.sync().send().await;
        t += &tags(&c.ready(1).await);
        t.push('|');
    }
    c.parse("s1", q).describe(b'S', "s1").flush().send().await;
    t += &tags(&c.take(3).await);
    c.bind("p1", "s1", &[])
        .describe(b'P', "p1")
        .execute("p1", 0)
        .flush()
        .send()
        .await;
    t += &tags(&c.until(b'C').await);
    c.sync().send().await;
    t += &tags(&c.ready(1).await);
    assert!(c.quiet_for(Duration::from_millis(300)).await, "{t}: extra");
    t
}

/// After an error the origin skips everything up to Sync: whatever the client sent
/// meanwhile must not be waited for, and the session must be whole afterwards.
pub async fn errors_then_sync(c: &mut Raw) -> String {
    let mut t = String::new();
    // An error seen (via Flush) before the rest of the batch is even sent.
    c.parse("bad", "SELEC 1").flush().send().await;
    t += &tags(&c.take(1).await);
    c.parse("", "SELECT 1")
        .bind("", "", &[])
        .describe(b'P', "")
        .execute("", 0)
        .sync()
        .send()
        .await;
    t += &tags(&c.ready(1).await);
    t.push('|');
    // An error at Bind, then more of the batch after a Flush.
    c.parse("typed", "SELECT $1::int")
        .bind("", "typed", &[Some("x")])
        .flush()
        .send()
        .await;
    t += &tags(&c.take(2).await);
    c.describe(b'S', "typed")
        .execute("", 0)
        .parse("", "SELECT 2")
        .flush()
        .send()
        .await;
    assert!(
        c.quiet_for(Duration::from_millis(300)).await,
        "{t}: answered while failed"
    );
    c.sync().send().await;
    t += &tags(&c.ready(1).await);
    t.push('|');
    // Pipelined: a batch failing at Execute, then a good one, in one write.
    c.parse("", "SELECT 1 / (id - 1) FROM k")
        .bind("", "", &[])
        .execute("", 0)
        .sync();
    c.parse("", "SELECT id FROM k")
        .bind("", "", &[])
        .execute("", 0)
        .sync()
        .send()
        .await;
    t += &tags(&c.ready(2).await);
    t.push('|');
    // A cacheable read failing at Bind (constant folding), twice: nothing of the
    // first may keep the second waiting.
    for _ in 0..2 {
        c.parse("", "SELECT 1/0")
            .bind("", "", &[])
            .execute("", 0)
            .sync()
            .send()
            .await;
        t += &tags(&c.ready(1).await);
    }
    t.push('|');
    // Whole again: the same read twice (the second may be a hit).
    for _ in 0..2 {
        c.parse("", "SELECT id FROM k")
            .bind("", "", &[])
            .execute("", 0)
            .sync()
            .send()
            .await;
        t += &tags(&c.ready(1).await);
    }
    t
}

/// Describe of the statement and of the portal before Execute, unnamed and named,
/// twice (the second round may be answered from the cache).
pub async fn describes(c: &mut Raw) -> String {
    let q = "SELECT id FROM k";
    let mut t = String::new();
    for _ in 0..2 {
        c.parse("", q).describe(b'S', "").sync().send().await;
        t += &tags(&c.ready(1).await);
        c.bind("", "", &[])
            .describe(b'P', "")
            .execute("", 0)
            .sync()
            .send()
            .await;
        t += &tags(&c.ready(1).await);
    }
    c.parse("named", q)
        .describe(b'S', "named")
        .sync()
        .send()
        .await;
    t += &tags(&c.ready(1).await);
    for _ in 0..2 {
        c.bind("", "named", &[])
            .describe(b'P', "")
            .execute("", 0)
            .sync()
            .send()
            .await;
        t += &tags(&c.ready(1).await);
        c.describe(b'S', "named").sync().send().await;
        t += &tags(&c.ready(1).await);
    }
    t
}

/// Executes with a row limit (JDBC's fetch size) and PortalSuspended, with Sync and
/// with Flush between them, unnamed and named portals.
pub async fn row_limits(c: &mut Raw) -> String {
    let q = "SELECT g FROM generate_series(1, 5) g";
    let mut t = String::new();
    c.query("BEGIN").send().await;
    t += &tags(&c.ready(1).await);
    c.parse("", q)
        .bind("", "", &[])
        .describe(b'P', "")
        .execute("", 2)
        .sync()
        .send()
        .await;
    t += &tags(&c.ready(1).await);
    c.execute("", 2).sync().send().await;
    t += &tags(&c.ready(1).await);
    c.execute("", 2).sync().send().await;
    t += &tags(&c.ready(1).await);
    c.parse("fetch", q)
        .bind("C_1", "fetch", &[])
        .execute("C_1", 3)
        .flush()
        .send()
        .await;
    t += &tags(&c.until(b's').await);
    c.execute("C_1", 3).flush().send().await;
    t += &tags(&c.until(b'C').await);
    c.close(b'P', "C_1").sync().send().await;
    t += &tags(&c.ready(1).await);
    c.query("COMMIT").send().await;
    t += &tags(&c.ready(1).await);
    t
}

/// Batches pipelined in one write: hits, misses, a write, and a read of what it wrote.
pub async fn mixed_pipeline(c: &mut Raw) -> String {
    let read = |c: &mut Raw, q: &str| {
        c.parse("", q).bind("", "", &[]).execute("", 0).sync();
    };
    let q1 = "SELECT v FROM k WHERE id = 1";
    let q2 = "SELECT v FROM k WHERE id = 2";
    for _ in 0..2 {
        read(c, q1);
        c.send().await;
        c.ready(1).await;
    }
    read(c, q1);
    read(c, q2);
    read(c, q1);
    c.parse("", "UPDATE k SET v = v + 10 WHERE id = 1")
        .bind("", "", &[])
        .execute("", 0)
        .sync();
    read(c, q1);
    c.query(q1);
    read(c, q2);
    c.send().await;
    let msgs = c.ready(7).await;
    let mut t = tags(&msgs);
    for m in msgs.iter().filter(|m| m.tag == b'D') {
        t += &format!(",{}", m.columns()[0].clone().unwrap_or_default());
    }
    t
}
