//! Every way a MySQL/MariaDB transaction begins and ends (design §4.4, issue 8),
//! against a real MariaDB through the MySQL listener. Each case follows one pattern:
//! a reader caches `v = 1`; a writer opens a transaction in the way under test and
//! writes; the reader reads the committed value again, which refills the cache (and is
//! then a hit, so the old value really is stored); the writer ends the transaction in
//! the way under test; the reader must now see what the origin holds.

use crate::common;

use common::mysql::{self, MyOrigin, ROOT_PASSWORD, ROOT_USER};
use common::proxy::Proxy;
use mysql_async::Conn;
use mysql_async::prelude::*;

const READ: &str = "SELECT v FROM t WHERE id = 1";

/// One statement of a writer, sent as text (COM_QUERY) or prepared (COM_STMT_EXECUTE).
#[derive(Clone, Copy)]
enum Step {
    Text(&'static str),
    Bin(&'static str),
}
use Step::{Bin, Text};

struct Fixture {
    origin: &'static MyOrigin,
    db: String,
    proxy: Proxy,
    reader: Conn,
}

impl Fixture {
    async fn new(prefix: &str) -> Fixture {
        let origin = MyOrigin::shared();
        let db = origin.create_db(prefix);
        origin.sql(
            &db,
            "CREATE TABLE t (id int PRIMARY KEY, v bigint) ENGINE=InnoDB;
             INSERT INTO t VALUES (1, 1), (2, 1);
             CREATE TABLE other (a int) ENGINE=InnoDB;",
        );
        let proxy = Proxy::builder().mysql_demo(origin.port).start().await;
        let reader = mysql::connect(&proxy.mysql_url("demo", &db, ROOT_USER, ROOT_PASSWORD)).await;
        Fixture {
            origin,
            db,
            proxy,
            reader,
        }
    }

    async fn conn(&self) -> Conn {
        let url = self
            .proxy
            .mysql_url("demo", &self.db, ROOT_USER, ROOT_PASSWORD);
        mysql::connect(&url).await
    }

    async fn read_text(&mut self) -> i64 {
        self.reader.query_first(READ).await.unwrap().unwrap()
    }

    async fn read_bin(&mut self) -> i64 {
        self.reader.exec_first(READ, ()).await.unwrap().unwrap()
    }

    /// Reads until the answer is a hit (text and prepared), and returns it.
    async fn cached(&mut self) -> i64 {
        let first = self.read_text().await;
        self.read_bin().await;
        let hits = self.proxy.hits().await;
        assert_eq!(self.read_text().await, first);
        assert_eq!(self.read_bin().await, first);
        assert!(
            self.proxy.hits().await >= hits + 2.0,
            "the read was not served from the cache"
        );
        first
    }

    /// The committed value as the origin itself has it.
    fn truth(&self) -> i64 {
        self.origin
            .sql(&self.db, READ)
            .trim()
            .parse()
            .expect("a number")
    }

    /// After the writer ended its transaction: both protocols' reads through wirecache
    /// give `want`, which is also what the origin holds.
    async fn expect(&mut self, want: i64, what: &str) {
        assert_eq!(
            self.truth(),
            want,
            "{what}: the origin disagrees with the test"
        );
        assert_eq!(self.read_text().await, want, "{what}: stale text read");
        assert_eq!(self.read_bin().await, want, "{what}: stale prepared read");
    }
}

async fn run(c: &mut Conn, steps: &[Step]) {
    for step in steps {
        match *step {
            Text(sql) => c.query_drop(sql).await,
            Bin(sql) => c.exec_drop(sql, ()).await,
        }
        .unwrap_or_else(|e| panic!("{}: {e}", text(step)));
    }
}

fn text(step: &Step) -> &'static str {
    match *step {
        Text(s) | Bin(s) => s,
    }
}

/// The pattern of the module doc, on a fresh database: `open` begins the transaction
/// and writes `v = 2`, `end` ends it, after which the value must be `want`.
async fn case(prefix: &str, open: &[Step], end: &[Step], want: i64) {
    let mut f = Fixture::new(prefix).await;
    assert_eq!(f.cached().await, 1);
    let mut writer = f.conn().await;
    run(&mut writer, open).await;
    // Not committed yet: the reader sees 1 and caches it again.
    assert_eq!(f.cached().await, 1, "{prefix}: read an uncommitted value");
    run(&mut writer, end).await;
    f.expect(want, prefix).await;
}

const UPDATE: Step = Text("UPDATE t SET v = 2 WHERE id = 1");
const UPDATE_BIN: Step = Bin("UPDATE t SET v = 2 WHERE id = 1");
const START: Step = Text("START TRANSACTION");
const AUTOCOMMIT_OFF: Step = Text("SET autocommit = 0");
const COMMIT: Step = Text("COMMIT");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocommit_off_then_a_text_write_then_commit() {
    case("ac0_text", &[AUTOCOMMIT_OFF, UPDATE], &[COMMIT], 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocommit_off_then_a_prepared_write_then_commit() {
    case(
        "ac0_bin",
        &[AUTOCOMMIT_OFF, UPDATE_BIN],
        &[Bin("COMMIT")],
        2,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_autocommit_1_commits_the_open_transaction() {
    case(
        "ac1",
        &[AUTOCOMMIT_OFF, UPDATE],
        &[Text("SET autocommit = 1")],
        2,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_transaction_and_the_write_in_one_multi_statement() {
    let open = [Text("START TRANSACTION; UPDATE t SET v = 2 WHERE id = 1")];
    case("multi", &open, &[COMMIT], 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_and_chain_applies_the_writes_although_a_transaction_goes_on() {
    let mut f = Fixture::new("chain").await;
    assert_eq!(f.cached().await, 1);
    let mut writer = f.conn().await;
    run(&mut writer, &[START, UPDATE]).await;
    assert_eq!(f.cached().await, 1);
    run(&mut writer, &[Text("COMMIT AND CHAIN")]).await;
    f.expect(2, "commit and chain").await;
    // The chained transaction writes and rolls back: nothing changes.
    run(&mut writer, &[Text("UPDATE t SET v = 3 WHERE id = 1")]).await;
    assert_eq!(f.cached().await, 2);
    run(&mut writer, &[Text("ROLLBACK")]).await;
    f.expect(2, "chained rollback").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_that_commit_implicitly() {
    let ends: [&[Step]; 4] = [
        &[Text("CREATE TABLE scratch (a int)")],
        &[Text("LOCK TABLES other WRITE"), Text("UNLOCK TABLES")],
        &[Text("CREATE USER IF NOT EXISTS 'wc_implicit'@'%'")],
        &[START],
    ];
    for (i, end) in ends.iter().enumerate() {
        for begin in [START, AUTOCOMMIT_OFF] {
            case(&format!("implicit{i}"), &[begin, UPDATE], end, 2).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoints_keep_what_was_not_rolled_back() {
    let open = [
        START,
        UPDATE,
        Text("SAVEPOINT s1"),
        Text("UPDATE t SET v = 3 WHERE id = 1"),
        Text("ROLLBACK TO SAVEPOINT s1"),
    ];
    case("savepoint", &open, &[COMMIT], 2).await;
    case(
        "release",
        &[START, UPDATE, Text("SAVEPOINT s1")],
        &[Text("RELEASE SAVEPOINT s1"), COMMIT],
        2,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_in_every_form_leaves_the_committed_value() {
    case("rollback", &[START, UPDATE], &[Text("ROLLBACK")], 1).await;
    case(
        "rollback_ac0",
        &[AUTOCOMMIT_OFF, UPDATE_BIN],
        &[Text("ROLLBACK WORK")],
        1,
    )
    .await;
    case(
        "rollback_multi",
        &[START, UPDATE],
        &[Text("ROLLBACK; SELECT 1")],
        1,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_transaction_committed_in_one_phase() {
    let open = [Text("XA START 'wc1'"), UPDATE];
    let end = [Text("XA END 'wc1'"), Text("XA COMMIT 'wc1' ONE PHASE")];
    case("xa1", &open, &end, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_transaction_prepared_here_and_committed_by_another_session() {
    let mut f = Fixture::new("xa2").await;
    assert_eq!(f.cached().await, 1);
    let mut writer = f.conn().await;
    let xid = format!("'{}'", f.db);
    for sql in ["XA START", "", "XA END", "XA PREPARE"] {
        let sql = if sql.is_empty() {
            text(&UPDATE).to_string()
        } else {
            format!("{sql} {xid}")
        };
        writer.query_drop(&sql).await.unwrap();
    }
    // A prepared XA transaction outlives its session; another one commits it by name.
    writer.disconnect().await.unwrap();
    assert_eq!(f.cached().await, 1);
    let mut other = f.conn().await;
    other.query_drop(format!("XA COMMIT {xid}")).await.unwrap();
    f.expect(2, "xa commit elsewhere").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_user_reset_and_disconnect_roll_back() {
    for how in ["change_user", "reset", "disconnect"] {
        let mut f = Fixture::new(how).await;
        assert_eq!(f.cached().await, 1);
        let mut writer = f.conn().await;
        run(&mut writer, &[START, UPDATE]).await;
        assert_eq!(f.cached().await, 1);
        let goes_on = match how {
            "change_user" => {
                let opts = mysql_async::ChangeUserOpts::default();
                writer.change_user(opts).await.unwrap();
                Some(writer)
            }
            "reset" => {
                writer.reset().await.unwrap();
                Some(writer)
            }
            _ => {
                writer.disconnect().await.unwrap();
                None
            }
        };
        f.expect(1, how).await;
        if let Some(mut writer) = goes_on {
            // The session goes on and its next autocommit write is seen at once.
            writer
                .query_drop("UPDATE t SET v = 5 WHERE id = 1")
                .await
                .unwrap();
            f.expect(5, how).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_rolls_back_one_side_and_the_other_commits() {
    let mut f = Fixture::new("deadlock").await;
    assert_eq!(f.cached().await, 1);
    let mut a = f.conn().await;
    let mut b = f.conn().await;
    run(&mut a, &[START, UPDATE]).await;
    run(&mut b, &[START, Text("UPDATE t SET v = 7 WHERE id = 2")]).await;
    // a waits for b's row; b then asks for a's row: one of them is the victim.
    let a_waits = tokio::spawn(async move {
        let r = a.query_drop("UPDATE t SET v = 8 WHERE id = 2").await;
        (a, r)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let b_result = b.query_drop("UPDATE t SET v = 9 WHERE id = 1").await;
    let (a, a_result) = a_waits.await.unwrap();
    let (mut winner, victim_err) = match (a_result, b_result) {
        (Ok(()), Err(e)) => (a, e),
        (Err(e), Ok(())) => (b, e),
        other => panic!("expected exactly one deadlock victim: {other:?}"),
    };
    assert!(victim_err.to_string().contains("1213"), "{victim_err}");
    // The reader refills while the winner's transaction is still open.
    assert_eq!(f.cached().await, 1);
    winner.query_drop("COMMIT").await.unwrap();
    let want = f.truth();
    f.expect(want, "after the deadlock").await;
    assert_ne!(want, 1, "the winner's commit changed row 1");
}
