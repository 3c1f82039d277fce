//! TLS and SASL for the Kafka connections: rustls on ring (no OpenSSL), with a CA file or the
//! compiled-in Mozilla roots, an optional client certificate, and SASL PLAIN or
//! SCRAM-SHA-256/512 (rskafka runs the SASL exchange). `config` reads `[kafka]` into these.
use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use rskafka::client::{Credentials, SaslConfig};
use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};

use serde::{Deserialize, Serialize};

/// A SASL mechanism, spelled as Kafka spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaslMechanism {
    /// User name and password in clear text (use it over TLS only).
    #[serde(rename = "PLAIN")]
    Plain,
    /// Salted challenge-response with SHA-256.
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// Salted challenge-response with SHA-512.
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

/// The files TLS is set up from; each error names the config field of its file.
#[derive(Debug, Clone, Copy, Default)]
pub struct TlsFiles<'a> {
    /// CA certificates (PEM); the compiled-in Mozilla roots without it.
    pub ca: Option<&'a Path>,
    /// The client certificate chain (PEM), with `key`.
    pub cert: Option<&'a Path>,
    /// The client certificate's private key (PEM), with `cert`.
    pub key: Option<&'a Path>,
}

/// Why the TLS settings cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityError {
    /// A certificate or key file is missing, unreadable or holds nothing usable.
    #[error("{field} {}: {problem}", path.display())]
    File {
        /// The config field naming the file.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// rustls refused the combination (for example a key that does not match the certificate).
    #[error("TLS settings: {0}")]
    Tls(String),
}

/// The rustls client configuration from `files`.
pub fn tls_config(files: TlsFiles<'_>) -> Result<Arc<ClientConfig>, SecurityError> {
    let roots = roots("kafka.tls_ca_file", files.ca)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SecurityError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    let tls = match (files.cert, files.key) {
        (Some(cert), Some(key)) => {
            let chain = certs_from_file("kafka.tls_cert_file", cert)?;
            let key = key_from_file(key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| SecurityError::Tls(format!("client certificate: {e}")))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(tls))
}

/// rskafka's SASL settings for `mechanism` with these credentials.
pub fn sasl_config(mechanism: SaslMechanism, username: &str, password: &str) -> SaslConfig {
    let credentials = Credentials::new(username.to_owned(), password.to_owned());
    match mechanism {
        SaslMechanism::Plain => SaslConfig::Plain(credentials),
        SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(credentials),
        SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(credentials),
    }
}

fn read(field: &'static str, path: &Path) -> Result<Vec<u8>, SecurityError> {
    std::fs::read(path).map_err(|e| SecurityError::File {
        field,
        path: path.to_owned(),
        problem: e.to_string(),
    })
}

fn certs_from_file(
    field: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, SecurityError> {
    let pem = read(field, path)?;
    let problem = |problem: String| SecurityError::File {
        field,
        path: path.to_owned(),
        problem,
    };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| problem(format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(problem("holds no PEM certificate".to_owned()));
    }
    Ok(certs)
}

/// The CAs a TLS connection trusts: those of `ca_file`, the file the setting `field` names
/// (`kafka.tls_ca_file`, `store.tls_ca_file`), else the compiled-in Mozilla roots.
pub(crate) fn roots(
    field: &'static str,
    ca_file: Option<&Path>,
) -> Result<RootCertStore, SecurityError> {
    Ok(match ca_file {
        Some(path) => roots_from_file(field, path)?,
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    })
}

/// The CA certificates of `path`, the file the setting `field` names. A bundle may hold
/// certificates that rustls cannot use (old or unusual ones); they are skipped with a warning,
/// as long as one is usable.
fn roots_from_file(field: &'static str, path: &Path) -> Result<RootCertStore, SecurityError> {
    let mut roots = RootCertStore::empty();
    let (usable, unusable) = roots.add_parsable_certificates(certs_from_file(field, path)?);
    if usable == 0 {
        return Err(SecurityError::File {
            field,
            path: path.to_owned(),
            problem: "holds no usable CA certificate".to_owned(),
        });
    }
    if unusable > 0 {
        tracing::warn!(file = %path.display(), usable, unusable, "{field}: skipped unusable CA certificates");
    }
    Ok(roots)
}

fn key_from_file(path: &Path) -> Result<PrivateKeyDer<'static>, SecurityError> {
    let pem = read("kafka.tls_key_file", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| SecurityError::File {
        field: "kafka.tls_key_file",
        path: path.to_owned(),
        problem: format!("no PEM private key (PKCS#8, SEC1 or RSA): {e}"),
    })
}
