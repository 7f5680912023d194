//! Every way a transaction begins and ends (design §4.4, issue 8), written once and run
//! against every origin through wirecache (`NAME::postgres`, `NAME::mariadb`). Each
//! case follows one pattern: a reader caches `v = 1`; a writer opens a transaction in
//! the way under test and writes; the reader reads the committed value again, which
//! refills the cache (and is then a hit, so the old value really is stored); the writer
//! ends the transaction in the way under test; the reader must now see what the origin
//! holds. Protocol-specific ways are in `pg_transactions` and `mysql_transactions`.

use crate::common::origin::{BOTH, Client, Origin, Sql, Via, int};
use crate::common::proxy::Proxy;
use crate::for_each_origin;

for_each_origin!(
    with_pooled:
    begin_and_the_write_in_one_text_string,
    begin_then_a_prepared_write_with_parameters,
    savepoints_keep_what_was_not_rolled_back,
    commit_and_chain_applies_the_writes_although_a_transaction_goes_on,
    a_commit_followed_by_another_transaction_in_the_same_string,
    rollback_in_every_form_leaves_the_committed_value,
    a_disconnect_rolls_back,
    prepared_transaction_committed_by_another_session,
);

/// The same on SQL Server's protocol (`common::origin_tds`), except `COMMIT AND
/// CHAIN` and two-phase commit, which T-SQL (and the test origin) does not have.
mod tds {
    crate::for_tds!(
        begin_and_the_write_in_one_text_string,
        begin_then_a_prepared_write_with_parameters,
        savepoints_keep_what_was_not_rolled_back,
        a_commit_followed_by_another_transaction_in_the_same_string,
        rollback_in_every_form_leaves_the_committed_value,
        a_disconnect_rolls_back,
    );
}

pub const READ: &str = "SELECT v FROM t WHERE id = 1";
pub const UPDATE: &str = "UPDATE t SET v = 2 WHERE id = 1";

const SCHEMA: Sql = Sql {
    postgres: "CREATE TABLE t (id int PRIMARY KEY, v bigint); INSERT INTO t VALUES (1, 1), (2, 1);
         CREATE TABLE other (a int);",
    mariadb: "CREATE TABLE t (id int PRIMARY KEY, v bigint) ENGINE=InnoDB;
         INSERT INTO t VALUES (1, 1), (2, 1);
         CREATE TABLE other (a int) ENGINE=InnoDB;",
};

/// One statement of a writer.
#[derive(Clone, Debug)]
pub enum Step {
    /// As text (may hold several statements); must succeed.
    Text(String),
    /// Prepared, with parameters; must succeed.
    Bin(String, Vec<i64>),
    /// As text; must fail.
    Fails(String),
}

pub fn text(sql: impl Into<String>) -> Step {
    Step::Text(sql.into())
}

pub fn bin(sql: impl Into<String>) -> Step {
    Step::Bin(sql.into(), Vec::new())
}

