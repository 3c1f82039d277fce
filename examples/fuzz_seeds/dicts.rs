//! libFuzzer dictionaries of the text targets, taken from the code rather than typed by hand.
//! Names are asked of the decoders themselves: a config table, a request body and `UserStatus`
//! refuse an unknown key or value with the list of those they expect. `deploy/fuzz.sh` passes
//! `fuzz/dicts/TARGET.dict` to libFuzzer when it exists.
use std::{collections::BTreeSet, fs, path::Path};

use serde::de::DeserializeOwned;
use usercenter::{
    config::{Config, from_toml},
    event::UserStatus,
    http::requests,
};

/// A name no config table, request or enum has: the decoder refuses it and lists what it
/// expects.
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
    let Some((_, list)) = message.rsplit_once("expected") else {
        return Vec::new();
    };
    list.split('`')
        .skip(1)
        .step_by(2)
        .filter(|name| *name != UNKNOWN)
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

/// `s` as a TOML string, quoted and escaped.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// `s` as a JSON string, quoted and escaped.
fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// The config dictionary: `[table]`, `key = ` and each enum value of every table reached from
/// the top (a key whose string value is refused as "expected struct" is a table), the
/// defaults' strings, and the TOML shapes around them. Panics when a table lists no keys: the
/// probe no longer reads the parser's messages.
fn config_tokens() -> BTreeSet<String> {
    let mut tokens = BTreeSet::new();
    let mut tables = expected(&refusal(&format!("{UNKNOWN} = 1\n")));
    assert!(!tables.is_empty(), "the config probe found no tables");
    while let Some(table) = tables.pop() {
        tokens.insert(format!("[{table}]"));
        let keys = expected(&refusal(&format!("[{table}]\n{UNKNOWN} = 1\n")));
        assert!(
            !keys.is_empty(),
            "the config probe found no keys in [{table}]"
        );
        for key in keys {
            tokens.insert(format!("{key} = "));
            let refused = refusal(&format!("[{table}]\n{key} = \"{UNKNOWN}\"\n"));
            if refused.contains("unknown variant") {
                tokens.extend(expected(&refused).iter().map(|v| toml_string(v)));
            } else if refused.contains("expected struct") || refused.contains("expected a table") {
                tables.push(format!("{table}.{key}"));
            }
        }
    }
    if let Ok(toml::Value::Table(defaults)) = toml::Value::try_from(Config::default()) {
        let mut stack: Vec<toml::Value> = defaults.into_iter().map(|(_, v)| v).collect();
        while let Some(value) = stack.pop() {
            match value {
                toml::Value::String(s) => {
                    tokens.insert(toml_string(&s));
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

/// The names `T` expects, quoted as JSON, from its refusal of the JSON `probe`, which names
/// [`UNKNOWN`]. Panics when it lists none: the probe no longer reads serde's messages.
fn json_names<T: DeserializeOwned>(probe: &str) -> Vec<String> {
    let names = serde_json::from_str::<T>(probe)
        .err()
        .map(|e| expected(&e.to_string()))
        .unwrap_or_default();
    assert!(
        !names.is_empty(),
        "the probe found no names of {}",
        std::any::type_name::<T>()
    );
    names.iter().map(|name| json_string(name)).collect()
}

/// The keys of the request body type `T`, quoted as JSON.
fn request_keys<T: DeserializeOwned>() -> Vec<String> {
    json_names::<T>(&format!("{{\"{UNKNOWN}\":1}}"))
}

/// Every user status, quoted as JSON.
fn statuses() -> Vec<String> {
    json_names::<UserStatus>(&json_string(UNKNOWN))
}

/// Keys and string values of the JSON objects `objects`, with [`JSON_TOKENS`]. Panics on an
/// object that does not parse: the seeds are ours.
fn json_tokens<'a>(objects: impl IntoIterator<Item = &'a [u8]>) -> BTreeSet<String> {
    let mut tokens: BTreeSet<String> = JSON_TOKENS.iter().map(|t| (*t).to_owned()).collect();
    for bytes in objects {
        let parsed = serde_json::from_slice(bytes);
        let Ok(serde_json::Value::Object(map)) = parsed else {
            panic!(
                "a seed is not a JSON object: {}",
                String::from_utf8_lossy(bytes)
            );
        };
        for (key, value) in map {
            tokens.insert(json_string(&key));
            if let serde_json::Value::String(s) = value {
                tokens.insert(json_string(&s));
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

fn write(dir: &Path, target: &str, tokens: &BTreeSet<String>) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut text = format!("# {target}: written by `cargo run --example fuzz_seeds`.\n");
    for token in tokens {
        text.push_str(&entry(token));
        text.push('\n');
    }
    fs::write(dir.join(format!("{target}.dict")), text)
}

/// Writes the dictionaries into `dir`: the config file's names; for the events, the keys and
/// string values of their JSON seeds (`events`) and every status; for the request bodies,
/// every request type's keys, the strings of the seed bodies (`bodies`) and every status.
pub fn write_all<'a>(
    dir: &Path,
    events: impl IntoIterator<Item = &'a [u8]>,
    bodies: impl IntoIterator<Item = &'a [u8]>,
) -> std::io::Result<()> {
    write(dir, "config", &config_tokens())?;
    let statuses = statuses();
    let mut event_tokens = json_tokens(events);
    event_tokens.extend(statuses.iter().cloned());
    assert!(
        event_tokens.contains("\"email\""),
        "no event keys: {event_tokens:?}"
    );
    write(dir, "envelope_json", &event_tokens)?;
    let mut http = json_tokens(bodies);
    http.extend(statuses);
    http.extend(request_keys::<requests::Register>());
    http.extend(request_keys::<requests::Login>());
    http.extend(request_keys::<requests::Update>());
    http.extend(request_keys::<requests::ChangePassword>());
    http.extend(request_keys::<requests::ChangeStatus>());
    write(dir, "http_bodies", &http)
}
