//! The test TDS origin behaves as SQL Server where the randomized checker relies on
//! it (issue 17), checked straight against the origin with tiberius and against the
//! PostgreSQL it executes on: with `XACT_ABORT OFF` a duplicate key undoes its
//! statement alone (the batch and the transaction go on) and a deadlock rolls the
//! victim's transaction back; `OUTPUT inserted.c` / `deleted.c` answer rows; `SAVE
//! TRAN` / `ROLLBACK TRAN name`; `SET TRANSACTION ISOLATION LEVEL`, reported by
//! `sys.dm_exec_sessions`, with SNAPSHOT running as one snapshot; `SET
//! IMPLICIT_TRANSACTIONS ON`. SQL Server itself is not tested here.

use std::time::Duration;

use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use crate::common::PgOrigin;
use crate::common::pg::SUPERUSER;
use crate::common::tds_origin::{SYS_CATALOG, TdsOrigin};

type Tds = Client<Compat<TcpStream>>;

struct Rig {
    origin: TdsOrigin,
    db: String,
}

impl Rig {
    async fn start() -> Rig {
        let pg = PgOrigin::shared();
        let db = pg.create_db("tdssem");
        pg.psql(&db, SYS_CATALOG);
        pg.psql(
            &db,
            "CREATE TABLE t (id int PRIMARY KEY, v bigint NOT NULL);
             INSERT INTO t VALUES (1, 10), (2, 20);",
        );
        pg.psql(
            &db,
            &format!("ALTER DATABASE {db} SET deadlock_timeout = '100ms';"),
        );
        Rig {
            origin: TdsOrigin::start(pg.port).await,
            db,
        }
    }

    async fn connect(&self) -> Tds {
        let mut config = Config::new();
        config.host("127.0.0.1");
        config.port(self.origin.port());
        config.database(&self.db);
        config.authentication(AuthMethod::sql_server(SUPERUSER, "trusted"));
        config.encryption(EncryptionLevel::NotSupported);
        let tcp = TcpStream::connect(self.origin.addr).await.unwrap();
        Client::connect(config, tcp.compat_write()).await.unwrap()
    }

    /// `v` of row `id`, read on PostgreSQL itself.
    fn committed(&self, id: i32) -> i64 {
        let sql = format!("SELECT v FROM t WHERE id = {id}");
        PgOrigin::shared()
            .psql(&self.db, &sql)
            .trim()
            .parse()
            .unwrap()
    }
}

