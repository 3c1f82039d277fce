//! Certificates for TLS tests: a CA and a broker certificate for 127.0.0.1 and localhost signed
//! by it, made with rcgen. Used by `tests/it/security.rs` and, through
//! `cargo run --example test_certs -- DIR`, by `deploy/check-static.sh`.
use std::path::Path;

/// Writes `ca.pem`, `broker.pem` (the broker certificate followed by the CA), `broker.key`,
/// and a client certificate signed by the same CA, `client.pem` and `client.key`, into `dir`.
pub fn write(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "usercenter test CA");
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate()?;
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    let cert = params.signed_by(&key, &issuer)?;
    std::fs::write(dir.join("ca.pem"), ca_cert.pem())?;
    std::fs::write(dir.join("broker.pem"), cert.pem() + &ca_cert.pem())?;
    std::fs::write(dir.join("broker.key"), key.serialize_pem())?;
    let client_key = rcgen::KeyPair::generate()?;
    let mut client = rcgen::CertificateParams::new(Vec::<String>::new())?;
    client
        .distinguished_name
        .push(rcgen::DnType::CommonName, "usercenter");
    client.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client.signed_by(&client_key, &issuer)?;
    std::fs::write(dir.join("client.pem"), client_cert.pem())?;
    std::fs::write(dir.join("client.key"), client_key.serialize_pem())?;
    Ok(())
}
