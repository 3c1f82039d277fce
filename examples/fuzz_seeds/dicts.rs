//! libFuzzer dictionaries of the text targets, taken from the code rather than typed by hand:
//! the config file's sections, keys and enum values (asked of the parser itself: an unknown
//! key or value is refused with the list of those it expects), and the JSON keys and string
//! values of the events and request bodies the seeds hold. `deploy/fuzz.sh` passes
//! `fuzz/dicts/TARGET.dict` to libFuzzer when it exists.
use std::{collections::BTreeSet, fs, path::Path};

use usercenter::{
    config::{Config, from_toml},
    event::UserStatus,
};

/// A name no config struct or enum has: the parser refuses it and lists what it expects.
const UNKNOWN: &str = "zz_fuzz_unknown";

/// JSON tokens that reach the decoders' odd corners: escapes, surrogates, huge numbers.
const JSON_TOKENS: [&str; 16] = [
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "null",
    "true",
    "false",
    "\"\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\\\"",
    "1e999",
    "-0",
    "18446744073709551616",
];

/// The names listed after "expected one of" (or "expected") in a serde message, in backticks.
fn expected(message: &str) -> Vec<String> {
    let Some((_, list)) = message.split_once("expected") else {
        return Vec::new();
    };
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The error message of the config text `text`, if the parser refuses it.
fn refusal(text: &str) -> String {
    from_toml(text)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

/// The keys of the config table `path` (`kafka`, `kafka.sasl`), as its parser expects them.
fn keys_of(path: &str) -> Vec<String> {
    expected(&refusal(&format!("[{path}]\n{UNKNOWN} = 1\n")))
}

/// The config dictionary: `[section]`, `key = ` and each quoted enum value, every table
/// reached from the top (a key whose string value is refused as "expected struct" is a table).
fn config_tokens() -> BTreeSet<String> {
    let mut tokens = BTreeSet::new();
    let top = expected(&refusal(&format!("{UNKNOWN} = 1\n")));
    let mut tables: Vec<String> = top.clone();
    while let Some(table) = tables.pop() {
        tokens.insert(format!("[{table}]"));
        for key in keys_of(&table) {
            tokens.insert(format!("{key} = "));
            let refused = refusal(&format!("[{table}]\n{key} = \"{UNKNOWN}\"\n"));
            if refused.contains("unknown variant") {
                tokens.extend(expected(&refused).into_iter().map(|v| format!("\"{v}\"")));
            } else if refused.contains("expected struct") || refused.contains("expected a table") {
                tables.push(format!("{table}.{key}"));
            }
        }
    }
    // String values of the defaults (addresses, topic names), and the TOML shapes around them.
    if let Ok(toml::Value::Table(defaults)) = toml::Value::try_from(Config::default()) {
        let mut stack: Vec<toml::Value> = defaults.into_iter().map(|(_, v)| v).collect();
        while let Some(value) = stack.pop() {
            match value {
                toml::Value::String(s) => {
                    tokens.insert(format!("\"{s}\""));
                }
                toml::Value::Array(a) => stack.extend(a),
                toml::Value::Table(t) => stack.extend(t.into_iter().map(|(_, v)| v)),
                _ => {}
            }
        }
    }
    tokens.extend(["= [", "]", "\n", "true", "false", "\"\"", "'''"].map(str::to_owned));
    tokens
}

/// Keys and string values of the JSON objects `objects`, with [`JSON_TOKENS`].
fn json_tokens<'a>(objects: impl IntoIterator<Item = &'a [u8]>) -> BTreeSet<String> {
    let mut tokens: BTreeSet<String> = JSON_TOKENS.iter().map(|t| (*t).to_owned()).collect();
    for bytes in objects {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(bytes) else {
            continue;
        };
        for (key, value) in map {
            tokens.insert(format!("\"{key}\""));
            if let serde_json::Value::String(s) = value {
                tokens.insert(format!("\"{s}\""));
            }
        }
    }
    tokens
}

/// `token` as a libFuzzer dictionary entry: quoted, with `\`, `"` and bytes outside printable
/// ASCII escaped as `\xNN`.
fn entry(token: &str) -> String {
    let mut line = String::from("\"");
    for b in token.bytes() {
        match b {
            b'\\' => line.push_str("\\\\"),
            b'"' => line.push_str("\\\""),
            0x20..=0x7e => line.push(char::from(b)),
            _ => line.push_str(&format!("\\x{b:02X}")),
        }
    }
    line.push('"');
    line
}

fn write<'a>(
    dir: &Path,
    target: &str,
    tokens: impl IntoIterator<Item = &'a String>,
) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut text = format!("# {target}: written by `cargo run --example fuzz_seeds`.\n");
    for token in tokens {
        text.push_str(&entry(token));
        text.push('\n');
    }
    fs::write(dir.join(format!("{target}.dict")), text)
}

/// Writes the dictionaries into `dir`: the JSON values of the events (`events`) and the
/// request bodies (`bodies`) the seeds hold, and the config file's names.
pub fn write_all<'a>(
    dir: &Path,
    events: impl IntoIterator<Item = &'a [u8]>,
    bodies: impl IntoIterator<Item = &'a [u8]>,
) -> std::io::Result<()> {
    let config = config_tokens();
    // The probe found the tables and enums, or the parser's messages changed under it.
    assert!(
        config.iter().any(|t| t == "[kafka]") && config.iter().any(|t| t == "\"zstd\""),
        "the config probe found no tables or enum values: {config:?}"
    );
    write(dir, "config", &config)?;
    write(dir, "envelope_json", &json_tokens(events))?;
    // Every status a body may set, whichever the seeds hold.
    let statuses = serde_json::from_str::<UserStatus>(&format!("\"{UNKNOWN}\""))
        .err()
        .map(|e| expected(&e.to_string()))
        .unwrap_or_default();
    let mut http = json_tokens(bodies);
    http.extend(statuses.into_iter().map(|s| format!("\"{s}\"")));
    write(dir, "http_bodies", &http)
}
