//! The command line of `native-peer`: what to send and how, as `usercenter perf produce` takes
//! it, or what to read, as `usercenter perf consume` takes it.
use super::Result;

pub(crate) const USAGE: &str = "usage: native-peer [produce] --brokers HOST:PORT[,...] --topic T [--partitions P] \
                     [--records N] [--record-size S] [--codec none|snappy] [--headers ce|none] [--set KEY=VALUE]...\n       \
                     native-peer consume --brokers HOST:PORT[,...] --topic T [--records N] [--set KEY=VALUE]...";

/// Whether to write records or read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Produce,
    Consume,
}

/// Compression codecs, as `usercenter perf produce --codec` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    None,
    Snappy,
}

impl Codec {
    pub(crate) fn parse(name: &str) -> Result<Self> {
        match name {
            "none" => Ok(Self::None),
            "snappy" => Ok(Self::Snappy),
            other => Err(format!("unknown codec {other:?} (none or snappy)").into()),
        }
    }

    /// librdkafka's `compression.codec` value.
    pub(crate) fn librdkafka_name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Snappy => "snappy",
        }
    }
}

/// The command line.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) mode: Mode,
    pub(crate) brokers: String,
    pub(crate) topic: String,
    pub(crate) partitions: i32,
    pub(crate) records: u64,
    pub(crate) record_size: usize,
    pub(crate) codec: Codec,
    /// `--headers none`: bare records, without the three `ce_*` headers.
    pub(crate) headers: bool,
    /// `--set KEY=VALUE`: librdkafka settings over the peer's own (repeatable).
    pub(crate) settings: Vec<(String, String)>,
}

impl Args {
    /// Parses an optional first word `produce` or `consume`, then `--flag value` and
    /// `--flag=value`; the defaults are those of ours. The flags that only say how to write are
    /// refused with `consume`.
    pub(crate) fn parse(argv: impl Iterator<Item = String>) -> Result<Self> {
        let mut argv = argv.peekable();
        let mode = match argv.peek().map(String::as_str) {
            Some("consume") => Mode::Consume,
            _ => Mode::Produce,
        };
        if matches!(argv.peek().map(String::as_str), Some("produce" | "consume")) {
            argv.next();
        }
        let mut brokers = None;
        let mut topic = None;
        let mut args = Args {
            mode,
            brokers: String::new(),
            topic: String::new(),
            partitions: 1,
            records: 1_000_000,
            record_size: 100,
            codec: Codec::Snappy,
            headers: true,
            settings: Vec::new(),
        };
        while let Some(arg) = argv.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                None => (arg, None),
            };
            let value = match inline {
                Some(value) => value,
                None => argv
                    .next()
                    .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?,
            };
            let bad = |e: &dyn std::fmt::Display| format!("{flag} {value:?}: {e}");
            let writing = !matches!(
                flag.as_str(),
                "--brokers" | "--topic" | "--records" | "--set"
            );
            if mode == Mode::Consume && writing {
                return Err(format!("{flag} says how to write: not with consume\n{USAGE}").into());
            }
            match flag.as_str() {
                "--brokers" => brokers = Some(value),
                "--topic" => topic = Some(value),
                "--partitions" => args.partitions = value.parse().map_err(|e| bad(&e))?,
                "--records" => args.records = value.parse().map_err(|e| bad(&e))?,
                "--record-size" => args.record_size = value.parse().map_err(|e| bad(&e))?,
                "--codec" => args.codec = Codec::parse(&value)?,
                "--set" => {
                    let (key, value) =
                        value.split_once('=').ok_or_else(|| bad(&"not KEY=VALUE"))?;
                    args.settings.push((key.to_owned(), value.to_owned()));
                }
                "--headers" => {
                    args.headers = match value.as_str() {
                        "ce" => true,
                        "none" => false,
                        _ => return Err(bad(&"ce or none").into()),
                    }
                }
                _ => return Err(format!("unknown argument {flag}\n{USAGE}").into()),
            }
        }
        args.brokers = brokers.ok_or_else(|| format!("--brokers is required\n{USAGE}"))?;
        args.topic = topic.ok_or_else(|| format!("--topic is required\n{USAGE}"))?;
        if args.partitions < 1 {
            return Err("--partitions must be at least 1".into());
        }
        Ok(args)
    }
}
