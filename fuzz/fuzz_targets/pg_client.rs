//! PostgreSQL messages from a client after startup (framing laws and every parser).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wirecache::fuzzing::postgres::client(data));
