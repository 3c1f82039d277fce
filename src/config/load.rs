//! Merging defaults, the config file, the environment and flags into a validated [`Config`].
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::{Config, ConfigError, HttpConfig, validate::validate};

/// Prefix of environment overrides: `USERCENTER_<SECTION>_<FIELD>`.
pub const ENV_PREFIX: &str = "USERCENTER_";

/// What the command line overrides: the config file to read and the settings above every other
/// source. `None` leaves a setting to the file, the environment or the default. (The CLI maps
/// its flags to this, so loading the configuration does not depend on the CLI.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// The TOML file to read (`--config`).
    pub config: Option<PathBuf>,
    /// `kafka.brokers`.
    pub brokers: Option<Vec<String>>,
    /// `http.listen`, as given (validated with the rest).
    pub listen: Option<String>,
    /// `store.data_dir`.
    pub data_dir: Option<PathBuf>,
    /// `consumer.instance`.
    pub instance: Option<u32>,
    /// `consumer.instances`.
    pub instances: Option<u32>,
}

/// Loads the configuration: defaults, then `args.config` (if any), then the `USERCENTER_*`
/// variables in `env`, then the overrides in `args`; validates the result.
///
/// A variable with the prefix and a section's name (`USERCENTER_KAFKA_`) that names none of
/// its fields is an error; others with the prefix are ignored (the project's scripts use a few
/// of their own, such as `USERCENTER_CACHE`).
pub fn load<I>(args: &Overrides, env: I) -> Result<Config, ConfigError>
where
    I: IntoIterator<Item = (String, String)>,
{
    finish(merged(args, env)?)
}

/// The `[http]` section alone, from the same sources as [`load`]: what `usercenter
/// healthcheck` needs to find `/health`. The other sections are neither read into their types
/// nor validated, so a health check does not fail on a value in the file it has no use for, or
/// on one only another source completes (the image's HEALTHCHECK runs without the service's
/// `--config`, so a file's `security_protocol` never meets the environment's SASL password).
/// Their `USERCENTER_*` variables are still parsed into their fields' TOML types, as for
/// [`load`] (`apply_env`): one whose value is not an integer or boolean where its field needs
/// one, or one that names no setting, fails the health check too.
pub fn load_http<I>(args: &Overrides, env: I) -> Result<HttpConfig, ConfigError>
where
    I: IntoIterator<Item = (String, String)>,
{
    let mut table = merged(args, env)?;
    let mut sections = Table::new();
    if let Some(http) = table.remove("http") {
        sections.insert("http".into(), http);
    }
    Ok(deserialize(sections)?.http)
}

/// Defaults, then `args.config`, then the `USERCENTER_*` variables in `env`, then the flags in
/// `args`, as one table.
fn merged<I>(args: &Overrides, env: I) -> Result<Table, ConfigError>
where
    I: IntoIterator<Item = (String, String)>,
{
    let mut table = match &args.config {
        Some(path) => read_file(path)?,
        None => Table::new(),
    };
    apply_env(&mut table, env)?;
    apply_flags(&mut table, args);
    Ok(table)
}

/// The process environment as `(name, value)` strings, for [`load`]. Unlike `std::env::vars`
/// it does not panic on a variable that is not UTF-8: such a variable is skipped, unless its
/// name has our prefix, which is an error naming it.
pub fn env_vars() -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Ok(name) = name.into_string() else {
            continue;
        };
        match value.into_string() {
            Ok(value) => out.push((name, value)),
            Err(_) if name.starts_with(ENV_PREFIX) => {
                return Err(ConfigError::field(name, "is not valid UTF-8"));
            }
            Err(_) => {}
        }
    }
    Ok(out)
}

/// Parses and validates a config file's text alone (no environment, no flags).
pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
    finish(parse(Path::new("<text>"), text)?)
}

fn finish(table: Table) -> Result<Config, ConfigError> {
    let config = deserialize(table)?;
    validate(&config)?;
    Ok(config)
}

/// `table` in the configuration's types, not yet validated.
fn deserialize(table: Table) -> Result<Config, ConfigError> {
    serde_path_to_error::deserialize(Value::Table(table)).map_err(|err| {
        let path = err.path().to_string();
        if path.ends_with("_password") {
            // The parser's message quotes the value.
            return ConfigError::field(path, "must be a string");
        }
        ConfigError::field(path, one_line(err.into_inner().message()))
    })
}

fn read_file(path: &Path) -> Result<Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

fn parse(path: &Path, text: &str) -> Result<Table, ConfigError> {
    text.parse::<Table>().map_err(|err| {
        let line = err
            .span()
            // Bytes, not a str slice: a span may point inside a multi-byte character.
            .map(|span| {
                let before = &text.as_bytes()[..span.start.min(text.len())];
                before.iter().filter(|b| **b == b'\n').count() + 1
            })
            .unwrap_or(1);
        ConfigError::Syntax {
            path: path.to_owned(),
            line,
            message: one_line(err.message()),
        }
    })
}

