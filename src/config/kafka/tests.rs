use std::io::Write;

use super::*;

fn tls(protocol: SecurityProtocol) -> KafkaConfig {
    KafkaConfig {
        security_protocol: protocol,
        ..KafkaConfig::default()
    }
}

fn pem_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn plaintext_has_neither() {
    let config = tls(SecurityProtocol::Plaintext);
    assert!(config.tls().unwrap().is_none());
    assert!(config.sasl().is_none());
}

#[test]
fn compiled_in_roots_without_a_ca_file() {
    let config = tls(SecurityProtocol::Ssl);
    assert!(config.tls().unwrap().is_some());
    assert!(!webpki_roots::TLS_SERVER_ROOTS.is_empty());
}

#[test]
fn ca_and_client_certificate_from_files() {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let cert_file = pem_file(&cert.pem());
    let key_file = pem_file(&key.serialize_pem());
    let mut config = tls(SecurityProtocol::SaslSsl);
    config.tls_ca_file = Some(cert_file.path().to_owned());
    config.tls_cert_file = Some(cert_file.path().to_owned());
    config.tls_key_file = Some(key_file.path().to_owned());
    assert!(config.tls().unwrap().is_some());

    // The wrong key for the certificate is refused with a clear message.
    let other = rcgen::KeyPair::generate().unwrap();
    let other_file = pem_file(&other.serialize_pem());
    config.tls_key_file = Some(other_file.path().to_owned());
    let err = config.tls().unwrap_err().to_string();
    assert!(err.starts_with("TLS settings: client certificate"), "{err}");
}

#[test]
fn bad_files_name_the_field_and_file() {
    let mut config = tls(SecurityProtocol::Ssl);
    config.tls_ca_file = Some("/definitely/not/here.pem".into());
    let err = config.tls().unwrap_err().to_string();
    assert!(
        err.starts_with("kafka.tls_ca_file /definitely/not/here.pem:"),
        "{err}"
    );
    let empty = pem_file("not a certificate\n");
    config.tls_ca_file = Some(empty.path().to_owned());
    let err = config.tls().unwrap_err().to_string();
    assert!(err.contains("holds no PEM certificate"), "{err}");
}

#[test]
fn sasl_mechanisms_map_to_rskafka() {
    let mut config = tls(SecurityProtocol::SaslPlaintext);
    config.sasl_username = Some("u".into());
    config.sasl_password = Some("p".into());
    for (mechanism, name) in [
        (SaslMechanism::Plain, "Plain"),
        (SaslMechanism::ScramSha256, "ScramSha256"),
        (SaslMechanism::ScramSha512, "ScramSha512"),
    ] {
        config.sasl_mechanism = Some(mechanism);
        let sasl = config.sasl().unwrap();
        assert!(format!("{sasl:?}").starts_with(name), "{sasl:?}");
    }
}

#[test]
fn settings_from_config_keep_secrets_out_of_debug() {
    let config = KafkaConfig {
        security_protocol: SecurityProtocol::SaslPlaintext,
        sasl_mechanism: Some(SaslMechanism::Plain),
        sasl_username: Some("alice".into()),
        sasl_password: Some("s3cret".into()),
        ..KafkaConfig::default()
    };
    let s = config.connect_settings().unwrap();
    assert!(s.sasl.is_some() && s.tls.is_none());
    let shown = format!("{s:?}");
    assert!(
        !shown.contains("s3cret") && !shown.contains("alice"),
        "{shown}"
    );
}

#[test]
fn only_plain_without_tls_sends_the_password_in_clear() {
    let with = |security_protocol, sasl_mechanism| KafkaConfig {
        security_protocol,
        sasl_mechanism: Some(sasl_mechanism),
        ..KafkaConfig::default()
    };
    assert!(with(SecurityProtocol::SaslPlaintext, SaslMechanism::Plain).password_in_clear());
    assert!(!with(SecurityProtocol::SaslSsl, SaslMechanism::Plain).password_in_clear());
    assert!(!with(SecurityProtocol::SaslPlaintext, SaslMechanism::ScramSha512).password_in_clear());
    assert!(!KafkaConfig::default().password_in_clear());
}
