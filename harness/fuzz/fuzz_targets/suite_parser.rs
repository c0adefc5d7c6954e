//! Fuzzes the suite loader on arbitrary text: parsing, schema checks, sweep
//! and dtype expansion, id and seed derivation. Any input must give a suite
//! or a one-line `SuiteError`, never a panic, an abort or a runaway
//! allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Suites are UTF-8 files; other bytes stop at the loader's first check.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match xpucert::suite::parse_str("fuzz.yaml", text) {
        Ok(suite) => assert!(!suite.cases.is_empty(), "a suite has cases"),
        Err(e) => assert!(!e.to_string().contains('\n'), "one-line error: {e}"),
    }
});
