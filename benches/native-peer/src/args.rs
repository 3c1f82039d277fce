//! The command line of `native-peer`: what to send and how, as `usercenter perf produce` takes
//! it.
use super::Result;

pub(crate) const USAGE: &str = "usage: native-peer --brokers HOST:PORT[,...] --topic T [--partitions P] \
                     [--records N] [--record-size S] [--codec none|snappy] [--headers ce|none]";

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
    pub(crate) brokers: String,
    pub(crate) topic: String,
    pub(crate) partitions: i32,
    pub(crate) records: u64,
    pub(crate) record_size: usize,
    pub(crate) codec: Codec,
    /// `--headers none`: bare records, without the three `ce_*` headers.
    pub(crate) headers: bool,
}

impl Args {
    /// Parses `--flag value` and `--flag=value`; the defaults are those of ours.
    pub(crate) fn parse(mut argv: impl Iterator<Item = String>) -> Result<Self> {
        let mut brokers = None;
        let mut topic = None;
        let mut args = Args {
            brokers: String::new(),
            topic: String::new(),
            partitions: 1,
            records: 1_000_000,
            record_size: 100,
            codec: Codec::Snappy,
            headers: true,
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
            match flag.as_str() {
                "--brokers" => brokers = Some(value),
                "--topic" => topic = Some(value),
                "--partitions" => args.partitions = value.parse().map_err(|e| bad(&e))?,
                "--records" => args.records = value.parse().map_err(|e| bad(&e))?,
                "--record-size" => args.record_size = value.parse().map_err(|e| bad(&e))?,
                "--codec" => args.codec = Codec::parse(&value)?,
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
