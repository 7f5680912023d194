//! A write is judged against the origin's catalog (the tables its triggers,
//! cascades and views reach), and that judgement is kept for the next texts of its
//! template. These promises hold the keeping to the schema it was made under: once
//! DDL through wirecache changes what a write reaches, the write's next text is
//! judged again.

use crate::common::origin::{Origin, Sql, Via, exec};
use crate::consistency::{read, setup, warm};
use crate::for_each_origin;

for_each_origin!(
    with_pooled:
    a_trigger_created_after_a_write_was_judged_is_followed,
    a_trigger_created_by_another_session_is_followed,
    a_trigger_created_as_a_dump_writes_it_is_followed,
    a_temporary_table_is_its_sessions_own,
);

/// An INSERT into `orders` is judged (it writes `orders` alone), then a trigger on
/// `orders` that writes `audit` is created through wirecache: the next INSERT of the
/// same template must invalidate the cached read of `audit`.
async fn a_trigger_created_after_a_write_was_judged_is_followed<O: Origin>() {
    trigger_created_later::<O>("trigger_later", false, false).await;
}

/// The same, with the trigger created by another session: the writing session's
/// judgement was made in its own namespace, which the DDL does not touch. (MariaDB's
/// trigger body is text sqlparser cannot read: the DDL is known by its first word.)
async fn a_trigger_created_by_another_session_is_followed<O: Origin>() {
    trigger_created_later::<O>("trigger_other", true, false).await;
}

/// The same, with the trigger written as mysqldump writes it on MariaDB: the DDL
/// inside executable comments (`/*!50003 CREATE*/ … /*!50003 TRIGGER … */`).
async fn a_trigger_created_as_a_dump_writes_it_is_followed<O: Origin>() {
    trigger_created_later::<O>("trigger_dump", true, true).await;
}

async fn trigger_created_later<O: Origin>(name: &str, by_another: bool, dumped: bool) {
    let schema = Sql {
        postgres: "CREATE TABLE orders (id serial PRIMARY KEY, amount int);
         CREATE TABLE audit (n bigint);
         INSERT INTO audit VALUES (0);
         CREATE FUNCTION bump_audit() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN UPDATE audit SET n = n + 1; RETURN NEW; END $$;",
        mariadb: "CREATE TABLE orders (id int AUTO_INCREMENT PRIMARY KEY, amount int);
         CREATE TABLE audit (n bigint); INSERT INTO audit VALUES (0);",
    };
    let trigger = Sql {
        postgres: "CREATE TRIGGER orders_audit AFTER INSERT ON orders \
                   FOR EACH ROW EXECUTE FUNCTION bump_audit()",
        mariadb: "CREATE TRIGGER orders_audit AFTER INSERT ON orders \
                  FOR EACH ROW UPDATE audit SET n = n + 1",
    };
    let dump = Sql {
        mariadb: "/*!50003 CREATE*/ /*!50017 DEFINER=CURRENT_USER*/ /*!50003 TRIGGER \
                  orders_audit AFTER INSERT ON orders FOR EACH ROW UPDATE audit SET n = n + 1 */",
        ..trigger
    };
    let trigger = if dumped { dump } else { trigger };
    let (origin, db, proxy) = setup::<O>(name, O::pick(&schema)).await;
    let mut c = O::connect(&proxy, &db).await;
    let q = "SELECT n FROM audit";
    // Judged twice without a trigger (the second from what was kept).
    for amount in [1, 2] {
        let insert = format!("INSERT INTO orders (amount) VALUES ({amount})");
        exec(&mut c, Via::Text, &insert).await;
    }
    assert_eq!(warm(origin, &proxy, &mut c, &db, q).await, 0);
    if by_another {
        let mut other = O::connect(&proxy, &db).await;
        exec(&mut other, Via::Text, O::pick(&trigger)).await;
    } else {
        exec(&mut c, Via::Text, O::pick(&trigger)).await;
    }
    assert_eq!(warm(origin, &proxy, &mut c, &db, q).await, 0);
    exec(&mut c, Via::Text, "INSERT INTO orders (amount) VALUES (3)").await;
    assert_eq!(read(&mut c, q).await, 1, "the trigger's write was not seen");
}

/// A temporary table shadows a table of the same name for its session alone: what
/// one session reads of its own `t` is never given to another, and the other's
/// cached reads of the shared `t` never to it.
async fn a_temporary_table_is_its_sessions_own<O: Origin>() {
    let (origin, db, proxy) = setup::<O>(
        "temp_shadow",
        "CREATE TABLE t (id int PRIMARY KEY, v bigint); INSERT INTO t VALUES (1, 10);",
    )
    .await;
    let q = "SELECT v FROM t WHERE id = 1";
    let mut shared = O::connect(&proxy, &db).await;
    assert_eq!(warm(origin, &proxy, &mut shared, &db, q).await, 10);
    let mut own = O::connect(&proxy, &db).await;
    // One statement, so that nothing of `own` asks the catalog about `t` before
    // `shared` does (its answer there: the shared table).
    let create = Sql {
        postgres: "CREATE TEMP TABLE t AS SELECT 1 AS id, 999::bigint AS v",
        mariadb: "CREATE TEMPORARY TABLE t AS SELECT 1 AS id, 999 AS v",
    };
    exec(&mut own, Via::Text, O::pick(&create)).await;
    assert_eq!(warm(origin, &proxy, &mut shared, &db, q).await, 10);
    assert_eq!(
        read(&mut own, q).await,
        999,
        "another session's t was given"
    );
    assert_eq!(
        read(&mut own, q).await,
        999,
        "another session's t was given"
    );
    assert_eq!(read(&mut shared, q).await, 10, "a temporary t was given");
}
