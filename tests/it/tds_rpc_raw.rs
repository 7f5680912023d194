//! RPC requests built by hand on raw TDS connections through wirecache to the test
//! origin: the prepare family (`sp_prepare`, `sp_execute`, `sp_prepexec`,
//! `sp_unprepare`) with handles per session, a procedure called by name, requests
//! marked RESETCONNECTION or out of step with the transaction, and hostile lengths.
//! Hits are proven by the origin's own count of the SELECTs it ran.

use bytes::{BufMut, BytesMut};
use tokio::io::AsyncWriteExt;
use wirecache::protocol::tds::codec::{Kind, message};

use crate::common::PgOrigin;
use crate::common::tds_origin::USER;
use crate::common::tds_raw::{Raw, Req, batch, handle_of, has_text, is_error};
use crate::tds_rpc::{by_id, setup, tiberius};

const STMT: &str = "SELECT id, name FROM t WHERE id = @P1";

fn execute(h: i32, id: i32) -> BytesMut {
    Req::new(12)
        .int("", Some(h), false)
        .int("", Some(id), false)
        .0
}

fn prepare() -> BytesMut {
    Req::new(11)
        .int("@handle", None, true)
        .text("", "@P1 int")
        .text("", STMT)
        .int("", Some(1), false)
        .0
}

#[tokio::test]
async fn prepared_handles_are_tracked_per_session_and_their_executions_cached() {
    let (db, origin, proxy) = setup().await;
    let mut a = Raw::connect(&proxy, &db).await;
    let mut b = Raw::connect(&proxy, &db).await;
    let ha = handle_of(&a.rpc(&prepare()).await);
    let hb = handle_of(&b.rpc(&prepare()).await);
    assert_ne!(ha, hb, "each connection has its own handles");
    let selects = origin.selects();
    for _ in 0..3 {
        let got = a.rpc(&execute(ha, 2)).await;
        assert!(has_text(&got, "two") && !is_error(&got), "{got:?}");
    }
    assert_eq!(
        origin.selects(),
        selects + 1,
        "executions 2 and 3 were hits"
    );
    // The other session's own handle for the same statement: the same entry.
    let got = b.rpc(&execute(hb, 2)).await;
    assert!(has_text(&got, "two"));
    assert_eq!(origin.selects(), selects + 1);
    // Another value; then a write through sp_executesql invalidates.
    assert!(has_text(&b.rpc(&execute(hb, 1)).await, "one"));
    assert_eq!(origin.selects(), selects + 2);
    let write = Req::new(10)
        .text("", "UPDATE t SET name = @P1 WHERE id = @P2")
        .text("", "@P1 nvarchar(20), @P2 int")
        .text("@P1", "zwei")
        .int("@P2", Some(2), false)
        .0;
    assert!(!is_error(&a.rpc(&write).await));
    assert!(has_text(&a.rpc(&execute(ha, 2)).await, "zwei"));
    assert_eq!(origin.selects(), selects + 3);
    // sp_prepexec on the other session: prepares and runs; its handle's executions
    // are answered from the entry filled above.
    let prepexec = Req::new(13)
        .int("@handle", None, true)
        .text("", "@P1 int")
        .text("", STMT)
        .int("", Some(1), false)
        .0;
    let first = b.rpc(&prepexec).await;
    assert!(has_text(&first, "one"));
    let hc = handle_of(&first);
    assert_ne!(hc, hb);
    let before = origin.selects();
    for _ in 0..2 {
        assert!(has_text(&b.rpc(&execute(hc, 2)).await, "zwei"));
    }
    assert_eq!(origin.selects(), before, "hits of the entry filled above");
    // sp_unprepare: the handle is gone at the origin, and the cache does not answer
    // for it.
    let unprep = Req::new(15).int("", Some(ha), false).0;
    assert!(!is_error(&a.rpc(&unprep).await));
    let gone = a.rpc(&execute(ha, 2)).await;
    assert!(is_error(&gone), "the origin's error for an unknown handle");
    assert_eq!(origin.selects(), before);
}

