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
);

/// An INSERT into `orders` is judged (it writes `orders` alone), then a trigger on
/// `orders` that writes `audit` is created through wirecache: the next INSERT of the
/// same template must invalidate the cached read of `audit`.
async fn a_trigger_created_after_a_write_was_judged_is_followed<O: Origin>() {
    trigger_created_later::<O>("trigger_later", false).await;
}

/// The same, with the trigger created by another session: the writing session's
/// judgement was made in its own namespace, which the DDL does not touch. (MariaDB's
/// trigger body is text sqlparser cannot read: the DDL is known by its first word.)
async fn a_trigger_created_by_another_session_is_followed<O: Origin>() {
    trigger_created_later::<O>("trigger_other", true).await;
}

async fn trigger_created_later<O: Origin>(name: &str, by_another: bool) {
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
