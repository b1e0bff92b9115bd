//! A run config (TOML text, then the typed and validated config).
#![no_main]
use convlab::experiment::config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    if let Ok(table) = config::parse_table(text, "fuzz.toml") {
        let _ = config::run_config(table, "fuzz.toml");
    }
});
