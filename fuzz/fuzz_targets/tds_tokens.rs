//! TDS: an origin's token stream, scanned whole and in pieces at TDS 7.4 and 7.1.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wirecache::fuzzing::tds::tokens(data));
