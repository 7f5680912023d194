//! PostgreSQL messages from an origin: authentication, errors, status, DataRows.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wirecache::fuzzing::postgres::origin(data));
