//! The ways a transaction begins and ends that only MySQL/MariaDB has (design §4.4,
//! issue 8): autocommit off, implicit commits, XA in one phase, COM_CHANGE_USER and
//! COM_RESET_CONNECTION, a deadlock. Same pattern as the shared cases in
//! `transactions`, on the MariaDB origin.

use mysql_async::prelude::*;

use crate::common::origin::MariaDb;
use crate::transactions::{Fixture, Step, UPDATE, bin, run, text};

type F = Fixture<MariaDb>;

async fn case(prefix: &str, open: &[Step], end: &[Step], want: i64) {
    crate::transactions::case::<MariaDb>(prefix, open, end, want).await;
}

const START: &str = "START TRANSACTION";
const AUTOCOMMIT_OFF: &str = "SET autocommit = 0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocommit_off_then_a_text_write_then_commit() {
    case(
        "ac0_text",
        &[text(AUTOCOMMIT_OFF), text(UPDATE)],
        &[text("COMMIT")],
        2,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocommit_off_then_a_prepared_write_then_commit() {
    case(
        "ac0_bin",
        &[text(AUTOCOMMIT_OFF), bin(UPDATE)],
        &[bin("COMMIT")],
        2,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_autocommit_1_commits_the_open_transaction() {
    case(
        "ac1",
        &[text(AUTOCOMMIT_OFF), text(UPDATE)],
        &[text("SET autocommit = 1")],
        2,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_that_commit_implicitly() {
    let ends: [&[&str]; 4] = [
        &["CREATE TABLE scratch (a int)"],
        &["LOCK TABLES other WRITE", "UNLOCK TABLES"],
        &["CREATE USER IF NOT EXISTS 'wc_implicit'@'%'"],
        &[START],
    ];
    for (i, end) in ends.iter().enumerate() {
        let end: Vec<Step> = end.iter().map(|s| text(*s)).collect();
        for begin in [START, AUTOCOMMIT_OFF] {
            case(
                &format!("implicit{i}"),
                &[text(begin), text(UPDATE)],
                &end,
                2,
            )
            .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_transaction_committed_in_one_phase() {
    let open = [text("XA START 'wc1'"), text(UPDATE)];
    let end = [text("XA END 'wc1'"), text("XA COMMIT 'wc1' ONE PHASE")];
    case("xa1", &open, &end, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_user_and_reset_roll_back() {
    // (A disconnect: transactions::a_disconnect_rolls_back.)
    for how in ["change_user", "reset"] {
        let mut f = F::new(how).await;
        assert_eq!(f.cached().await, 1);
        let mut writer = f.conn().await;
        run(&mut writer, &[text(START), text(UPDATE)]).await;
        assert_eq!(f.cached().await, 1);
        if how == "change_user" {
            let opts = mysql_async::ChangeUserOpts::default();
            writer.conn.change_user(opts).await.unwrap();
        } else {
            writer.conn.reset().await.unwrap();
        }
        f.expect(1, how).await;
        // The session goes on and its next autocommit write is seen at once.
        writer
            .conn
            .query_drop("UPDATE t SET v = 5 WHERE id = 1")
            .await
            .unwrap();
        f.expect(5, how).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_rolls_back_one_side_and_the_other_commits() {
    let mut f = F::new("deadlock").await;
    assert_eq!(f.cached().await, 1);
    let mut a = f.conn().await.conn;
    let mut b = f.conn().await.conn;
    for c in [&mut a, &mut b] {
        c.query_drop(START).await.unwrap();
    }
    a.query_drop(UPDATE).await.unwrap();
    b.query_drop("UPDATE t SET v = 7 WHERE id = 2")
        .await
        .unwrap();
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
