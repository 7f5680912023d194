//! TDS: a PRELOGIN payload (options, ENCRYPTION, built again) and the same bytes
//! as the PRELOGIN packets a TLS handshake travels in.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wirecache::fuzzing::tds::prelogin(data));
