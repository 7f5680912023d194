//! Every way a PostgreSQL transaction begins and ends (design §4.4, issue 8), against
//! a real PostgreSQL through wirecache. Each case follows one pattern: a reader caches
//! `v = 1`; a writer opens a transaction in the way under test and writes; the reader
//! reads the committed value again, which refills the cache (and is then a hit, so the
//! old value really is stored); the writer ends the transaction in the way under test;
//! the reader must now see what the origin holds.

use crate::common;

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use common::PgOrigin;
use common::proxy::Proxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::{Client, Statement};

const READ: &str = "SELECT v FROM t WHERE id = 1";

struct Fixture {
    origin: &'static PgOrigin,
    db: String,
    proxy: Proxy,
    reader: Client,
    /// READ, prepared once: a statement tokio-postgres prepares per call is closed
    /// after it, and the next read would find that Close still owed by the origin.
    prepared: Statement,
}

impl Fixture {
    async fn new(prefix: &str) -> Fixture {
        let origin = PgOrigin::shared();
        let db = origin.create_db(prefix);
        origin.psql(
            &db,
            "CREATE TABLE t (id int PRIMARY KEY, v bigint); INSERT INTO t VALUES (1, 1), (2, 1);
             CREATE TABLE other (a int);",
        );
        let proxy = Proxy::builder().postgres_demo(origin.port).start().await;
        let reader = proxy.connect(&db, "postgres").await;
        let prepared = reader.prepare(READ).await.unwrap();
        Fixture {
            origin,
            db,
            proxy,
            reader,
            prepared,
        }
    }

    async fn conn(&self) -> Client {
        self.proxy.connect(&self.db, "postgres").await
    }

    /// The value through wirecache, by the simple and by the extended protocol; the two
    /// must agree.
    async fn read(&self) -> i64 {
        let simple = self.reader.simple_query(READ).await.unwrap();
        let simple: i64 = simple
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0)?.parse().ok(),
                _ => None,
            })
            .expect("a row");
        let extended: i64 = self
            .reader
            .query_one(&self.prepared, &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            simple, extended,
            "the simple and the extended read disagree"
        );
        simple
    }

    /// Reads until both reads are hits, and returns the value.
    async fn cached(&self) -> i64 {
        let first = self.read().await;
        let hits = self.proxy.hits().await;
        assert_eq!(self.read().await, first);
        assert!(
            self.proxy.hits().await >= hits + 2.0,
            "the read was not served from the cache"
        );
        first
    }

    fn truth(&self) -> i64 {
        self.origin
            .psql(&self.db, READ)
            .trim()
            .parse()
            .expect("a number")
    }

    async fn expect(&self, want: i64, what: &str) {
        assert_eq!(
            self.truth(),
            want,
            "{what}: the origin disagrees with the test"
        );
        assert_eq!(
            self.read().await,
            want,
            "{what}: stale read through wirecache"
        );
    }
}

/// The pattern of the module doc with a tokio-postgres writer: `open` (simple-query
/// strings) begins the transaction and writes `v = 2`, `end` ends it, after which the
/// value must be `want`.
async fn case(prefix: &str, open: &[&str], end: &[&str], want: i64) {
    let f = Fixture::new(prefix).await;
    assert_eq!(f.cached().await, 1);
    let writer = f.conn().await;
    for sql in open {
        writer.batch_execute(sql).await.unwrap();
    }
    assert_eq!(f.cached().await, 1, "{prefix}: read an uncommitted value");
    for sql in end {
        // An ending may fail on purpose (the transaction was aborted); the value decides.
        let _ = writer.batch_execute(sql).await;
    }
    f.expect(want, prefix).await;
}

