//! A test SQL Server: speaks TDS 7.1 to 7.4 (with TLS inside PRELOGIN when started
//! with a certificate, `tds_origin_tls`; plaintext by default) and really executes
//! a T-SQL subset on the private PostgreSQL, so tests through wirecache read and
//! write real data. No SQL Server can run here; this stands in for one.
//!
//! Each TDS connection logs in to PostgreSQL with the TDS login's name and password
//! (PostgreSQL checks them). A SQLBatch is split at `;` and each statement run on its
//! own: `BEGIN TRAN[SACTION]`, `COMMIT [TRAN]`, `ROLLBACK [TRAN]` become PostgreSQL's and
//! are reported with ENVCHANGE like SQL Server's; savepoints and isolation levels are
//! mapped (`tds_sql`); a SELECT (or a write with `OUTPUT`) answers with typed columns;
//! anything else answers with its row count. An error ends what it ends in SQL Server
//! with `XACT_ABORT OFF` (`tds_origin_txn`): a constraint violation the statement
//! alone, a deadlock the transaction. `statements()` counts the statements
//! executed, `selects()` the SELECTs, so tests prove hits by the origin's own count.
//! RPC requests run in `tds_rpc`; an Attention is acknowledged. `OUTPUT … INTO` runs
//! as `tds_origin_output` translates it.
//!
//! Each client is answered as SQL Server answers its TDS version: LOGINACK with the
//! version asked for; before 7.2 no ALL_HEADERS in requests, four-byte DONE row
//! counts, two-byte ERROR line numbers and user types, NVARCHAR(MAX) as NTEXT; DATE
//! columns as DATEN from 7.3, as NVARCHAR text before (`tds_wire`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use bytes::BytesMut;
use tokio::net::{TcpListener, TcpStream};
use wirecache::protocol::Side;
use wirecache::protocol::tds::codec::{self, Assembler, Kind, Message};

#[path = "tds_origin_output.rs"]
mod output;

use super::tds_origin_tls::{OriginSocket, OriginTls};
use super::tds_origin_txn::{self as txn, Ends, Failed};
use super::tds_rpc::RpcState;
use super::tds_sql::{Verb, control, implicit, is_catalog, statements, translate, verb};
use super::tds_wire as wire;

pub use super::tds_sql::SYS_CATALOG;

/// The PostgreSQL role TDS logins of the tests use (its password is checked).
pub const USER: &str = "scram_user";

/// A database of the shared PostgreSQL with SQL Server's catalog views and table
/// `t (id int, name text)` of three rows, which [`USER`] may use.
pub fn database() -> String {
    let pg = super::PgOrigin::shared();
    let db = pg.create_db("tds");
    pg.psql(&db, SYS_CATALOG);
    pg.psql(
        &db,
        &format!(
            "CREATE TABLE t (id int PRIMARY KEY, name text);
             INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, NULL);
             GRANT ALL ON t TO {USER};"
        ),
    );
    db
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) statements: AtomicU64,
    pub(super) selects: AtomicU64,
    logins: AtomicU64,
    rpcs: AtomicU64,
    /// The TDS version of the last LOGIN7 (as its field reads, little-endian).
    version: AtomicU32,
}

/// A running test origin; it stops with the test's runtime.
pub struct TdsOrigin {
    pub addr: SocketAddr,
    pg_port: u16,
    counters: Arc<Counters>,
    /// Its encryption setting and what each connection used.
    pub tls: Arc<OriginTls>,
}

impl TdsOrigin {
    /// Listens on an ephemeral port in front of the PostgreSQL on `pg_port`.
    pub async fn start(pg_port: u16) -> TdsOrigin {
        TdsOrigin::start_tls(pg_port, OriginTls::plain()).await
    }

    /// Like [`TdsOrigin::start`], with `tls` deciding encryption.
    pub async fn start_tls(pg_port: u16, tls: Arc<OriginTls>) -> TdsOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let t = tls.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (c, t) = (c.clone(), t.clone());
                tokio::spawn(async move {
                    let _ = Connection::serve(socket, pg_port, c, &t).await;
                });
            }
        });
        TdsOrigin {
            addr,
            pg_port,
            counters,
            tls,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn pg_port(&self) -> u16 {
        self.pg_port
    }

    /// Statements executed so far, over every connection.
    pub fn statements(&self) -> u64 {
        self.counters.statements.load(Ordering::SeqCst)
    }

    /// SELECTs executed so far.
    pub fn selects(&self) -> u64 {
        self.counters.selects.load(Ordering::SeqCst)
    }

    /// RPC requests received so far.
    pub fn rpcs(&self) -> u64 {
        self.counters.rpcs.load(Ordering::SeqCst)
    }

    /// The TDS version the last login asked for, as "7.1" … "7.4".
    pub fn tds_version(&self) -> String {
        let major = self.counters.version.load(Ordering::SeqCst) >> 24;
        format!("{}.{}", major >> 4, major & 0xF)
    }

    /// Logins accepted so far.
    pub fn logins(&self) -> u64 {
        self.counters.logins.load(Ordering::SeqCst)
    }
}

