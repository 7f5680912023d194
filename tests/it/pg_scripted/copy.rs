//! Scripts of the COPY sub-protocols as drivers run them: pg8000's and libpq's COPY
//! FROM STDIN in the extended protocol, CopyFail and bad rows, the simple protocol,
//! COPY TO STDOUT, and a walsender's copy-both. Each returns a transcript (the tags
//! received, plus a few values) to compare between the origin and wirecache.

use std::time::Duration;

use super::{Raw, tags};

/// pg8000's COPY FROM STDIN: Parse+Sync, Describe+Sync, Bind+Execute+Sync, then the
/// data, CopyDone and a second Sync. The first Sync after Execute arrives while the
/// origin is in copy-in mode, which ignores it: one ReadyForQuery answers two Syncs.
pub async fn pg8000_copy_in(c: &mut Raw) -> String {
    let mut t = String::new();
    c.parse("", "COPY t (id, v) FROM STDIN").sync().send().await;
    t += &tags(&c.ready(1).await);
    c.describe(b'S', "").sync().send().await;
    t += &tags(&c.ready(1).await);
    c.bind("", "", &[]).execute("", 0).sync().send().await;
    t += &tags(&c.until(b'G').await);
    c.copy_data(b"1\tone\n")
        .copy_data(b"2\ttwo\n")
        .copy_done()
        .sync()
        .send()
        .await;
    let end = c.ready(1).await;
    t += &tags(&end);
    t += &end[0].text();
    assert!(c.quiet_for(Duration::from_millis(300)).await, "{t}: extra");
    t += &c.scalar("SELECT count(*) FROM t").await.unwrap_or_default();
    t
}

/// libpq (psycopg's extended path) sends the whole batch in one write, and some
/// clients send Flush or Sync between CopyData messages: all ignored by the origin.
pub async fn libpq_copy_in(c: &mut Raw) -> String {
    let mut t = String::new();
    c.parse("", "COPY t (id, v) FROM STDIN")
        .bind("", "", &[])
        .describe(b'P', "")
        .execute("", 0)
        .sync()
        .send()
        .await;
    t += &tags(&c.until(b'G').await);
    c.copy_data(b"1\tone\n").flush().send().await;
    c.copy_data(b"2\ttwo\n").sync().send().await;
    c.copy_done().sync().send().await;
    t += &tags(&c.ready(1).await);
    assert!(c.quiet_for(Duration::from_millis(300)).await, "{t}: extra");
    t += &c.scalar("SELECT 'after'").await.unwrap_or_default();
    t
}

/// The client gives up mid-copy (CopyFail, as on Ctrl-C) or sends a bad row: the
/// origin answers ErrorResponse and, extended, the ReadyForQuery of the next Sync.
pub async fn copy_in_failures(c: &mut Raw) -> String {
    let mut t = String::new();
    c.parse("", "COPY t (id, v) FROM STDIN")
        .bind("", "", &[])
        .execute("", 0)
        .sync()
        .send()
        .await;
    t += &tags(&c.until(b'G').await);
    c.copy_data(b"1\tone\n")
        .copy_fail("client gave up")
        .sync()
        .send()
        .await;
    let failed = c.ready(1).await;
    t += &tags(&failed);
    t += &failed[0].sqlstate().unwrap_or_default();
    c.parse("", "COPY t (id, v) FROM STDIN")
        .bind("", "", &[])
        .execute("", 0)
        .sync()
        .send()
        .await;
    t += &tags(&c.until(b'G').await);
    c.copy_data(b"x\tbad\n").send().await;
    // The origin stops reading at the bad row; the client notices only later.
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.copy_data(b"3\tthree\n").copy_done().sync().send().await;
    let bad = c.ready(1).await;
    t += &tags(&bad);
    t += &bad[0].sqlstate().unwrap_or_default();
    assert!(c.quiet_for(Duration::from_millis(300)).await, "{t}: extra");
    t += &c.scalar("SELECT count(*) FROM t").await.unwrap_or_default();
    t
}

/// The same in the simple protocol, with a Sync sent during the copy (ignored).
pub async fn simple_copy_in(c: &mut Raw) -> String {
    let mut t = String::new();
    c.query("COPY t (id, v) FROM STDIN").send().await;
    t += &tags(&c.until(b'G').await);
    c.copy_data(b"1\tone\n").sync().copy_done().send().await;
    t += &tags(&c.ready(1).await);
    c.query("COPY t (id, v) FROM STDIN").send().await;
    t += &tags(&c.until(b'G').await);
    c.copy_fail("no").send().await;
    t += &tags(&c.ready(1).await);
    assert!(c.quiet_for(Duration::from_millis(300)).await, "{t}: extra");
    t += &c.scalar("SELECT 'after'").await.unwrap_or_default();
    t
}

/// COPY TO STDOUT in the extended protocol: the copy-out runs inside Execute.
pub async fn copy_out(c: &mut Raw) -> String {
    c.parse("", "COPY t TO STDOUT")
        .bind("", "", &[])
        .execute("", 0)
        .sync()
        .send()
        .await;
    let mut t = tags(&c.ready(1).await);
    c.parse("", "COPY t TO STDOUT")
        .bind("", "", &[])
        .execute("", 0)
        .flush()
        .send()
        .await;
    t += &tags(&c.until(b'C').await);
    c.sync().send().await;
    t += &tags(&c.ready(1).await);
    t += &c.scalar("SELECT 'after'").await.unwrap_or_default();
    t
}

/// A walsender connection (replication=database): IDENTIFY_SYSTEM, then
/// START_REPLICATION enters copy-both mode; the client ends it with CopyDone.
pub async fn copy_both(c: &mut Raw) -> String {
    c.query("IDENTIFY_SYSTEM").send().await;
    let id = c.ready(1).await;
    let mut t = tags(&id);
    let row = id
        .iter()
        .find(|m| m.tag == b'D')
        .expect("IDENTIFY_SYSTEM row");
    let lsn = row.columns()[2].clone().expect("xlogpos");
    c.query(&format!("START_REPLICATION PHYSICAL {lsn}"))
        .send()
        .await;
    t += &tags(&c.until(b'W').await);
    c.copy_done().send().await;
    let end = c.ready(1).await;
    // Keepalives (CopyData) may come before the server's CopyDone.
    t += &tags(&end).replace('d', "");
    c.query("IDENTIFY_SYSTEM").send().await;
    t += &tags(&c.ready(1).await);
    t
}
