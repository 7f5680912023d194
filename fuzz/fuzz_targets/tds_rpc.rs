//! TDS: an RPC request (decoded, judged, its parameters read) and a SQLBatch
//! header, with and without ALL_HEADERS.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wirecache::fuzzing::tds::rpc(data));
