//! `[kafka]`: how to reach the brokers, including TLS and SASL, and the checks of that section.
use std::{path::PathBuf, sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};

use super::ConfigError;
pub use crate::kafka::security::SaslMechanism;
use crate::kafka::{
    protocol::ConnectSettings,
    security::{self, SecurityError, TlsFiles},
};

/// `[kafka]`: how to reach the brokers. Its `Debug` hides the SASL password.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap brokers as `HOST:PORT`. Default `["127.0.0.1:9092"]`.
    pub brokers: Vec<String>,
    /// Client id sent to the brokers. Default `usercenter`.
    pub client_id: String,
    /// How long one connection attempt may take (TCP, TLS, ApiVersions, SASL), in seconds: a
    /// broker that accepts and then says nothing costs this long. Default 10, as the Java
    /// client's `socket.connection.setup.timeout.ms`.
    pub connect_timeout_secs: u64,
    /// Kafka's `security.protocol`: `plaintext` (default), `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub security_protocol: SecurityProtocol,
    /// PEM file of the CA certificates that sign the brokers' certificates. Default: the
    /// Mozilla roots compiled into the binary (no `/etc/ssl` needed).
    pub tls_ca_file: Option<PathBuf>,
    /// PEM certificate chain of this client, for brokers that require client certificates.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, SEC1 or RSA) of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`; needed by the `sasl_*` protocols.
    pub sasl_mechanism: Option<SaslMechanism>,
    /// SASL user name.
    pub sasl_username: Option<String>,
    /// SASL password (prefer `USERCENTER_KAFKA_SASL_PASSWORD` to a file).
    pub sasl_password: Option<String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: vec!["127.0.0.1:9092".to_owned()],
            client_id: "usercenter".to_owned(),
            connect_timeout_secs: 10,
            security_protocol: SecurityProtocol::Plaintext,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
        }
    }
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("client_id", &self.client_id)
            .field("connect_timeout_secs", &self.connect_timeout_secs)
            .field("security_protocol", &self.security_protocol)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_cert_file", &self.tls_cert_file)
            .field("tls_key_file", &self.tls_key_file)
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("sasl_username", &self.sasl_username)
            .field("sasl_password", &super::redact(&self.sasl_password))
            .finish()
    }
}

/// Kafka's `security.protocol`: lower case, or Kafka's own spelling (`SASL_SSL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    /// Neither TLS nor SASL.
    #[serde(alias = "PLAINTEXT")]
    Plaintext,
    /// TLS, no SASL.
    #[serde(alias = "SSL")]
    Ssl,
    /// SASL over plain TCP.
    #[serde(alias = "SASL_PLAINTEXT")]
    SaslPlaintext,
    /// SASL over TLS.
    #[serde(alias = "SASL_SSL")]
    SaslSsl,
}

impl SecurityProtocol {
    /// Whether connections use TLS.
    pub fn tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// Whether connections authenticate with SASL.
    pub fn sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

impl KafkaConfig {
    /// Whether SASL sends the password as it is, unencrypted: PLAIN without TLS.
    pub fn password_in_clear(&self) -> bool {
        let plain = self.sasl_mechanism == Some(SaslMechanism::Plain);
        plain && self.security_protocol.sasl() && !self.security_protocol.tls()
    }

    /// A WARN when [`Self::password_in_clear`]: for every command that connects with these
    /// settings (`serve`, `group`, `perf`).
    pub fn warn_if_password_in_clear(&self) {
        if self.password_in_clear() {
            tracing::warn!(
                "kafka: SASL PLAIN over sasl_plaintext sends kafka.sasl_password to every broker in clear text; use security_protocol = \"sasl_ssl\""
            );
        }
    }

    /// The rustls client configuration, or `None` when the protocol has no TLS; its files are
    /// read here.
    pub fn tls(&self) -> Result<Option<Arc<rustls::ClientConfig>>, SecurityError> {
        if !self.security_protocol.tls() {
            return Ok(None);
        }
        security::tls_config(TlsFiles {
            ca: self.tls_ca_file.as_deref(),
            cert: self.tls_cert_file.as_deref(),
            key: self.tls_key_file.as_deref(),
        })
        .map(Some)
    }

    /// rskafka's SASL settings, or `None` when the protocol has no SASL.
    pub fn sasl(&self) -> Option<rskafka::client::SaslConfig> {
        if !self.security_protocol.sasl() {
            return None;
        }
        // Validation makes the mechanism present with the sasl_* protocols.
        Some(security::sasl_config(
            self.sasl_mechanism?,
            self.sasl_username.as_deref().unwrap_or_default(),
            self.sasl_password.as_deref().unwrap_or_default(),
        ))
    }

