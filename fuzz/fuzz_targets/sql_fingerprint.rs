//! The SQL lexer and the template fingerprint, in every dialect.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(sql) = std::str::from_utf8(data) {
        wirecache::fuzzing::fingerprint(sql);
    }
});
