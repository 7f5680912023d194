//! MySQL: the origin's AuthSwitchRequest / AuthMoreData / OK / ERR rounds.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wirecache::fuzzing::mysql::auth_switch(data));