/// Runs the steps in order on `c`.
pub async fn run<C: Client>(c: &mut C, steps: &[Step]) {
    for step in steps {
        match step {
            Step::Text(sql) => c
                .execute(Via::Text, sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            Step::Bin(sql, params) => c
                .execute(Via::Prepared, sql, params)
                .await
                .unwrap_or_else(|e| panic!("{sql} (prepared): {e}")),
            Step::Fails(sql) => {
                let result = c.execute(Via::Text, sql, &[]).await;
                assert!(result.is_err(), "{sql} succeeded");
            }
        }
    }
}

/// A fresh database with `t` and `other`, a wirecache, and a reader through it.
pub struct Fixture<O: Origin> {
    pub origin: &'static O,
    pub db: String,
    pub proxy: Proxy,
    reader: O::Client,
}

impl<O: Origin> Fixture<O> {
    pub async fn new(prefix: &str) -> Fixture<O> {
        let origin = O::shared();
        let db = origin.create_db(prefix);
        origin.run(&db, O::pick(&SCHEMA));
        // A stale entry must outlive the test, not expire at a learned 1 s TTL.
        let proxy = origin.proxy().settings("min_ttl = \"30s\"").start().await;
        let mut reader = O::connect(&proxy, &db).await;
        // READ is prepared once: a statement tokio-postgres prepares per call is closed
        // after it, and the next read would find that Close still owed by the origin.
        reader.keep_statements();
        Fixture {
            origin,
            db,
            proxy,
            reader,
        }
    }

    /// A writer through wirecache.
    pub async fn conn(&self) -> O::Client {
        O::connect(&self.proxy, &self.db).await
    }

    /// The value through wirecache, as text and prepared; the two must agree.
    pub async fn read(&mut self) -> i64 {
        let text = int(&mut self.reader, Via::Text, READ).await;
        let prepared = int(&mut self.reader, Via::Prepared, READ).await;
        assert_eq!(text, prepared, "the text and the prepared read disagree");
        text
    }

    /// Reads until both reads are hits, and returns the value.
    pub async fn cached(&mut self) -> i64 {
        let first = self.read().await;
        let hits = self.proxy.hits().await;
        assert_eq!(self.read().await, first);
        assert!(
            self.proxy.hits().await >= hits + 2.0,
            "the read was not served from the cache"
        );
        first
    }

    /// The committed value as the origin itself has it.
    pub fn truth(&self) -> i64 {
        self.origin
            .run(&self.db, READ)
            .trim()
            .parse()
            .expect("a number")
    }

    /// After the writer ended its transaction: both reads through wirecache give
    /// `want`, which is also what the origin holds.
    pub async fn expect(&mut self, want: i64, what: &str) {
        assert_eq!(
            self.truth(),
            want,
            "{what}: the origin disagrees with the test"
        );
        for via in BOTH {
            assert_eq!(
                int(&mut self.reader, via, READ).await,
                want,
                "{what}: stale {via:?} read through wirecache"
            );
        }
    }
}

/// The pattern of the module doc, on a fresh database: `open` begins the transaction
/// and writes `v = 2`, `end` ends it, after which the value must be `want`.
pub async fn case<O: Origin>(prefix: &str, open: &[Step], end: &[Step], want: i64) {
    let mut f = Fixture::<O>::new(prefix).await;
    assert_eq!(f.cached().await, 1);
    let mut writer = f.conn().await;
    run(&mut writer, open).await;
    // Not committed yet: the reader sees 1 and caches it again.
    assert_eq!(f.cached().await, 1, "{prefix}: read an uncommitted value");
    run(&mut writer, end).await;
    f.expect(want, prefix).await;
}

async fn begin_and_the_write_in_one_text_string<O: Origin>() {
    let open = [text(format!("{}; {UPDATE}", O::BEGIN))];
    case::<O>("one_string", &open, &[text("COMMIT")], 2).await;
}

async fn begin_then_a_prepared_write_with_parameters<O: Origin>() {
    // What a driver does for a transaction: BEGIN, then prepared statements.
    let update = format!(
        "UPDATE t SET v = {} WHERE id = {}",
        O::placeholder(1),
        O::placeholder(2)
    );
    let open = [text(O::BEGIN), Step::Bin(update, vec![2, 1])];
    case::<O>("driver", &open, &[text("COMMIT")], 2).await;
}

async fn savepoints_keep_what_was_not_rolled_back<O: Origin>() {
    let open = [
        text(O::BEGIN),
        text(UPDATE),
        text("SAVEPOINT s1"),
        text("UPDATE t SET v = 3 WHERE id = 1"),
        text("ROLLBACK TO SAVEPOINT s1"),
    ];
    case::<O>("savepoint", &open, &[text("COMMIT")], 2).await;
    let open = [text(O::BEGIN), text(UPDATE), text("SAVEPOINT s1")];
    let end = [text("RELEASE SAVEPOINT s1"), text("COMMIT")];
    case::<O>("release", &open, &end, 2).await;
    let release_one = Sql {
        postgres: "RELEASE s1; COMMIT",
        mariadb: "RELEASE SAVEPOINT s1; COMMIT",
    };
    case::<O>("release_one", &open, &[text(O::pick(&release_one))], 2).await;
}

async fn commit_and_chain_applies_the_writes_although_a_transaction_goes_on<O: Origin>() {
    let mut f = Fixture::<O>::new("chain").await;
    assert_eq!(f.cached().await, 1);
    let mut writer = f.conn().await;
    run(&mut writer, &[text(O::BEGIN), text(UPDATE)]).await;
    assert_eq!(f.cached().await, 1);
    run(&mut writer, &[text("COMMIT AND CHAIN")]).await;
    f.expect(2, "commit and chain").await;
    // The chained transaction writes and rolls back: nothing changes.
    run(&mut writer, &[text("UPDATE t SET v = 3 WHERE id = 1")]).await;
    assert_eq!(f.cached().await, 2);
    run(&mut writer, &[text("ROLLBACK")]).await;
    f.expect(2, "chained rollback").await;
}

async fn a_commit_followed_by_another_transaction_in_the_same_string<O: Origin>() {
    // The COMMIT inside the string applies its writes although the string ends with a
    // ROLLBACK of a later transaction.
    // The writer first reads `other` outside a transaction, so its catalog facts are
    // known and the rolled-back INSERT invalidates only `other`, not `t`.
    let open = [
        text("SELECT count(*) FROM other"),
        text(O::BEGIN),
        text(UPDATE),
    ];
    let end = [text(format!(
        "COMMIT; {}; INSERT INTO other VALUES (1); ROLLBACK",
        O::BEGIN
    ))];
    case::<O>("commit_then_rollback", &open, &end, 2).await;
}

async fn rollback_in_every_form_leaves_the_committed_value<O: Origin>() {
    case::<O>(
        "rollback",
        &[text(O::BEGIN), text(UPDATE)],
        &[text("ROLLBACK")],
        1,
    )
    .await;
    // Begun by turning autocommit off where the dialect can, a prepared write.
    let begin = O::AUTOCOMMIT_OFF.unwrap_or(O::BEGIN);
    let open = [text(begin), bin(UPDATE)];
    case::<O>("rollback_work", &open, &[text("ROLLBACK WORK")], 1).await;
    let open = [text(O::BEGIN), text(UPDATE)];
    case::<O>("rollback_multi", &open, &[text("ROLLBACK; SELECT 1")], 1).await;
}

async fn a_disconnect_rolls_back<O: Origin>() {
    let mut f = Fixture::<O>::new("disconnect").await;
    assert_eq!(f.cached().await, 1);
    let mut writer = f.conn().await;
    run(&mut writer, &[text(O::BEGIN), text(UPDATE)]).await;
    assert_eq!(f.cached().await, 1);
    writer.close().await;
    f.expect(1, "disconnect").await;
}

async fn prepared_transaction_committed_by_another_session<O: Origin>() {
    let mut f = Fixture::<O>::new("twophase").await;
    assert_eq!(f.cached().await, 1);
    let xid = f.db.clone();
    let mut writer = f.conn().await;
    let steps: Vec<Step> = O::prepare_two_phase(&xid, UPDATE)
        .into_iter()
        .map(Step::Text)
        .collect();
    run(&mut writer, &steps).await;
    // A prepared transaction outlives its session; another one commits it by name.
    writer.close().await;
    assert_eq!(f.cached().await, 1);
    let mut other = f.conn().await;
    run(&mut other, &[Step::Text(O::commit_prepared(&xid))]).await;
    f.expect(2, "commit prepared elsewhere").await;
}
