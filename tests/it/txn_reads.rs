//! Reads inside transactions (issue 11), against every origin: a READ COMMITTED
//! transaction is served from the cache until its first write (the origin's own
//! statement counters prove the reads did not reach it), never after it (its own
//! write must be seen, although the cache holds the committed value); REPEATABLE READ
//! and SERIALIZABLE transactions keep their snapshot unless the cache's policy is
//! `always`, which this file shows weakening them; the session's default level is
//! followed through the statements that set it, and the `never` policy keeps every
//! transaction away from the cache. Protocol-specific cases (a role's default level,
//! READ UNCOMMITTED's dirty reads, autocommit off) follow.

use crate::common::origin::{Client, MariaDb, Origin, Postgres, Via, int};
use crate::common::proxy::Proxy;
use crate::consistency::{read, warm};
use crate::for_each_origin;

for_each_origin!(
    a_read_committed_transaction_is_served_until_its_first_write,
    repeatable_read_and_serializable_keep_their_snapshot_unless_the_policy_is_always,
    the_session_default_level_is_followed,
    the_never_policy_keeps_transactions_away,
    a_rule_sets_the_policy_of_the_queries_it_matches,
    always_stores_only_what_a_snapshot_transaction_read_first,
);

const Q: &str = "SELECT v FROM acct_txn WHERE id = 1";
const SCHEMA: &str = "CREATE TABLE acct_txn (id int PRIMARY KEY, v bigint); \
                      INSERT INTO acct_txn VALUES (1, 1), (2, 1);";

fn series(name: &str) -> String {
    format!("{name}{{cache=\"demo\"}} ")
}

fn bypasses(reason: &str) -> String {
    format!("wirecache_bypasses_total{{cache=\"demo\",reason=\"{reason}\"}} ")
}

const IN_TXN_HITS: &str = "wirecache_hits_in_transaction_total";

/// A fresh database with `acct_txn` (InnoDB on MariaDB).
fn database<O: Origin>(prefix: &str) -> (&'static O, String) {
    let origin = O::shared();
    let db = origin.create_db(prefix);
    let schema = SCHEMA.replace("v bigint)", &format!("v bigint){}", engine::<O>()));
    origin.run(&db, &schema);
    (origin, db)
}

/// The table option that makes a table transactional on this origin.
fn engine<O: Origin>() -> &'static str {
    if O::NAME == "mariadb" {
        " ENGINE=InnoDB"
    } else {
        ""
    }
}

/// A fresh database with `acct_txn`, and a wirecache whose `demo` cache has
/// `transactions = policy` (`None`: the default).
async fn setup<O: Origin>(prefix: &str, policy: Option<&str>) -> (&'static O, String, Proxy) {
    let (origin, db) = database::<O>(prefix);
    let mut builder = origin.proxy().settings("min_ttl = \"30s\"");
    if let Some(p) = policy {
        builder = builder.cache_lines("demo", &format!("transactions = \"{p}\""));
    }
    (origin, db, builder.start().await)
}

/// The statements that begin a transaction at `level` (`READ COMMITTED`, …).
fn begin_at<O: Origin>(level: &str) -> Vec<String> {
    if O::NAME == "postgres" {
        vec![format!("BEGIN ISOLATION LEVEL {level}")]
    } else {
        vec![
            format!("SET TRANSACTION ISOLATION LEVEL {level}"),
            "START TRANSACTION".to_string(),
        ]
    }
}

/// The statement that makes `level` the session's default.
fn session_level<O: Origin>(level: &str) -> String {
    if O::NAME == "postgres" {
        format!("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL {level}")
    } else {
        format!("SET SESSION TRANSACTION ISOLATION LEVEL {level}")
    }
}

