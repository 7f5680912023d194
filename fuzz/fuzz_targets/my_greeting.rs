//! MySQL: the origin's greeting (HandshakeV10).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wirecache::fuzzing::mysql::greeting(data));
