//! PostgreSQL's untagged startup phase: SSLRequest, CancelRequest, StartupMessage.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wirecache::fuzzing::postgres::startup(data));