const UPDATE: &str = "UPDATE t SET v = 2 WHERE id = 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn begin_and_the_write_in_one_simple_query_string() {
    case(
        "simple",
        &["BEGIN; UPDATE t SET v = 2 WHERE id = 1"],
        &["COMMIT"],
        2,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn begin_and_the_write_in_one_extended_batch() {
    // What pgJDBC sends with autocommit off: BEGIN and the first statement in one
    // Parse/Bind/Execute batch with a single Sync.
    let f = Fixture::new("batch").await;
    assert_eq!(f.cached().await, 1);
    let mut raw = RawClient::connect(f.proxy.pg_addr().port(), &f.db).await;
    raw.extended_batch(&["BEGIN", UPDATE]).await;
    assert_eq!(raw.last_status, b'T', "the batch left a transaction open");
    assert_eq!(f.cached().await, 1);
    raw.extended_batch(&["COMMIT"]).await;
    f.expect(2, "extended batch").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn driver_issued_begin_with_a_prepared_write() {
    let f = Fixture::new("driver").await;
    assert_eq!(f.cached().await, 1);
    let mut writer = f.conn().await;
    let tx = writer.transaction().await.unwrap();
    tx.execute("UPDATE t SET v = $1 WHERE id = $2", &[&2i64, &1i32])
        .await
        .unwrap();
    assert_eq!(f.cached().await, 1);
    tx.commit().await.unwrap();
    f.expect(2, "driver begin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoints_keep_what_was_not_rolled_back() {
    let open = [
        "BEGIN",
        UPDATE,
        "SAVEPOINT s1",
        "UPDATE t SET v = 3 WHERE id = 1",
        "ROLLBACK TO SAVEPOINT s1",
    ];
    case("savepoint", &open, &["COMMIT"], 2).await;
    case(
        "release",
        &["BEGIN", UPDATE, "SAVEPOINT s1"],
        &["RELEASE s1; COMMIT"],
        2,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_and_chain_applies_the_writes_although_a_transaction_goes_on() {
    case("chain", &["BEGIN", UPDATE], &["COMMIT AND CHAIN"], 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_followed_by_another_transaction_in_the_same_string() {
    // The COMMIT inside the string applies its writes although the string ends with a
    // ROLLBACK of a later transaction.
    // The writer first reads `other` outside a transaction, so its catalog facts are
    // known and the rolled-back INSERT invalidates only `other`, not `t`.
    let open = ["SELECT count(*) FROM other", "BEGIN", UPDATE];
    let end = ["COMMIT; BEGIN; INSERT INTO other VALUES (1); ROLLBACK"];
    case("commit_then_rollback", &open, &end, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_error_and_disconnect_leave_the_committed_value() {
    case("rollback", &["BEGIN", UPDATE], &["ROLLBACK"], 1).await;
    // An error aborts the transaction; its COMMIT answers ROLLBACK.
    case("error", &["BEGIN", UPDATE], &["SELECT 1/0", "COMMIT"], 1).await;
    let f = Fixture::new("disconnect").await;
    assert_eq!(f.cached().await, 1);
    let writer = f.conn().await;
    writer.batch_execute("BEGIN").await.unwrap();
    writer.batch_execute(UPDATE).await.unwrap();
    assert_eq!(f.cached().await, 1);
    drop(writer);
    tokio::time::sleep(Duration::from_millis(200)).await;
    f.expect(1, "disconnect").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_transaction_committed_by_another_session() {
    let f = Fixture::new("twophase").await;
    assert_eq!(f.cached().await, 1);
    let gid = format!("'{}'", f.db);
    let writer = f.conn().await;
    writer
        .batch_execute(&format!("BEGIN; {UPDATE}; PREPARE TRANSACTION {gid}"))
        .await
        .unwrap();
    drop(writer);
    assert_eq!(f.cached().await, 1);
    let other = f.conn().await;
    other
        .batch_execute(&format!("COMMIT PREPARED {gid}"))
        .await
        .unwrap();
    f.expect(2, "commit prepared").await;
}

/// A client that writes frontend messages itself, for batches tokio-postgres does not
/// send (several statements before one Sync).
struct RawClient {
    stream: TcpStream,
    buf: BytesMut,
    last_status: u8,
}

impl RawClient {
    async fn connect(port: u16, db: &str) -> RawClient {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut c = RawClient {
            stream,
            buf: BytesMut::new(),
            last_status: 0,
        };
        let mut body = BytesMut::new();
        body.put_i32(196_608);
        for s in ["user", "demo-postgres", "database", db] {
            body.put_slice(s.as_bytes());
            body.put_u8(0);
        }
        body.put_u8(0);
        let mut startup = BytesMut::new();
        startup.put_i32(body.len() as i32 + 4);
        startup.put_slice(&body);
        c.stream.write_all(&startup).await.unwrap();
        c.until_ready().await;
        c
    }

    fn message(out: &mut BytesMut, tag: u8, body: &[u8]) {
        out.put_u8(tag);
        out.put_i32(body.len() as i32 + 4);
        out.put_slice(body);
    }

    /// Parse/Bind/Execute of each statement (unnamed), then one Sync; waits for
    /// ReadyForQuery and fails on an ErrorResponse.
    async fn extended_batch(&mut self, statements: &[&str]) {
        let mut out = BytesMut::new();
        for sql in statements {
            let mut parse = BytesMut::new();
            parse.put_u8(0);
            parse.put_slice(sql.as_bytes());
            parse.put_u8(0);
            parse.put_i16(0);
            Self::message(&mut out, b'P', &parse);
            // Portal "", statement "", no parameter formats or values, no result formats.
            Self::message(&mut out, b'B', &[0, 0, 0, 0, 0, 0, 0, 0]);
            Self::message(&mut out, b'E', &[0, 0, 0, 0, 0]);
        }
        Self::message(&mut out, b'S', &[]);
        self.stream.write_all(&out).await.unwrap();
        let errors = self.until_ready().await;
        assert!(errors.is_empty(), "{statements:?}: {errors:?}");
    }

    /// Reads messages until ReadyForQuery; returns the ErrorResponses' texts.
    async fn until_ready(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        loop {
            while self.buf.len() >= 5 {
                let len = i32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
                let total = 1 + len as usize;
                if self.buf.len() < total {
                    break;
                }
                let msg = self.buf.split_to(total);
                match msg[0] {
                    b'E' => errors.push(String::from_utf8_lossy(&msg[5..]).into_owned()),
                    b'Z' => {
                        self.last_status = msg[5];
                        return errors;
                    }
                    _ => {}
                }
            }
            let read =
                tokio::time::timeout(Duration::from_secs(20), self.stream.read_buf(&mut self.buf))
                    .await
                    .expect("no ReadyForQuery within 20 s")
                    .unwrap();
            assert!(read > 0, "wirecache closed the connection");
        }
    }
}