pub(super) struct Connection {
    pub(super) socket: OriginSocket,
    pub(super) buf: BytesMut,
    pub(super) asm: Assembler,
    pub(super) packet_size: usize,
    pub(super) pg: Option<tokio_postgres::Client>,
    pub(super) counters: Arc<Counters>,
    /// The open transaction's descriptor, if one is open.
    pub(super) txn: Option<u64>,
    /// The client's TDS version is 7.2 or later: ALL_HEADERS, MAX types.
    pub(super) modern: bool,
    /// The client's TDS version is 7.3 or later: DATE and the other new date types.
    pub(super) dates: bool,
    pub(super) next_txn: u64,
    /// `SET IMPLICIT_TRANSACTIONS ON`: data statements open a transaction.
    pub(super) implicit: bool,
}

pub(super) type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

impl Connection {
    async fn serve(
        socket: TcpStream,
        pg_port: u16,
        counters: Arc<Counters>,
        tls: &OriginTls,
    ) -> Res<()> {
        let Some((socket, buf, login)) = super::tds_origin_tls::greet(socket, tls).await? else {
            return Ok(());
        };
        let mut c = Connection {
            socket,
            buf,
            asm: Assembler::new(Side::Client, 64 << 20),
            packet_size: codec::DEFAULT_PACKET,
            pg: None,
            counters,
            txn: None,
            next_txn: 1,
            modern: true,
            dates: true,
            implicit: false,
        };
        assert_eq!(login.kind, Kind::Login7);
        if !c.login(&login.payload, pg_port).await? {
            return Ok(());
        }
        let mut rpc = RpcState::default();
        while let Some(m) = c.read().await? {
            match m.kind {
                Kind::SqlBatch => c.batch(&m.payload).await?,
                Kind::Rpc => {
                    c.counters.rpcs.fetch_add(1, Ordering::SeqCst);
                    let out = c.rpc(&mut rpc, &m.payload).await?;
                    c.send(&out).await?;
                }
                Kind::Attention => {
                    let mut out = BytesMut::new();
                    wire::done(&mut out, c.modern, 0xFD, wire::DONE_ATTN, 0);
                    c.send(&out).await?;
                }
                _ => {
                    let mut out = BytesMut::new();
                    wire::error(
                        &mut out,
                        c.modern,
                        50000,
                        16,
                        "the test origin runs SQLBatch and RPC only",
                    );
                    wire::done(&mut out, c.modern, 0xFD, wire::DONE_ERROR, 0);
                    c.send(&out).await?;
                }
            }
        }
        Ok(())
    }

    async fn read(&mut self) -> Res<Option<Message>> {
        loop {
            if let Some(m) = self.asm.next(&mut self.buf)? {
                return Ok(Some(m));
            }
            if self.socket.read_buf(&mut self.buf).await? == 0 {
                return Ok(None);
            }
        }
    }

    async fn send(&mut self, tokens: &[u8]) -> Res<()> {
        let wire = codec::message(Kind::TabularResult, tokens, self.packet_size);
        self.socket.write_all(&wire).await?;
        Ok(())
    }

    /// Logs in to PostgreSQL as the TDS login; answers LOGINACK or a login error.
    async fn login(&mut self, p: &[u8], pg_port: u16) -> Res<bool> {
        let version = u32::from_le_bytes(p[4..8].try_into()?);
        self.modern = version >= 0x7209_0002;
        self.dates = version >= 0x730A_0003;
        self.counters.version.store(version, Ordering::SeqCst);
        let size = u32::from_le_bytes(p[8..12].try_into()?) as usize;
        let user = wire::from_utf16(&wire::login_field(p, 40));
        let password = wire::from_utf16(&wire::clear_password(&wire::login_field(p, 44)));
        let db = wire::from_utf16(&wire::login_field(p, 68));
        let db = if db.is_empty() {
            "postgres".to_string()
        } else {
            db
        };
        let conn =
            format!("host=127.0.0.1 port={pg_port} user={user} password='{password}' dbname={db}");
        let mut out = BytesMut::new();
        match tokio_postgres::connect(&conn, tokio_postgres::NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                self.pg = Some(client);
                self.counters.logins.fetch_add(1, Ordering::SeqCst);
                if size >= 512 {
                    self.packet_size = size.min(32767);
                }
                wire::env_string(&mut out, 1, &db, "master");
                wire::env_string(&mut out, 4, &self.packet_size.to_string(), "4096");
                wire::login_ack(&mut out, version);
                wire::done(&mut out, self.modern, 0xFD, 0, 0);
                self.send(&out).await?;
                Ok(true)
            }
            Err(e) => {
                let text = format!("Login failed for user '{user}'. ({e})");
                wire::error(&mut out, self.modern, 18456, 14, &text);
                wire::done(&mut out, self.modern, 0xFD, wire::DONE_ERROR, 0);
                self.send(&out).await?;
                Ok(false)
            }
        }
    }
}