#[tokio::test]
async fn hostile_rpc_packets_get_an_error_and_the_session_goes_on() {
    let (db, origin, proxy) = setup().await;
    let mut a = Raw::connect(&proxy, &db).await;
    let good = Req::new(10)
        .text("", STMT)
        .text("", "@P1 int")
        .int("@P1", Some(2), false)
        .0;
    let mut hostile: Vec<Vec<u8>> = Vec::new();
    // ALL_HEADERS longer than the request; shorter than itself.
    hostile.push([&[0xFF, 0xFF, 0, 0][..], &good[4..]].concat());
    hostile.push([&[2, 0, 0, 0][..], &good[4..]].concat());
    // A parameter value cut short; a PLP total past the end; a bad INTN width.
    hostile.push(good[..good.len() - 2].to_vec());
    let mut plp = Req::new(10).0;
    plp.put_slice(&[0, 0, 0xE7, 0xFF, 0xFF, 9, 4, 0xD0, 0, 0x34]);
    plp.put_u64_le(1 << 40);
    plp.put_u32_le(2);
    hostile.push(plp.to_vec());
    let mut width = Req::new(10).0;
    width.put_slice(&[0, 0, 0x26, 3, 3, 1, 2, 3]);
    hostile.push(width.to_vec());
    let rpcs = origin.rpcs();
    for h in &hostile {
        let got = a.rpc(h).await;
        assert!(is_error(&got), "{h:?}: {got:?}");
        assert!(has_text(&got, "malformed RPC"), "{got:?}");
    }
    assert_eq!(origin.rpcs(), rpcs, "none reached the origin");
    // The same session goes on.
    for _ in 0..2 {
        assert!(has_text(&a.rpc(&good).await, "two"));
    }
    // And the daemon serves others.
    let mut b = tiberius(&proxy, &db).await;
    assert_eq!(by_id(&mut b, 1).await, vec![(1, Some("one".into()))]);
}

#[tokio::test]
async fn a_request_that_resets_the_connection_fills_its_own_key() {
    let (db, _origin, proxy) = setup().await;
    let mut a = Raw::connect(&proxy, &db).await;
    let one = "SELECT id, name FROM t WHERE id = 1";
    a.send(Kind::SqlBatch, &batch(one)).await;
    assert!(has_text(&a.answer().await.payload, "one"));
    for (kind, payload) in [
        (Kind::SqlBatch, batch("SELECT id, name FROM t WHERE id = 2")),
        (
            Kind::Rpc,
            Req::new(10)
                .text("", STMT)
                .text("", "@P1 int")
                .int("@P1", Some(2), false)
                .0
                .to_vec(),
        ),
    ] {
        let mut wire = message(kind, &payload, 4096).to_vec();
        wire[1] |= 0x08; // RESETCONNECTION
        a.s.write_all(&wire).await.unwrap();
        assert!(has_text(&a.answer().await.payload, "two"));
    }
    let mut b = Raw::connect(&proxy, &db).await;
    for _ in 0..2 {
        b.send(Kind::SqlBatch, &batch(one)).await;
        let got = b.answer().await.payload;
        assert!(has_text(&got, "one") && !has_text(&got, "two"), "{got:?}");
    }
}

#[tokio::test]
async fn a_procedure_called_through_rpc_invalidates_its_database() {
    let (db, origin, proxy) = setup().await;
    PgOrigin::shared().psql(
        &db,
        &format!(
            "CREATE PROCEDURE bump(i int) LANGUAGE sql AS $$ UPDATE t SET name = 'bumped' WHERE id = i $$;
             GRANT EXECUTE ON PROCEDURE bump(int) TO {USER};"
        ),
    );
    let mut c = tiberius(&proxy, &db).await;
    assert_eq!(by_id(&mut c, 2).await, vec![(2, Some("two".into()))]);
    assert_eq!(by_id(&mut c, 2).await, vec![(2, Some("two".into()))]);
    let selects = origin.selects();
    let mut raw = Raw::connect(&proxy, &db).await;
    let called = raw
        .rpc(&Req::named("bump").int("@i", Some(2), false).0)
        .await;
    assert!(!is_error(&called), "{called:?}");
    assert_eq!(by_id(&mut c, 2).await, vec![(2, Some("bumped".into()))]);
    assert_eq!(origin.selects(), selects + 1);
}

#[tokio::test]
async fn a_request_out_of_step_with_the_transaction_reaches_the_origin() {
    let (db, origin, proxy) = setup().await;
    let mut a = Raw::connect(&proxy, &db).await;
    let read = || {
        Req::new(10)
            .text("", STMT)
            .text("", "@P1 int")
            .int("@P1", Some(2), false)
            .0
    };
    for _ in 0..2 {
        assert!(has_text(&a.rpc(&read()).await, "two"));
    }
    let selects = origin.selects();
    let mut odd = read();
    odd[10..18].copy_from_slice(&5u64.to_le_bytes());
    assert!(has_text(&a.rpc(&odd).await, "two"));
    assert_eq!(origin.selects(), selects + 1, "not a hit");
    assert!(has_text(&a.rpc(&read()).await, "two"));
    assert_eq!(origin.selects(), selects + 1, "in step again: a hit");
}
