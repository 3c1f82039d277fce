//! Config errors. Each renders as one line that names the field (or file) and the problem.
use std::path::PathBuf;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("config file {}: {source}", path.display())]
    Read {
        /// The file named by `--config`.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML.
    #[error("config file {}: line {line}: {message}", path.display())]
    Syntax {
        /// The file named by `--config`.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// A field has a bad value, is unknown, or its environment override does not parse.
    #[error("{field}: {problem}")]
    Field {
        /// Dotted path of the field (`kafka.brokers[0]`) or the environment variable.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl ConfigError {
    pub(crate) fn field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Field {
            field: field.into(),
            problem: problem.into(),
        }
    }
}
