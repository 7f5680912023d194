//! TDS: a LOGIN7 payload, parsed and rewritten with other login names.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wirecache::fuzzing::tds::login(data));
