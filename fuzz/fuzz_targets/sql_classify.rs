//! The classifier (sqlparser and its recovery), transaction control, isolation.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(sql) = std::str::from_utf8(data) {
        wirecache::fuzzing::classifier(sql);
    }
});