impl Connection {
    async fn batch(&mut self, payload: &[u8]) -> Res<()> {
        let headers = if self.modern {
            u32::from_le_bytes(payload[..4].try_into()?) as usize
        } else {
            0
        };
        let sql = wire::from_utf16(&payload[headers..]);
        let stmts = statements(&sql);
        let mut out = BytesMut::new();
        if stmts.is_empty() {
            wire::done(&mut out, self.modern, 0xFD, 0, 0);
        }
        for (i, stmt) in stmts.iter().enumerate() {
            let last = i + 1 == stmts.len();
            self.counters.statements.fetch_add(1, Ordering::SeqCst);
            let mut step = BytesMut::new();
            let opened = self.implicit_begin(Some(stmt), &mut out).await;
            let run = match opened {
                Ok(()) => self.run_one(stmt, last, &mut step).await,
                Err(e) => Err((Failed::from_pg(&e), false)),
            };
            let Err((failed, guarded)) = run else {
                out.extend_from_slice(&step);
                continue;
            };
            let pg = self.pg.as_ref().ok_or("no session")?;
            let rolled_back = txn::undo(pg, self.txn.is_some(), guarded, &failed).await;
            wire::error(&mut out, self.modern, failed.number, 16, &failed.message);
            if rolled_back {
                self.end_txn(&mut out, 10);
            }
            let go_on = failed.ends == Ends::Statement && !rolled_back && !last;
            let more = if go_on { wire::DONE_MORE } else { 0 };
            wire::done(&mut out, self.modern, 0xFD, wire::DONE_ERROR | more, 0);
            if !go_on {
                break;
            }
        }
        self.send(&out).await
    }

    pub(super) async fn statement(
        &mut self,
        stmt: &str,
        last: bool,
        out: &mut BytesMut,
    ) -> Result<(), tokio_postgres::Error> {
        let more = if last { 0 } else { wire::DONE_MORE };
        let pg = self.pg.as_ref().expect("logged in");
        if let Some(sql) = output::output_into(stmt) {
            let n = pg.execute(&sql, &[]).await?;
            wire::done(out, self.modern, 0xFD, more | wire::DONE_COUNT, n);
            return Ok(());
        }
        match verb(stmt) {
            Verb::Begin => {
                self.begin(out).await?;
                wire::done(out, self.modern, 0xFD, more, 0);
            }
            Verb::Commit | Verb::Rollback => {
                let commit = verb(stmt) == Verb::Commit;
                pg.batch_execute(if commit { "COMMIT" } else { "ROLLBACK" })
                    .await?;
                self.end_txn(out, if commit { 9 } else { 10 });
                wire::done(out, self.modern, 0xFD, more, 0);
            }
            Verb::Select | Verb::Output => {
                if verb(stmt) == Verb::Select && !is_catalog(stmt) {
                    self.counters.selects.fetch_add(1, Ordering::SeqCst);
                }
                let stmt = pg.prepare(&translate(stmt)).await?;
                let rows = pg.query(&stmt, &[]).await?;
                let client = wire::Client {
                    modern: self.modern,
                    dates: self.dates,
                };
                wire::result_for(out, client, 0xFD, more, stmt.columns(), &rows);
            }
            Verb::Control => {
                pg.batch_execute(&control(stmt).unwrap_or_default()).await?;
                wire::done(out, self.modern, 0xFD, more, 0);
            }
            Verb::SetOption => {
                self.implicit = implicit(stmt).unwrap_or(self.implicit);
                wire::done(out, self.modern, 0xFD, more, 0);
            }
            Verb::Other => {
                let n = pg.execute(&translate(stmt), &[]).await?;
                wire::done(out, self.modern, 0xFD, more | wire::DONE_COUNT, n);
            }
        }
        Ok(())
    }
}
