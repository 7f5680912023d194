//! Micro-benchmarks of the cache-hit path: build the key, look it up, check the
//! generations of the entry's tables, replay the stored bytes plus ReadyForQuery
//! into the output buffer — for results of 1, 100 and 10,000 rows. Also the miss
//! path's bookkeeping without an origin: plan (memoized classification), then store.

// Test and benchmark code may unwrap, index and run long.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::too_many_lines)]

mod common;

use std::hint::black_box;
use std::time::Instant;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use wirecache::cache::{KeyBuilder, KeyKind};
use wirecache::engine::{
    CatalogAccess, CatalogQuestion, Decision, OriginLink, QueryRequest, ReadContext,
};

/// A PostgreSQL session outside a transaction.
const AUTOCOMMIT: ReadContext = ReadContext::Autocommit(None);
use wirecache::protocol::postgres::messages;

fn bench_hit(c: &mut Criterion) {
    let (engine, scope) = common::engine_and_scope();
    let mut group = c.benchmark_group("hit");
    for rows in [1usize, 100, 1_000, 10_000] {
        let sql = format!("SELECT v FROM t WHERE id = {rows}");
        let payload = common::result_bytes(rows);
        let mut key = KeyBuilder::default();
        key.start(scope.namespace, KeyKind::PgSimple)
            .part(sql.as_bytes());
        let req = QueryRequest {
            sql: &sql,
            blocked: None,
            catalog: CatalogAccess::Asked,
            context: AUTOCOMMIT,
        };
        let ticket = match engine.plan(&scope, req, &mut CatalogQuestion::default()) {
            Decision::Fill(t) => t,
            other => panic!("not cacheable in the bench: {other:?}"),
        };
        engine.complete_fill(&scope, ticket, key.as_slice(), payload.clone().freeze());
        let mut out = BytesMut::with_capacity(payload.len() + 64);
        group.throughput(Throughput::Bytes(payload.len() as u64));
        group.bench_function(format!("{rows} rows"), |b| {
            b.iter(|| {
                let started = Instant::now();
                key.start(scope.namespace, KeyKind::PgSimple)
                    .part(sql.as_bytes());
                let hit = engine
                    .lookup(&scope, key.as_slice(), started, AUTOCOMMIT, OriginLink::Up)
                    .expect("hit");
                out.clear();
                out.extend_from_slice(&hit.entry.payload);
                out.extend_from_slice(&messages::ready_for_query(b'I'));
                black_box(out.len())
            })
        });
    }
    group.finish();
}

fn bench_miss_bookkeeping(c: &mut Criterion) {
    let (engine, scope) = common::engine_and_scope();
    let sql = "SELECT v FROM t WHERE id = 42";
    let payload = common::result_bytes(1);
    let mut key = KeyBuilder::default();
    c.bench_function("miss/plan and store 1 row", |b| {
        b.iter(|| {
            key.start(scope.namespace, KeyKind::PgSimple)
                .part(sql.as_bytes());
            let req = QueryRequest {
                sql,
                blocked: None,
                catalog: CatalogAccess::Asked,
                context: AUTOCOMMIT,
            };
            match engine.plan(&scope, req, &mut CatalogQuestion::default()) {
                Decision::Fill(t) => {
                    engine.complete_fill(&scope, t, key.as_slice(), payload.clone().freeze())
                }
                other => panic!("not cacheable in the bench: {other:?}"),
            }
        })
    });
}

criterion_group!(benches, bench_hit, bench_miss_bookkeeping);
criterion_main!(benches);
