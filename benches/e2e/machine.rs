//! Where the machine's CPU goes in a phase: the service instances' hashing threads and the
//! rest of the instances, the broker, this bench (its HTTP clients and readers), and the rest
//! of the machine (the database, the kernel's own work), from `/proc/stat` and each process's
//! `/proc/<pid>/stat`. Divided by the registrations, it says what a registration costs
//! besides argon2.
use super::hashing::Pool;

/// Clock ticks per second of `/proc` CPU times (`USER_HZ`: 100 on x86_64 and aarch64).
const TICKS: f64 = 100.0;

/// CPU seconds so far: the machine's busy time and the processes'.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cpu {
    machine: f64,
    instances: f64,
    broker: f64,
    bench: f64,
}

impl Cpu {
    /// Now, for the instances `instances` and the broker `broker`.
    pub fn read(instances: &[u32], broker: Option<u32>) -> Self {
        Self {
            machine: machine_busy(),
            instances: instances.iter().map(|pid| process(&pid.to_string())).sum(),
            broker: broker.map_or(0.0, |pid| process(&pid.to_string())),
            bench: process("self"),
        }
    }

    /// One line: per registration (`registrations` in the phase from `before` to `self`), CPU
    /// ms of argon2 (the hashing threads on a core, from `pool`), the rest of the instances,
    /// the broker, the bench and the rest of the machine.
    pub fn describe(&self, before: &Self, pool: &Pool, registrations: usize) -> String {
        let per = |s: f64| s / registrations.max(1) as f64 * 1e3;
        let instances = self.instances - before.instances;
        let accounted = instances + self.broker - before.broker + self.bench - before.bench;
        format!(
            "CPU per registration: {:.1} ms of the machine's; hashing threads {:.1}, the rest of the instances {:.1}, the broker {:.1}, this bench {:.1}, the rest (the database, the kernel) {:.1}",
            per(self.machine - before.machine),
            per(pool.on_core),
            per(instances - pool.on_core),
            per(self.broker - before.broker),
            per(self.bench - before.bench),
            per(self.machine - before.machine - accounted),
        )
    }
}

/// Seconds every CPU of the machine was busy, from the first line of `/proc/stat` (all but
/// idle and iowait); 0 when unreadable.
fn machine_busy() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().next() else {
        return 0.0;
    };
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user already)
    let busy: u64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    busy as f64 / TICKS
}

/// User and system CPU seconds of process `pid` (a number or `self`), its threads included;
/// 0 when unreadable.
fn process(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (in parentheses, which may hold spaces): state is
    // the first, utime the 12th, stime the 13th.
    let Some((_, after)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    fields.iter().sum::<u64>() as f64 / TICKS
}
