//! Smoke tests of the test harness itself: the private PostgreSQL origin starts,
//! every password method works as pg_hba.conf promises, pg_stat_statements is
//! loaded, and an origin can be stopped and started again.

use crate::common;

use common::PgOrigin;
use common::pg::{SUPERUSER, password_for};

#[tokio::test]
async fn shared_origin_accepts_every_auth_method() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("smoke");
    assert!(db.starts_with("smoke_"), "{db}");

    // The superuser is trusted; the password roles need their password.
    let logins = [
        (SUPERUSER, None),
        ("scram_user", Some(password_for("scram_user"))),
        ("md5_user", Some(password_for("md5_user"))),
        ("pw_user", Some(password_for("pw_user"))),
        ("alice", None),
    ];
    for (user, password) in &logins {
        let client = origin
            .connect(&db, user, password.as_deref())
            .await
            .unwrap_or_else(|e| panic!("connect as {user}: {e}"));
        let one: i32 = client.query_one("select 1", &[]).await.unwrap().get(0);
        assert_eq!(one, 1, "select 1 as {user}");
    }

    // A wrong password is refused, so the methods really are enforced.
    let refused = origin.connect(&db, "scram_user", Some("wrong")).await;
    assert!(
        refused.is_err(),
        "scram_user logged in with a wrong password"
    );

    // The stored hashes match the method each role is meant to exercise.
    let hashes = origin.psql(
        "postgres",
        "select rolname || ':' || left(rolpassword, 13) from pg_authid \
         where rolname in ('md5_user', 'scram_user') order by rolname",
    );
    let lines: Vec<&str> = hashes.lines().collect();
    assert!(lines[0].starts_with("md5_user:md5"), "{hashes}");
    assert_eq!(lines[1], "scram_user:SCRAM-SHA-256", "{hashes}");

    // pg_stat_statements is preloaded and the new database has the extension.
    let client = origin.connect(&db, SUPERUSER, None).await.unwrap();
    client
        .batch_execute("create table smoke_t (id int); select id from smoke_t where id = 7")
        .await
        .unwrap();
    let calls: i64 = client
        .query_one(
            "select coalesce(sum(calls), 0)::int8 from pg_stat_statements \
             where query = 'select id from smoke_t where id = $1'",
            &[],
        )
        .await
        .expect("pg_stat_statements is queryable")
        .get(0);
    assert_eq!(calls, 1, "the query was tracked once");
}

#[test]
fn psql_runs_statements_one_by_one() {
    let origin = PgOrigin::shared();
    let db = origin.create_db("psql");
    let out = origin.psql(
        &db,
        "create table t (id int, name text); insert into t values (1, 'a'), (2, 'b');
         select id, name from t order by id;",
    );
    assert_eq!(out, "1|a\n2|b");
}

#[tokio::test]
async fn private_origin_stops_and_starts() {
    let origin = PgOrigin::private();
    let shared = PgOrigin::shared();
    assert_ne!(origin.port, shared.port);

    let client = origin.connect("postgres", SUPERUSER, None).await.unwrap();
    client.simple_query("select 1").await.unwrap();

    origin.stop();
    // The open session was cut, and new connections are refused.
    assert!(client.simple_query("select 1").await.is_err());
    assert!(origin.connect("postgres", SUPERUSER, None).await.is_err());

    origin.start();
    let client = origin.connect("postgres", SUPERUSER, None).await.unwrap();
    let rows = client
        .query("select count(*) from pg_stat_statements", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let dir = origin.dir.clone();
    drop(client);
    drop(origin);
    assert!(!dir.exists(), "a dropped private origin removes its dir");
}
