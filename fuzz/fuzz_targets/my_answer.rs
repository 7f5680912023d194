//! MySQL: an origin's answer in every shape the tracker follows: text and binary
//! result sets (rows), prepare answers, field lists, one-packet answers; replayed too.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wirecache::fuzzing::mysql::answer(data));