/// The integers of every row of every result, in order; or the error number.
async fn run(c: &mut Tds, sql: &str) -> Result<Vec<i64>, u32> {
    let code = |e: tiberius::error::Error| match e {
        tiberius::error::Error::Server(t) => t.code(),
        other => panic!("not a server error: {other}"),
    };
    let sets = c.simple_query(sql).await.map_err(code)?;
    let sets = sets.into_results().await.map_err(code)?;
    Ok(sets
        .iter()
        .flatten()
        .flat_map(|r| (0..r.len()).map(|i| r.get::<i64, _>(i).unwrap_or(-1)))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_key_undoes_its_statement_alone() {
    let rig = Rig::start().await;
    let mut c = rig.connect().await;
    run(&mut c, "BEGIN TRAN").await.unwrap();
    run(&mut c, "UPDATE t SET v = 11 WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(run(&mut c, "INSERT INTO t VALUES (2, 0)").await, Err(2627));
    // The transaction goes on: its first write stays, and it commits.
    assert_eq!(
        run(&mut c, "SELECT v FROM t WHERE id = 1").await,
        Ok(vec![11])
    );
    run(&mut c, "COMMIT").await.unwrap();
    assert_eq!(rig.committed(1), 11);
    // In a batch, the statements after it run (the error is still reported).
    let batch = "INSERT INTO t VALUES (1, 0); UPDATE t SET v = 21 WHERE id = 2";
    assert_eq!(run(&mut c, batch).await, Err(2627));
    assert_eq!(rig.committed(2), 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_savepoints_and_implicit_transactions() {
    let rig = Rig::start().await;
    let mut c = rig.connect().await;
    let bump = "UPDATE t SET v = v + 1 OUTPUT inserted.v WHERE id = 1";
    assert_eq!(run(&mut c, bump).await, Ok(vec![11]));
    let none = "DELETE FROM t OUTPUT deleted.v WHERE id = 9";
    assert_eq!(run(&mut c, none).await, Ok(vec![]));
    run(&mut c, "BEGIN TRANSACTION; SAVE TRANSACTION s1")
        .await
        .unwrap();
    assert_eq!(run(&mut c, bump).await, Ok(vec![12]));
    run(&mut c, "SAVE TRAN s2").await.unwrap();
    assert_eq!(run(&mut c, bump).await, Ok(vec![13]));
    run(&mut c, "ROLLBACK TRAN s2; COMMIT").await.unwrap();
    assert_eq!(rig.committed(1), 12);
    // Implicit transactions: the write opens one, which ROLLBACK undoes.
    run(&mut c, "SET IMPLICIT_TRANSACTIONS ON").await.unwrap();
    assert_eq!(run(&mut c, bump).await, Ok(vec![13]));
    run(&mut c, "ROLLBACK; SET IMPLICIT_TRANSACTIONS OFF")
        .await
        .unwrap();
    assert_eq!(rig.committed(1), 12);
    assert_eq!(run(&mut c, bump).await, Ok(vec![13]));
    assert_eq!(rig.committed(1), 13, "autocommit again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_levels_are_set_reported_and_kept() {
    let rig = Rig::start().await;
    let mut c = rig.connect().await;
    let mut w = rig.connect().await;
    let level = "SELECT CAST(transaction_isolation_level AS bigint) FROM sys.dm_exec_sessions";
    assert_eq!(run(&mut c, level).await, Ok(vec![2]), "read committed");
    for (set, reported) in [("REPEATABLE READ", 3), ("SERIALIZABLE", 4), ("SNAPSHOT", 5)] {
        let sql = format!("SET TRANSACTION ISOLATION LEVEL {set}");
        run(&mut c, &sql).await.unwrap();
        assert_eq!(run(&mut c, level).await, Ok(vec![reported]), "{set}");
    }
    // SNAPSHOT: one snapshot from the first read; a later commit is not seen.
    run(&mut c, "BEGIN TRAN").await.unwrap();
    let read = "SELECT v FROM t WHERE id = 2";
    assert_eq!(run(&mut c, read).await, Ok(vec![20]));
    run(&mut w, "UPDATE t SET v = 22 WHERE id = 2")
        .await
        .unwrap();
    assert_eq!(run(&mut c, read).await, Ok(vec![20]));
    // Updating the row another committed since: an update conflict (3960), rolled back.
    let conflict = run(&mut c, "UPDATE t SET v = 23 WHERE id = 2").await;
    assert_eq!(conflict, Err(3960));
    assert_eq!(run(&mut c, read).await, Ok(vec![22]), "a new transaction");
    run(&mut c, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        .await
        .unwrap();
    assert_eq!(run(&mut c, level).await, Ok(vec![2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_rolls_the_victim_back() {
    let rig = Rig::start().await;
    let (mut a, mut b) = (rig.connect().await, rig.connect().await);
    run(&mut a, "BEGIN TRAN; UPDATE t SET v = 100 WHERE id = 1")
        .await
        .unwrap();
    run(&mut b, "BEGIN TRAN; UPDATE t SET v = 200 WHERE id = 2")
        .await
        .unwrap();
    let a_waits = tokio::spawn(async move {
        let r = run(&mut a, "UPDATE t SET v = 101 WHERE id = 2").await;
        (a, r)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rb = run(&mut b, "UPDATE t SET v = 201 WHERE id = 1").await;
    let (mut a, ra) = a_waits.await.unwrap();
    // One of the two is the victim (1205) and loses its first write with its
    // transaction; the other goes on and commits both of its writes.
    let (winner, expected) = match (ra, rb) {
        (Err(1205), Ok(_)) => (&mut b, (201, 200)),
        (Ok(_), Err(1205)) => (&mut a, (100, 101)),
        other => panic!("no deadlock victim: {other:?}"),
    };
    run(winner, "COMMIT").await.unwrap();
    assert_eq!((rig.committed(1), rig.committed(2)), expected);
}
