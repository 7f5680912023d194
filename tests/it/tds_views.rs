//! Views through wirecache's SQL Server listener (issue 17), against the test
//! origin, which answers `sys.sql_expression_dependencies` and `sys.sql_modules` from
//! PostgreSQL's catalog (pg_rewrite, pg_depend, pg_get_viewdef): a read of a view is
//! cached, depending on its base tables, so a write to one invalidates it and a write
//! elsewhere does not; a view calling a non-immutable function, or a view of a view,
//! is never cached. The origin's SELECT counter proves hits and misses.

use crate::tds_output::{connect, exec, rows, setup};

const SCHEMA: &str = "
CREATE TABLE base (id int PRIMARY KEY, v text);
CREATE TABLE other (id int PRIMARY KEY, v text);
INSERT INTO base VALUES (1, 'one'), (2, 'two'), (3, 'three');
INSERT INTO other VALUES (1, 'x');
CREATE VIEW vw AS SELECT id, v FROM base WHERE id <= 2;
CREATE VIEW vrand AS SELECT id, random()::text AS v FROM base;
CREATE VIEW vv AS SELECT id, v FROM vw;
GRANT ALL ON base, other TO scram_user;
GRANT SELECT ON vw, vrand, vv TO scram_user;";

fn pair(id: i32, v: &str) -> (i32, Option<String>) {
    (id, Some(v.to_string()))
}

#[tokio::test]
async fn a_view_is_cached_and_invalidated_through_its_base_table() {
    let (db, origin, proxy) = setup(SCHEMA).await;
    let mut c = connect(&proxy, &db).await;
    let q = "SELECT id, v FROM vw ORDER BY id";
    assert_eq!(rows(&mut c, q).await, vec![pair(1, "one"), pair(2, "two")]);
    let s = origin.selects();
    assert_eq!(rows(&mut c, q).await, vec![pair(1, "one"), pair(2, "two")]);
    assert_eq!(origin.selects(), s, "the second read of the view is a hit");

    exec(&mut c, "UPDATE other SET v = 'y' WHERE id = 1").await;
    rows(&mut c, q).await;
    assert_eq!(
        origin.selects(),
        s,
        "a write to another table leaves it cached"
    );

    exec(&mut c, "UPDATE base SET v = 'uno' WHERE id = 1").await;
    assert_eq!(rows(&mut c, q).await, vec![pair(1, "uno"), pair(2, "two")]);
    assert_eq!(
        origin.selects(),
        s + 1,
        "the base table's write invalidated it"
    );
    rows(&mut c, q).await;
    assert_eq!(origin.selects(), s + 1, "and it is cached again");
}

#[tokio::test]
async fn volatile_views_and_views_of_views_are_never_cached() {
    let (db, origin, proxy) = setup(SCHEMA).await;
    let mut c = connect(&proxy, &db).await;
    for q in [
        "SELECT id, v FROM vrand WHERE id = 1",
        "SELECT id, v FROM vv ORDER BY id",
    ] {
        rows(&mut c, q).await;
        let s = origin.selects();
        rows(&mut c, q).await;
        assert_eq!(origin.selects(), s + 1, "{q}: read at the origin again");
    }
}
