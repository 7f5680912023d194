//! MySQL: a client's command packets (COM_QUERY, COM_STMT_EXECUTE, COM_CHANGE_USER, …).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wirecache::fuzzing::mysql::command(data));
