//! The config file parser: any text through TOML parsing, deserialization and validation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = usercenter::config::from_toml(&text) {
        // Errors are one line that names the problem.
        assert!(!e.to_string().contains('\n'), "multi-line error: {e}");
    }
});