async fn exec_all<C: Client>(c: &mut C, steps: &[String]) {
    for s in steps {
        c.execute(Via::Text, s, &[])
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

async fn exec<C: Client>(c: &mut C, sql: &str) {
    exec_all(c, &[sql.to_string()]).await;
}

/// Reads `Q` (text and prepared) on `c`, and says how many of those reads the
/// origin executed, of the [`counted_of_two`] it can count.
async fn reads_reaching_origin<O: Origin>(origin: &O, db: &str, c: &mut O::Client) -> (i64, i64) {
    counted::<O>(c).await;
    let before = origin.selects_of(db, "acct_txn");
    let v = read(c, Q).await;
    counted::<O>(c).await;
    (v, origin.selects_of(db, "acct_txn") - before)
}

/// How many of one [`read`]'s two executions the origin counts (MariaDB counts no
/// prepared execution; wirecache's hit counters cover those).
fn counted_of_two<O: Origin>() -> i64 {
    if O::NAME == "postgres" { 2 } else { 1 }
}

/// Waits until the origin has counted every read `c` made.
async fn counted<O: Origin>(c: &mut O::Client) {
    if O::NAME == "postgres" {
        // Inside a transaction block PostgreSQL counts an extended-protocol read when
        // its portal goes, which a simple query (never served) makes happen.
        exec(c, "SELECT pg_backend_pid()").await;
    }
    c.settle().await;
}

/// A client through wirecache that keeps its prepared statements (so a read leaves
/// nothing owed behind it) and has read `Q` both ways.
async fn client<O: Origin>(origin: &O, proxy: &Proxy, db: &str) -> O::Client {
    let mut c = O::connect(proxy, db).await;
    c.keep_statements();
    assert_eq!(warm(origin, proxy, &mut c, db, Q).await, 1);
    c
}

async fn a_read_committed_transaction_is_served_until_its_first_write<O: Origin>() {
    let (origin, db, proxy) = setup::<O>("txn_rc", None).await;
    let mut c = client(origin, &proxy, &db).await;
    let mut other = client(origin, &proxy, &db).await;
    exec_all(&mut c, &begin_at::<O>("READ COMMITTED")).await;
    let hits = proxy.metric(&series(IN_TXN_HITS)).await;
    for _ in 0..2 {
        let (v, ran) = reads_reaching_origin(origin, &db, &mut c).await;
        assert_eq!((v, ran), (1, 0), "a READ COMMITTED read reached the origin");
    }
    assert_eq!(proxy.metric(&series(IN_TXN_HITS)).await, hits + 4.0);
    // Each statement sees what others committed since the transaction began.
    exec(&mut other, "UPDATE acct_txn SET v = 5 WHERE id = 1").await;
    assert_eq!(read(&mut c, Q).await, 5);
    // The first write: from now on the transaction reads its own writes.
    exec(&mut c, "UPDATE acct_txn SET v = 7 WHERE id = 1").await;
    let after_write = proxy.metric(&bypasses("in_transaction_after_write")).await;
    assert_eq!(
        read(&mut c, Q).await,
        7,
        "the transaction missed its own write"
    );
    // Others cache the committed value; the writer must still not be served it.
    assert_eq!(read(&mut other, Q).await, 5);
    assert_eq!(read(&mut other, Q).await, 5);
    let (v, ran) = reads_reaching_origin(origin, &db, &mut c).await;
    assert_eq!(
        v, 7,
        "served the cached committed value after the transaction wrote"
    );
    assert_eq!(
        ran,
        counted_of_two::<O>(),
        "reads after the write must reach the origin"
    );
    assert!(proxy.metric(&bypasses("in_transaction_after_write")).await >= after_write + 4.0);
    exec(&mut c, "COMMIT").await;
    assert_eq!(read(&mut other, Q).await, 7);
    // The next transaction has written nothing: served again.
    exec_all(&mut c, &begin_at::<O>("READ COMMITTED")).await;
    let (v, ran) = reads_reaching_origin(origin, &db, &mut c).await;
    assert_eq!((v, ran), (7, 0));
    exec(&mut c, "COMMIT").await;
}

async fn repeatable_read_and_serializable_keep_their_snapshot_unless_the_policy_is_always<
    O: Origin,
>() {
    // (MariaDB's SERIALIZABLE reads lock rows: the writer below would wait on them.)
    let serializable =
        (O::NAME == "postgres").then_some((None, "SERIALIZABLE", 1, "isolation_serializable"));
    let cases = [
        Some((None, "REPEATABLE READ", 1, "isolation_repeatable_read")),
        serializable,
        // `always` serves the newer committed value: the snapshot is weakened.
        Some((
            Some("always"),
            "REPEATABLE READ",
            2,
            "isolation_repeatable_read",
        )),
    ];
    for (policy, level, want, reason) in cases.into_iter().flatten() {
        let (origin, db, proxy) = setup::<O>("txn_rr", policy).await;
        let mut c = client(origin, &proxy, &db).await;
        let mut other = client(origin, &proxy, &db).await;
        exec_all(&mut c, &begin_at::<O>(level)).await;
        let refused = proxy.metric(&bypasses(reason)).await;
        // The first read fixes the transaction's snapshot (at the origin).
        assert_eq!(
            int(&mut c, Via::Text, "SELECT v FROM acct_txn WHERE id = 2").await,
            1
        );
        assert_eq!(read(&mut c, Q).await, 1);
        exec(&mut other, "UPDATE acct_txn SET v = 2 WHERE id = 1").await;
        assert_eq!(read(&mut other, Q).await, 2);
        assert_eq!(
            read(&mut other, Q).await,
            2,
            "the committed value is cached"
        );
        assert_eq!(
            read(&mut c, Q).await,
            want,
            "{level} under {policy:?}: a value read twice in one transaction"
        );
        if policy.is_none() {
            assert!(proxy.metric(&bypasses(reason)).await > refused, "{reason}");
        }
        exec(&mut c, "COMMIT").await;
        // Whatever the policy, SERIALIZABLE reads reach the origin by default.
        if policy.is_none() {
            exec_all(&mut c, &begin_at::<O>("SERIALIZABLE")).await;
            let (v, ran) = reads_reaching_origin(origin, &db, &mut c).await;
            assert_eq!(
                (v, ran),
                (2, counted_of_two::<O>()),
                "a SERIALIZABLE read was served"
            );
            exec(&mut c, "COMMIT").await;
        }
    }
}

async fn the_session_default_level_is_followed<O: Origin>() {
    let (origin, db, proxy) = setup::<O>("txn_default", None).await;
    let mut c = client(origin, &proxy, &db).await;
    for (level, served) in [
        ("SERIALIZABLE", false),
        ("READ COMMITTED", true),
        ("REPEATABLE READ", false),
        ("READ COMMITTED", true),
    ] {
        exec(&mut c, &session_level::<O>(level)).await;
        exec(&mut c, O::BEGIN).await;
        let (v, ran) = reads_reaching_origin(origin, &db, &mut c).await;
        assert_eq!(v, 1);
        assert_eq!(
            ran == 0,
            served,
            "session default {level}: {ran} reads at the origin"
        );
        exec(&mut c, "COMMIT").await;
    }
}

async fn the_never_policy_keeps_transactions_away<O: Origin>() {
    let (origin, db, proxy) = setup::<O>("txn_never", Some("never")).await;
    let mut c = client(origin, &proxy, &db).await;
    exec_all(&mut c, &begin_at::<O>("READ COMMITTED")).await;
    let refused = proxy.metric(&bypasses("in_transaction")).await;
    let (v, ran) = reads_reaching_origin(origin, &db, &mut c).await;
    assert_eq!((v, ran), (1, counted_of_two::<O>()));
    assert_eq!(
        proxy.metric(&bypasses("in_transaction")).await,
        refused + 2.0
    );
    exec(&mut c, "COMMIT").await;
    // Outside a transaction the cache serves as ever.
    let (v, ran) = reads_reaching_origin(origin, &db, &mut c).await;
    assert_eq!((v, ran), (1, 0));
}

/// Under `always`, a REPEATABLE READ transaction's first statement takes its
/// snapshot itself, so its answer is as fresh as a READ COMMITTED one and is stored;
/// a later read may come from an older snapshot and is not.
async fn always_stores_only_what_a_snapshot_transaction_read_first<O: Origin>() {
    let (_, db, proxy) = setup::<O>("txn_first", Some("always")).await;
    let mut c = O::connect(&proxy, &db).await;
    c.keep_statements();
    let mut other = O::connect(&proxy, &db).await;
    other.keep_statements();
    let second = "SELECT v FROM acct_txn WHERE id = 2";
    // The catalog learns the table outside a transaction.
    let count = "SELECT count(*) FROM acct_txn";
    assert_eq!(int(&mut other, Via::Text, count).await, 2);
    exec_all(&mut c, &begin_at::<O>("REPEATABLE READ")).await;
    assert_eq!(int(&mut c, Via::Text, Q).await, 1);
    assert_eq!(int(&mut c, Via::Text, second).await, 1);
    exec(&mut c, "COMMIT").await;
    let hits = proxy.hits().await;
    assert_eq!(int(&mut other, Via::Text, Q).await, 1);
    assert_eq!(
        proxy.hits().await,
        hits + 1.0,
        "the first read was not stored"
    );
    assert_eq!(int(&mut other, Via::Text, second).await, 1);
    assert_eq!(proxy.hits().await, hits + 1.0, "a later read was stored");
}

async fn a_rule_sets_the_policy_of_the_queries_it_matches<O: Origin>() {
    let (origin, db) = database::<O>("txn_rule");
    let engine = engine::<O>();
    origin.run(
        &db,
        &format!("CREATE TABLE prices (id int PRIMARY KEY, p int){engine}; INSERT INTO prices VALUES (1, 10);"),
    );
    let proxy = origin
        .proxy()
        .settings("min_ttl = \"30s\"")
        .toml("[[rules]]\ntable = \"prices\"\ntransactions = \"never\"")
        .start()
        .await;
    let mut c = client(origin, &proxy, &db).await;
    let prices = "SELECT p FROM prices WHERE id = 1";
    assert_eq!(warm(origin, &proxy, &mut c, &db, prices).await, 10);
    exec_all(&mut c, &begin_at::<O>("READ COMMITTED")).await;
    let hits = proxy.hits().await;
    assert_eq!(read(&mut c, Q).await, 1);
    assert_eq!(
        proxy.hits().await,
        hits + 2.0,
        "the cache's policy serves acct_txn"
    );
    assert_eq!(read(&mut c, prices).await, 10);
    assert_eq!(
        proxy.hits().await,
        hits + 2.0,
        "the rule keeps prices from the cache"
    );
    exec(&mut c, "COMMIT").await;
}

/// A role's default level, set at the origin (`ALTER ROLE … IN DATABASE … SET`), is
/// what wirecache asks and follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_role_default_of_serializable_is_honoured() {
    let (origin, db, proxy) = setup::<Postgres>("txn_role", None).await;
    origin.grant_select(&db, "acct_txn", "alice");
    origin.run(
        &db,
        &format!(
            "ALTER ROLE alice IN DATABASE {db} SET default_transaction_isolation = 'serializable'"
        ),
    );
    let mut alice = Postgres::connect_as(&proxy, Some(&db), "alice").await;
    alice.keep_statements();
    assert_eq!(warm(origin, &proxy, &mut alice, &db, Q).await, 1);
    let refused = proxy.metric(&bypasses("isolation_serializable")).await;
    exec(&mut alice, "BEGIN").await;
    let (v, ran) = reads_reaching_origin(origin, &db, &mut alice).await;
    assert_eq!(
        (v, ran),
        (1, 2),
        "a SERIALIZABLE transaction was served from the cache"
    );
    exec(&mut alice, "COMMIT").await;
    assert_eq!(
        proxy.metric(&bypasses("isolation_serializable")).await,
        refused + 2.0
    );
    // Asked for this transaction alone, READ COMMITTED is served.
    exec_all(&mut alice, &begin_at::<Postgres>("READ COMMITTED")).await;
    let (v, ran) = reads_reaching_origin(origin, &db, &mut alice).await;
    assert_eq!((v, ran), (1, 0));
    exec(&mut alice, "COMMIT").await;
    // RESET ALL goes back to the role's default, which is asked again.
    exec(
        &mut alice,
        "SET default_transaction_isolation = 'read committed'",
    )
    .await;
    exec(&mut alice, "RESET ALL").await;
    exec(&mut alice, "BEGIN").await;
    let (_, ran) = reads_reaching_origin(origin, &db, &mut alice).await;
    assert_eq!(
        ran, 2,
        "after RESET ALL the role's SERIALIZABLE applies again"
    );
    exec(&mut alice, "COMMIT").await;
}

/// READ UNCOMMITTED reads rows another transaction has not committed (and may roll
/// back): such an answer is served to its reader but never stored for others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_read_uncommitted_answers_are_never_stored() {
    let (origin, db, proxy) = setup::<MariaDb>("txn_ru", None).await;
    let mut writer = MariaDb::connect(&proxy, &db).await;
    let mut dirty = MariaDb::connect(&proxy, &db).await;
    let mut other = MariaDb::connect(&proxy, &db).await;
    exec(
        &mut dirty,
        "SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
    )
    .await;
    exec(&mut writer, "START TRANSACTION").await;
    exec(&mut writer, "UPDATE acct_txn SET v = 9 WHERE id = 1").await;
    // Autocommit reads at READ UNCOMMITTED see the uncommitted 9.
    assert_eq!(read(&mut dirty, Q).await, 9);
    assert_eq!(read(&mut dirty, Q).await, 9);
    exec(&mut writer, "ROLLBACK").await;
    assert_eq!(
        read(&mut other, Q).await,
        1,
        "a rolled-back value was stored"
    );
    assert_eq!(warm(origin, &proxy, &mut other, &db, Q).await, 1);
}