    /// How the Kafka client connects: TLS and SASL from this section, the client id, and
    /// timeouts (the request timeout is longer than the 30 s a broker may take for acks=all).
    pub fn connect_settings(&self) -> Result<ConnectSettings, SecurityError> {
        Ok(ConnectSettings {
            client_id: Arc::from(self.client_id.as_str()),
            tls: self.tls()?,
            sasl: self.sasl(),
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
            request_timeout: Duration::from_secs(40),
        })
    }

    /// Checks the section; the error names the field at fault.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if self.brokers.is_empty() {
            return Err(ConfigError::field(
                "kafka.brokers",
                "needs at least one HOST:PORT",
            ));
        }
        for (i, broker) in self.brokers.iter().enumerate() {
            check_broker(broker)
                .map_err(|p| ConfigError::field(format!("kafka.brokers[{i}]"), p))?;
        }
        if self.client_id.is_empty() {
            return Err(ConfigError::field("kafka.client_id", "must not be empty"));
        }
        // Past an hour a connect is no longer timed; far past it the deadline overflows.
        if !(1..=3_600).contains(&self.connect_timeout_secs) {
            return Err(ConfigError::field(
                "kafka.connect_timeout_secs",
                "must be 1 to 3600",
            ));
        }
        self.check_tls()?;
        self.check_sasl()
    }

    fn check_tls(&self) -> Result<(), ConfigError> {
        let files = [
            ("kafka.tls_ca_file", &self.tls_ca_file),
            ("kafka.tls_cert_file", &self.tls_cert_file),
            ("kafka.tls_key_file", &self.tls_key_file),
        ];
        for (field, file) in files {
            if file.is_some() && !self.security_protocol.tls() {
                return Err(ConfigError::field(
                    field,
                    "needs kafka.security_protocol `ssl` or `sasl_ssl`",
                ));
            }
            if file.as_ref().is_some_and(|f| f.as_os_str().is_empty()) {
                return Err(ConfigError::field(field, "must not be empty"));
            }
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err(ConfigError::field(
                "kafka.tls_cert_file",
                "tls_cert_file and tls_key_file go together",
            ));
        }
        Ok(())
    }

    fn check_sasl(&self) -> Result<(), ConfigError> {
        let given = [
            ("kafka.sasl_mechanism", self.sasl_mechanism.is_some()),
            ("kafka.sasl_username", self.sasl_username.is_some()),
            ("kafka.sasl_password", self.sasl_password.is_some()),
        ];
        if self.security_protocol.sasl() {
            if let Some((field, _)) = given.iter().find(|(_, set)| !set) {
                return Err(ConfigError::field(
                    *field,
                    "needed by kafka.security_protocol `sasl_plaintext` and `sasl_ssl`",
                ));
            }
            for (field, value) in [
                ("kafka.sasl_username", &self.sasl_username),
                ("kafka.sasl_password", &self.sasl_password),
            ] {
                let value = value.as_deref().unwrap_or_default();
                if value.is_empty() {
                    return Err(ConfigError::field(field, "must not be empty"));
                }
                // SASL PLAIN separates its fields with NUL, and SCRAM refuses it in names.
                if value.contains('\0') {
                    return Err(ConfigError::field(
                        field,
                        "must not contain a NUL character",
                    ));
                }
            }
        } else if let Some((field, _)) = given.iter().find(|(_, set)| *set) {
            return Err(ConfigError::field(
                *field,
                "needs kafka.security_protocol `sasl_plaintext` or `sasl_ssl`",
            ));
        }
        Ok(())
    }
}

/// `HOST:PORT` with a non-empty host (name, IPv4, or `[IPv6]`) and a port in 1..=65535.
pub(crate) fn check_broker(broker: &str) -> Result<(), String> {
    let Some((host, port)) = broker.rsplit_once(':') else {
        return Err(format!("`{broker}` is not HOST:PORT (no port)"));
    };
    let host_ok = !host.is_empty()
        && !host.chars().any(char::is_whitespace)
        && (host.starts_with('[') == host.ends_with(']'))
        && (host.starts_with('[') || !host.contains(':'));
    if !host_ok {
        return Err(format!("`{broker}` is not HOST:PORT (bad host `{host}`)"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("`{broker}` is not HOST:PORT (bad port `{port}`)")),
    }
}

#[cfg(test)]
mod tests;
