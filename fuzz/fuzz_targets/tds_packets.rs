//! TDS: packets from a client or an origin assembled into messages (whole and
//! in pieces, which must agree), each re-sent in packets of another size.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wirecache::fuzzing::tds::packets(data));
