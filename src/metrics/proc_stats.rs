//! The standard `process_*` metrics (resident and virtual memory, CPU seconds, open and
//! maximum file descriptors, start time), read from Linux's `/proc` on each scrape.
//!
//! Pure Rust, no libc: `/proc` exists in a FROM-scratch container too. Elsewhere the reads fail
//! and the service lists no process metrics. Times in `/proc/self/stat` are in clock ticks of
//! `USER_HZ`, which the kernel fixes at 100 for userspace on every architecture we build for
//! (Prometheus' own procfs library assumes the same), so no `sysconf` call is needed.
use std::{fs, io};

use super::render_value;

/// Clock ticks per second of the times in `/proc/self/stat`.
const USER_HZ: f64 = 100.0;

/// Why the process metrics could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// A `/proc` file could not be read (not Linux, or no `/proc` mounted).
    #[error("reading {path}")]
    Read {
        /// The file.
        path: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A `/proc` file did not have the expected field.
    #[error("{path}: no {field}")]
    Malformed {
        /// The file.
        path: &'static str,
        /// The field not found or not a number.
        field: &'static str,
    },
}

/// One reading of the process' resources.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    /// User and system CPU time in seconds.
    pub cpu_seconds: f64,
    /// Resident memory in bytes.
    pub resident_bytes: u64,
    /// Virtual memory in bytes.
    pub virtual_bytes: u64,
    /// Start time in seconds since the Unix epoch.
    pub start_time_seconds: f64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The soft limit of open file descriptors; `None` when unlimited.
    pub max_fds: Option<u64>,
}

/// Fields of `/proc/self/stat` this module uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// `utime` + `stime`, in clock ticks.
    pub cpu_ticks: u64,
    /// `starttime`: clock ticks after boot.
    pub start_ticks: u64,
    /// `vsize`: virtual memory in bytes.
    pub virtual_bytes: u64,
}

fn read(path: &'static str) -> Result<String, ProcessError> {
    fs::read_to_string(path).map_err(|source| ProcessError::Read { path, source })
}

/// Parses `/proc/self/stat`. The command name (field 2) is in parentheses and may itself hold
/// spaces and parentheses, so fields are counted after the last `)`.
pub fn parse_stat(text: &str) -> Result<Stat, ProcessError> {
    let bad = |field| ProcessError::Malformed {
        path: "/proc/self/stat",
        field,
    };
    let rest = text.rsplit_once(')').ok_or(bad("command name"))?.1;
    // After the name: field 3 (state) is index 0, so field N is index N - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize, name| -> Result<u64, ProcessError> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .ok_or(bad(name))
    };
    Ok(Stat {
        cpu_ticks: field(14, "utime")? + field(15, "stime")?,
        start_ticks: field(22, "starttime")?,
        virtual_bytes: field(23, "vsize")?,
    })
}

/// The value of the `key` line of a `key value...` file (`/proc/stat`, `/proc/self/status`),
/// its first number.
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The soft `Max open files` limit of `/proc/self/limits`; `Ok(None)` when unlimited.
pub fn parse_max_open_files(text: &str) -> Result<Option<u64>, ProcessError> {
    let soft = text
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next());
    match soft {
        Some("unlimited") => Ok(None),
        Some(n) if n.parse::<u64>().is_ok() => Ok(n.parse().ok()),
        _ => Err(ProcessError::Malformed {
            path: "/proc/self/limits",
            field: "Max open files",
        }),
    }
}

/// The process' soft limit of open file descriptors now; `Ok(None)` when unlimited.
pub fn open_file_limit() -> Result<Option<u64>, ProcessError> {
    parse_max_open_files(&read("/proc/self/limits")?)
}

/// Reads the process' resources now.
pub fn read_stats() -> Result<ProcessStats, ProcessError> {
    let stat = parse_stat(&read("/proc/self/stat")?)?;
    let boot_time = keyed(&read("/proc/stat")?, "btime ").ok_or(ProcessError::Malformed {
        path: "/proc/stat",
        field: "btime",
    })?;
    let rss_kib = keyed(&read("/proc/self/status")?, "VmRSS:").ok_or(ProcessError::Malformed {
        path: "/proc/self/status",
        field: "VmRSS",
    })?;
    let max_fds = parse_max_open_files(&read("/proc/self/limits")?)?;
    let open_fds = fs::read_dir("/proc/self/fd")
        .map_err(|source| ProcessError::Read {
            path: "/proc/self/fd",
            source,
        })?
        .count() as u64;
    Ok(ProcessStats {
        cpu_seconds: stat.cpu_ticks as f64 / USER_HZ,
        resident_bytes: rss_kib * 1024,
        virtual_bytes: stat.virtual_bytes,
        start_time_seconds: boot_time as f64 + stat.start_ticks as f64 / USER_HZ,
        open_fds,
        max_fds,
    })
}

impl ProcessStats {
    /// Appends the `process_*` families to `out`.
    pub fn render(&self, out: &mut String) {
        let gauges: [(&str, &str, f64); 4] = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                self.resident_bytes as f64,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                self.virtual_bytes as f64,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch in seconds.",
                self.start_time_seconds,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                self.open_fds as f64,
            ),
        ];
        render_value(
            out,
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            self.cpu_seconds,
        );
        for (name, help, value) in gauges {
            render_value(out, name, "gauge", help, value);
        }
        if let Some(max) = self.max_fds {
            let help = "Maximum number of open file descriptors.";
            render_value(out, "process_max_fds", "gauge", help, max);
        }
    }
}

#[cfg(test)]
mod tests;