/// A parser message on one line (they can span several).
fn one_line(message: &str) -> String {
    message
        .trim()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Fields that are unset by default (`Option`, all strings or paths). Unset fields do not appear
/// in the serialized defaults that [`fields`] reads, so they are named here. A new optional
/// field must be added to get its environment variable.
pub(crate) const OPTIONAL_FIELDS: &[(&str, &str)] = &[
    ("http", "ops_listen"),
    ("kafka", "tls_ca_file"),
    ("store", "tls_ca_file"),
    ("kafka", "tls_cert_file"),
    ("kafka", "tls_key_file"),
    ("kafka", "sasl_mechanism"),
    ("kafka", "sasl_username"),
    ("kafka", "sasl_password"),
    ("auth", "admin_username"),
    ("auth", "admin_email"),
    ("auth", "admin_password"),
    ("consumer", "assignment"),
    ("consumer", "group_instance_id"),
];

/// Every `(section, field, default value)` of the config, from the defaults themselves so that
/// a new field gets its environment variable without being listed anywhere (but for the
/// [`OPTIONAL_FIELDS`]).
fn fields() -> Vec<(String, String, Value)> {
    let Ok(defaults) = Table::try_from(Config::default()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (section, value) in defaults {
        if let Value::Table(fields) = value {
            for (field, default) in fields {
                out.push((section.clone(), field, default));
            }
        }
    }
    for (section, field) in OPTIONAL_FIELDS {
        out.push((
            (*section).to_owned(),
            (*field).to_owned(),
            Value::String(String::new()),
        ));
    }
    out
}

/// The environment variable that overrides `section.field`.
pub(crate) fn env_name(section: &str, field: &str) -> String {
    format!("{ENV_PREFIX}{section}_{field}").to_ascii_uppercase()
}

fn apply_env<I>(table: &mut Table, env: I) -> Result<(), ConfigError>
where
    I: IntoIterator<Item = (String, String)>,
{
    let env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(name, _)| name.starts_with(ENV_PREFIX))
        .collect();
    if env.is_empty() {
        return Ok(());
    }
    for (section, field, default) in fields() {
        let name = env_name(&section, &field);
        let Some((_, raw)) = env.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        // An optional setting set to nothing is unset (as a deployment's template writes an
        // unused variable), also over the file's value. Not the admin's password: one set to
        // nothing is an empty password, which older versions created an admin with and
        // `serve` reports at every start (`FirstAdmin::EmptyPassword`).
        if raw.is_empty()
            && OPTIONAL_FIELDS.contains(&(section.as_str(), field.as_str()))
            && (section.as_str(), field.as_str()) != ("auth", "admin_password")
        {
            if let Some(Value::Table(fields)) = table.get_mut(&section) {
                fields.remove(&field);
            }
            continue;
        }
        let value =
            parse_like(&default, raw).map_err(|problem| ConfigError::field(&name, problem))?;
        set(table, &section, &field, value);
    }
    refuse_unknown(&env)
}

/// A variable named like a section's settings (`USERCENTER_KAFKA_...`) that names none of them
/// is a typo: ignored, it would leave the default in force (plaintext to a TLS cluster, one
/// replica) with nothing said.
fn refuse_unknown(env: &[(String, String)]) -> Result<(), ConfigError> {
    let fields = fields();
    for (name, _) in env {
        let Some((section, ..)) = fields
            .iter()
            .find(|(section, ..)| name.starts_with(&env_name(section, "")))
        else {
            continue;
        };
        if !fields.iter().any(|(s, f, _)| *name == env_name(s, f)) {
            return Err(ConfigError::field(
                name,
                format!("names no setting of [{section}] (docs/configuration.md lists them)"),
            ));
        }
    }
    Ok(())
}

/// Parses an environment value into the TOML type of the field's default.
fn parse_like(default: &Value, raw: &str) -> Result<Value, String> {
    match default {
        Value::Integer(_) => raw
            .trim()
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| format!("`{raw}` is not an integer")),
        Value::Boolean(_) => raw
            .trim()
            .parse::<bool>()
            .map(Value::Boolean)
            .map_err(|_| format!("`{raw}` is not true or false")),
        Value::Array(_) => Ok(Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        )),
        _ => Ok(Value::String(raw.to_owned())),
    }
}

fn set(table: &mut Table, section: &str, field: &str, value: Value) {
    let entry = table
        .entry(section.to_owned())
        .or_insert_with(|| Value::Table(Table::new()));
    // A section that is not a table stays as it is: deserializing reports it with its path.
    if let Value::Table(fields) = entry {
        fields.insert(field.to_owned(), value);
    }
}

fn apply_flags(table: &mut Table, args: &Overrides) {
    if let Some(brokers) = &args.brokers {
        let list = brokers.iter().map(|b| Value::String(b.clone())).collect();
        set(table, "kafka", "brokers", Value::Array(list));
    }
    if let Some(listen) = &args.listen {
        set(table, "http", "listen", Value::String(listen.clone()));
    }
    if let Some(instance) = args.instance {
        set(
            table,
            "consumer",
            "instance",
            Value::Integer(i64::from(instance)),
        );
    }
    if let Some(instances) = args.instances {
        set(
            table,
            "consumer",
            "instances",
            Value::Integer(i64::from(instances)),
        );
    }
    if let Some(dir) = &args.data_dir {
        let dir = dir.to_string_lossy().into_owned();
        set(table, "store", "data_dir", Value::String(dir));
    }
}

#[cfg(test)]
mod tests;
