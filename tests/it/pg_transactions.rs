//! The ways a transaction begins and ends that only PostgreSQL has (design §4.4,
//! issue 8): BEGIN and the write in one extended-protocol batch, an error that aborts
//! the transaction. Same pattern as the shared cases in `transactions`, on the
//! PostgreSQL origin.

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::origin::Postgres;
use crate::transactions::{Fixture, Step, UPDATE, case, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn begin_and_the_write_in_one_extended_batch() {
    // What pgJDBC sends with autocommit off: BEGIN and the first statement in one
    // Parse/Bind/Execute batch with a single Sync.
    let mut f = Fixture::<Postgres>::new("batch").await;
    assert_eq!(f.cached().await, 1);
    let mut raw = RawClient::connect(f.proxy.pg_addr().port(), &f.db).await;
    raw.extended_batch(&["BEGIN", UPDATE]).await;
    assert_eq!(raw.last_status, b'T', "the batch left a transaction open");
    assert_eq!(f.cached().await, 1);
    raw.extended_batch(&["COMMIT"]).await;
    f.expect(2, "extended batch").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_aborts_the_transaction_and_its_commit_rolls_back() {
    // An error aborts the transaction; its COMMIT answers ROLLBACK.
    let open = [text("BEGIN"), text(UPDATE)];
    let end = [Step::Fails("SELECT 1/0".into()), text("COMMIT")];
    case::<Postgres>("error", &open, &end, 1).await;
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
