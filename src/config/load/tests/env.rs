//! Every setting has a `USERCENTER_*` variable, and the optional ones come from the
//! environment too.
use super::*;

/// The names serde lists after "expected" in the error for an unknown key: every field the
/// file accepts there, set by default or not.
fn accepted_names(text: &str) -> Vec<String> {
    let err = from_toml(text).unwrap_err().to_string();
    let (_, list) = err
        .split_once("expected")
        .unwrap_or_else(|| panic!("no list of fields in: {err}"));
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// A field's value as an environment variable writes it: lists comma-separated.
fn env_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

/// A value of the same type as `default` but different from it (`None`: the field is unset by
/// default, any string will do).
fn changed(default: Option<&Value>) -> Value {
    match default {
        None => Value::String("x".into()),
        Some(Value::Integer(n)) => Value::Integer(n + 1),
        Some(Value::Boolean(b)) => Value::Boolean(!b),
        Some(Value::String(s)) => Value::String(format!("{s}x")),
        Some(Value::Array(items)) => Value::Array(match items.as_slice() {
            [] => vec![Value::String("x".into())],
            [one] => vec![one.clone(), one.clone()],
            [_, rest @ ..] => rest.to_vec(),
        }),
        Some(other) => panic!("no environment form for a default like {other}"),
    }
}

#[test]
fn every_field_has_an_env_name() {
    // Every field of the config: the leaves of the serialized defaults...
    let defaults = Table::try_from(Config::default()).unwrap();
    let mut all: std::collections::BTreeMap<(String, String), Option<Value>> = Default::default();
    for (section, value) in &defaults {
        let Value::Table(leaves) = value else {
            panic!("`{section}` is not a section: USERCENTER_<SECTION>_<FIELD> cannot name it");
        };
        for (field, leaf) in leaves {
            let nested = match leaf {
                Value::Table(_) => true,
                Value::Array(items) => items.iter().any(Value::is_table),
                _ => false,
            };
            assert!(
                !nested,
                "{section}.{field} holds tables: no USERCENTER_ variable can name their fields"
            );
            all.insert((section.clone(), field.clone()), Some(leaf.clone()));
        }
    }
    // ... and those unset by default, which the serialized defaults leave out: every name the
    // file accepts, as serde lists them for an unknown one.
    let sections: std::collections::BTreeSet<String> =
        accepted_names("[no_such_section]\n").into_iter().collect();
    assert_eq!(sections, defaults.keys().cloned().collect(), "sections");
    for section in &sections {
        for field in accepted_names(&format!("[{section}]\nno_such_field = 1\n")) {
            all.entry((section.clone(), field)).or_insert(None);
        }
    }
    // Those are the optional fields the loader knows of, no more, no fewer.
    let unset: std::collections::BTreeSet<(&str, &str)> = all
        .iter()
        .filter(|(_, default)| default.is_none())
        .map(|((s, f), _)| (s.as_str(), f.as_str()))
        .collect();
    assert_eq!(
        unset,
        OPTIONAL_FIELDS.iter().copied().collect(),
        "the fields unset by default are not OPTIONAL_FIELDS"
    );

    let read: std::collections::BTreeSet<(String, String)> =
        fields().into_iter().map(|(s, f, _)| (s, f)).collect();
    let mut names = std::collections::BTreeMap::new();
    for ((section, field), default) in &all {
        let path = format!("{section}.{field}");
        let name = env_name(section, field);
        // The variable exists: the loader reads it.
        assert!(
            read.contains(&(section.clone(), field.clone())),
            "no environment variable for {path} (an optional field missing from OPTIONAL_FIELDS?)"
        );
        // It names this field alone.
        if let Some(other) = names.insert(name.clone(), path.clone()) {
            panic!("{name} would name both {other} and {path}");
        }
        // It is accepted: the default, written as a variable, loads as the default.
        if let Some(default) = default {
            let text = env_text(default);
            let loaded = load(&args(), env(&[(name.as_str(), text.as_str())]));
            assert_eq!(
                loaded.as_ref().ok(),
                Some(&Config::default()),
                "{name}={text:?} (the default): {loaded:?}"
            );
        }
        // It maps to the field: another value reaches it, or is refused by a message naming
        // it. (The defaults load, so any error comes from the variable.)
        let want = changed(default.as_ref());
        let text = env_text(&want);
        match load(&args(), env(&[(name.as_str(), text.as_str())])) {
            Ok(config) => {
                let got = Table::try_from(config).unwrap()[section.as_str()]
                    .get(field.as_str())
                    .cloned();
                assert_eq!(got, Some(want), "{name}={text:?} did not reach {path}");
            }
            Err(e) => assert!(
                e.to_string().contains(field.as_str()),
                "{name}={text:?}: {e}"
            ),
        }
    }
}

#[test]
fn optional_fields_come_from_the_environment() {
    let config = load(
        &args(),
        env(&[
            ("USERCENTER_AUTH_ADMIN_USERNAME", "root"),
            ("USERCENTER_AUTH_ADMIN_EMAIL", "root@example.com"),
            ("USERCENTER_AUTH_ADMIN_PASSWORD", "correct horse"),
            ("USERCENTER_KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
            ("USERCENTER_KAFKA_TLS_CA_FILE", "/etc/kafka/ca.pem"),
            ("USERCENTER_KAFKA_TLS_CERT_FILE", "/etc/kafka/client.pem"),
            ("USERCENTER_KAFKA_TLS_KEY_FILE", "/etc/kafka/client.key"),
            ("USERCENTER_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
            ("USERCENTER_KAFKA_SASL_USERNAME", "svc"),
            ("USERCENTER_KAFKA_SASL_PASSWORD", "s3cret"),
        ]),
    )
    .unwrap();
    assert_eq!(config.auth.admin_username.as_deref(), Some("root"));
    assert_eq!(config.auth.admin_password.as_deref(), Some("correct horse"));
    let kafka = &config.kafka;
    assert_eq!(
        kafka.security_protocol,
        crate::config::SecurityProtocol::SaslSsl
    );
    assert_eq!(
        kafka.tls_ca_file.as_deref(),
        Some(Path::new("/etc/kafka/ca.pem"))
    );
    assert_eq!(
        kafka.tls_key_file.as_deref(),
        Some(Path::new("/etc/kafka/client.key"))
    );
    assert_eq!(
        kafka.sasl_mechanism,
        Some(crate::config::SaslMechanism::ScramSha512)
    );
    assert_eq!(kafka.sasl_username.as_deref(), Some("svc"));
    assert_eq!(kafka.sasl_password.as_deref(), Some("s3cret"));
    // Every optional field is reachable: setting each alone changes the loaded config.
    for (section, field) in OPTIONAL_FIELDS {
        let name = env_name(section, field);
        let value = if *field == "sasl_mechanism" {
            "PLAIN"
        } else {
            "x"
        };
        let loaded = load(&args(), env(&[(name.as_str(), value)]));
        // Alone, most are rejected by validation (they go with other fields); the error names
        // the field, which shows the variable was read. Accepted, the value is in the config.
        match loaded {
            Err(e) => assert!(e.to_string().contains(field), "{name}: {e}"),
            Ok(config) => {
                let text = toml::to_string(&config).unwrap();
                assert!(
                    text.contains(&format!("{field} = \"{value}\"")),
                    "{name}: {text}"
                );
            }
        }
    }
}

/// An optional setting's variable set to nothing (a template's unused variable) unsets it,
/// also over the file's value, rather than naming an empty file or mechanism.
#[test]
fn an_empty_optional_variable_unsets_the_setting() {
    let every: Vec<(String, String)> = OPTIONAL_FIELDS
        .iter()
        .filter(|(_, field)| *field != "admin_password")
        .map(|(section, field)| (env_name(section, field), String::new()))
        .collect();
    assert_eq!(load(&args(), every).unwrap(), Config::default());
    // The admin's password set to nothing is an empty one, as older versions read it (an
    // admin created with it is reported at every start): with its name and address.
    let admin = env(&[
        ("USERCENTER_AUTH_ADMIN_USERNAME", "root"),
        ("USERCENTER_AUTH_ADMIN_EMAIL", "root@example.com"),
        ("USERCENTER_AUTH_ADMIN_PASSWORD", ""),
    ]);
    let config = load(&args(), admin).unwrap();
    assert_eq!(config.auth.admin_password.as_deref(), Some(""));
    let f = file("[consumer]\ngroup_instance_id = \"pod-1\"\n");
    let with_file = Overrides {
        config: Some(f.path().to_owned()),
        ..args()
    };
    let config = load(&with_file, env(&[])).unwrap();
    assert_eq!(config.consumer.group_instance_id.as_deref(), Some("pod-1"));
    let var = ("USERCENTER_CONSUMER_GROUP_INSTANCE_ID", "");
    let config = load(&with_file, env(&[var])).unwrap();
    assert_eq!(config.consumer.group_instance_id, None);
}

#[test]
fn a_misspelt_variable_of_a_section_is_an_error_others_are_ignored() {
    let err = load(&args(), env(&[("USERCENTER_KAFKA_BROKER", "k:9092")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("USERCENTER_KAFKA_BROKER: names no setting of [kafka]"),
        "{err}"
    );
    // Not a section's: the scripts' own, and what Kubernetes' service links would set.
    for name in [
        "USERCENTER_CACHE",
        "USERCENTER_SERVICE_HOST",
        "USERCENTER_PORT",
    ] {
        assert!(load(&args(), env(&[(name, "x")])).is_ok(), "{name}");
    }
}