/// PyMySQL's default: autocommit off, so every statement runs in a transaction. At
/// READ COMMITTED its reads are served (no transaction is even opened at the origin
/// for them); after a write, not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_autocommit_off_at_read_committed_is_served() {
    let (origin, db, proxy) = setup::<MariaDb>("txn_ac0", None).await;
    let mut c = client(origin, &proxy, &db).await;
    let mut other = client(origin, &proxy, &db).await;
    exec(
        &mut c,
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    )
    .await;
    exec(&mut c, "SET autocommit = 0").await;
    let (v, ran) = reads_reaching_origin(origin, &db, &mut c).await;
    assert_eq!((v, ran), (1, 0));
    exec(&mut c, "UPDATE acct_txn SET v = 3 WHERE id = 1").await;
    let (v, ran) = reads_reaching_origin(origin, &db, &mut c).await;
    assert_eq!((v, ran), (3, counted_of_two::<MariaDb>()));
    exec(&mut c, "COMMIT").await;
    assert_eq!(read(&mut other, Q).await, 3);
    let (v, ran) = reads_reaching_origin(origin, &db, &mut c).await;
    assert_eq!((v, ran), (3, 0));
}

/// psycopg2 in its default mode (a transaction opened before the first statement):
/// its reads are served, and a served read reports the transaction still open, as
/// the origin would (the driver decides what `commit()` sends from that status). The
/// first transaction reads a table wirecache has not asked the catalog about, which
/// it cannot do inside the transaction: that one goes to the origin, and the catalog
/// is asked at the next BEGIN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_psycopg2_default_transactions_are_served_and_stay_open() {
    let (_, db, proxy) = setup::<Postgres>("txn_psycopg2", None).await;
    let dsn = format!(
        "postgresql://demo-postgres@127.0.0.1:{}/{db}",
        proxy.pg_addr().port()
    );
    let script = r#"
import sys, psycopg2
from psycopg2.extensions import TRANSACTION_STATUS_INTRANS as INTRANS
c = psycopg2.connect(sys.argv[1])
cur = c.cursor()
for unit in range(4):
    for i in range(3):
        cur.execute("SELECT v FROM acct_txn WHERE id = 1")
        assert cur.fetchone() == (1,)
        assert c.info.transaction_status == INTRANS, (unit, i, c.info.transaction_status)
    c.commit()
cur.execute("UPDATE acct_txn SET v = 4 WHERE id = 2")
c.commit()
cur.execute("SELECT v FROM acct_txn WHERE id = 2")
assert cur.fetchone() == (4,)
c.commit()
print("psycopg2 ok")
"#;
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(["-c", script, &dsn])
            .output()
            .expect("python3")
    })
    .await
    .expect("python3 ran");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("psycopg2 ok"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hits = proxy.metric(&series(IN_TXN_HITS)).await;
    // Units 2 to 4: a miss, then hits.
    assert!(
        hits >= 8.0,
        "{hits} hits inside transactions\n{}",
        proxy.metrics().await
    );
}
