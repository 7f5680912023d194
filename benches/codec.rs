//! Micro-benchmarks of PostgreSQL frame decoding: an origin's answer of 1, 100 and
//! 10,000 rows split into messages, whole and as it arrives in 8 KiB reads.

// Test and benchmark code may unwrap, index and run long.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::too_many_lines)]

mod common;

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use wirecache::protocol::Side;
use wirecache::protocol::postgres::codec;

fn decode_all(buf: &mut BytesMut) -> usize {
    let mut n = 0;
    while let Ok(Some(f)) = codec::decode(buf, codec::MAX_ORIGIN_MESSAGE, Side::Origin) {
        n += f.bytes.len();
    }
    n
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec/decode");
    for rows in [1usize, 100, 10_000] {
        let stream = common::result_bytes(rows).freeze();
        group.throughput(Throughput::Elements(rows as u64 + 2));
        group.bench_function(format!("{rows} rows whole"), |b| {
            b.iter(|| {
                let mut buf = BytesMut::from(&stream[..]);
                black_box(decode_all(&mut buf))
            })
        });
        group.bench_function(format!("{rows} rows in 8 KiB reads"), |b| {
            b.iter(|| {
                let mut buf = BytesMut::with_capacity(16 * 1024);
                let mut n = 0;
                for chunk in stream.chunks(8 * 1024) {
                    buf.extend_from_slice(chunk);
                    n += decode_all(&mut buf);
                }
                black_box(n)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);
