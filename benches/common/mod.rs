//! Shared fixtures of the criterion benches: a PostgreSQL result of N rows as the
//! origin would send it, and an engine with one cache whose table `t` is known.
#![allow(dead_code)]

use bytes::{BufMut, BytesMut};

use wirecache::classify::TableRef;
use wirecache::config;
use wirecache::engine::{Engine, Fact, FactKey, RelationFacts, Scope};
use wirecache::protocol::postgres::messages;

/// RowDescription (one text column `v`), `rows` DataRows, CommandComplete.
pub fn result_bytes(rows: usize) -> BytesMut {
    let mut out = BytesMut::new();
    let mut rd = BytesMut::new();
    rd.put_i16(1);
    rd.put_slice(b"v\0");
    rd.put_i32(0);
    rd.put_i16(0);
    rd.put_i32(25);
    rd.put_i16(-1);
    rd.put_i32(-1);
    rd.put_i16(0);
    messages::put_message(&mut out, b'T', &rd);
    for i in 0..rows {
        let v = format!("value-{i:08}");
        let mut dr = BytesMut::new();
        dr.put_i16(1);
        dr.put_i32(v.len() as i32);
        dr.put_slice(v.as_bytes());
        messages::put_message(&mut out, b'D', &dr);
    }
    messages::put_message(&mut out, b'C', format!("SELECT {rows}\0").as_bytes());
    out
}

/// An engine with cache `demo` (64 MiB, 4 MiB entries) and the scope of one
/// session on database `bench`, where table `t` is known to be a plain table.
pub fn engine_and_scope() -> (Engine, Scope) {
    let cfg = config::from_str(
        "[listen]\npostgres = \"127.0.0.1:0\"\n[cache]\nmax_memory = \"64MiB\"\n\
         [[caches]]\nid = \"demo\"\nprotocol = \"postgres\"\norigin = \"127.0.0.1:5432\"\n",
        Vec::new(),
    )
    .expect("config");
    let engine = Engine::new(&cfg);
    let cache = engine.caches().all()[0].clone();
    let scope = Scope {
        db: engine.generations().database("demo", "bench"),
        db_name: "bench".into(),
        namespace: 1,
        cache,
    };
    let table = TableRef {
        schema: None,
        name: "t".into(),
    };
    let facts = RelationFacts {
        exists: true,
        temporary: false,
        system: false,
        volatile_view: false,
        side_effects: false,
        base: vec!["t".into()],
    };
    engine.learn(
        &scope,
        scope.db.schema_epoch(),
        vec![(FactKey::Relation(table), Fact::Relation(facts))],
    );
    (engine, scope)
}
