//! A network namespace of the test's own with veth pairs to the host, so that a process inside
//! can be cut off from PostgreSQL or from the broker while everything else keeps working: a real
//! network fault, not a kill. Every address stays on this machine.
//!
//! ```text
//! host                                   namespace ucnf-<pid>-<n>
//!   <database link, host end> 10.x.y.1 ── 10.x.y.2   PostgreSQL listens on .1 (and 127.0.0.1)
//!   <broker link, host end>   10.x.y.5 ── 10.x.y.6   the broker listens on and advertises .5
//!   <control link, host end>  10.x.y.9 ── 10.x.y.10  never cut: the test reaches the HTTP of
//!                                                    a process inside at .10
//! ```
//!
//! [`Netns::cut_database`] and [`Netns::cut_broker`] set the host end of a link down: the
//! namespace's packets to that address are dropped (a black hole: no reset, no "unreachable";
//! a connection already open sees nothing until it is healed, a new one times out), while
//! processes on the host still reach the address, which stays local to the host (Linux keeps
//! the local route of an address on a link that is down). The namespace has no default route:
//! the only way from it to an address of the host is the link that carries it. Neighbour
//! entries are permanent on both sides, so no ARP failure turns the black hole into "no route
//! to host".
//!
//! Each link is a /30 of 10.0.0.0/8 chosen from the test process's pid and a counter, skipped
//! when a route of the host overlaps it. Dropping a [`Netns`] kills what still runs inside and
//! deletes the namespace and the links, panicking test or not. A test process killed outright
//! (a time limit's SIGKILL) cannot clean up: the next [`Netns::new`] deletes the namespaces
//! whose creating process is gone (their names carry its pid).
use std::{
    net::Ipv4Addr,
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

/// Names of the namespaces this module makes start with it.
const PREFIX: &str = "ucnf-";

/// The `ip` program (iproute2).
pub fn ip_bin() -> &'static str {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("ip")
}

/// Runs `ip ARGS...`; the error names the command and what it printed.
fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new(ip_bin())
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        ))
    }
}

/// Runs `ip ARGS...`, panicking on failure (while setting up).
fn must(args: &[&str]) -> String {
    ip(args).unwrap_or_else(|e| panic!("{e}"))
}

/// One veth pair: its host end and the addresses of both ends (a /30).
#[derive(Debug, Clone)]
pub struct Link {
    /// The host end's device name.
    pub device: String,
    /// The address of the host end (PostgreSQL or the broker listens on it).
    pub host: Ipv4Addr,
    /// The address of the end inside the namespace.
    pub inside: Ipv4Addr,
}

/// A network namespace with a database link, a broker link and a control link; deleted on
/// drop. See the module docs.
#[derive(Debug)]
pub struct Netns {
    /// The namespace's name (`ucnf-<pid>-<n>`), for `ip netns exec`.
    pub name: String,
    links: Vec<Link>,
}

/// The links of a namespace, in the order they are made.
const DATABASE: usize = 0;
const BROKER: usize = 1;
const CONTROL: usize = 2;

impl Netns {
    /// Makes the namespace and its three links. Panics when `ip netns` is not available (the
    /// tests run as root on Linux).
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        sweep();
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{pid}-{n}");
        must(&["netns", "add", &name]);
        // From here on, drop cleans up whatever was made.
        let mut netns = Self {
            name,
            links: Vec::new(),
        };
        must(&["-n", &netns.name, "link", "set", "lo", "up"]);
        let base = free_block(pid, n);
        for (i, kind) in ["d", "b", "c"].into_iter().enumerate() {
            let [a, b, c, d] = (base + 4 * i as u32).to_be_bytes();
            let (host, inside) = (Ipv4Addr::new(a, b, c, d + 1), Ipv4Addr::new(a, b, c, d + 2));
            // Device names have at most 15 bytes: "uc" + kind + pid (at most 7 digits) + n.
            let device = format!("uc{kind}{pid}x{}", n % 100);
            let peer = format!("{device}n");
            must(&[
                "link",
                "add",
                &device,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
                "netns",
                &netns.name,
            ]);
            netns.links.push(Link {
                device: device.clone(),
                host,
                inside,
            });
            must(&["addr", "add", &format!("{host}/30"), "dev", &device]);
            must(&["link", "set", &device, "up"]);
            let ns = ["-n", netns.name.as_str()];
            must(
                &[
                    &ns[..],
                    &["addr", "add", &format!("{inside}/30"), "dev", &peer],
                ]
                .concat(),
            );
            must(&[&ns[..], &["link", "set", &peer, "up"]].concat());
            // Permanent neighbours both ways: a cut drops packets, it never fails a lookup.
            let host_mac = mac(&[], &device);
            let inside_mac = mac(&ns, &peer);
            must(&[
                "neigh",
                "replace",
                &inside.to_string(),
                "lladdr",
                &inside_mac,
                "dev",
                &device,
                "nud",
                "permanent",
            ]);
            let neigh = [
                "neigh",
                "replace",
                &host.to_string(),
                "lladdr",
                &host_mac,
                "dev",
                &peer,
                "nud",
                "permanent",
            ];
            must(&[&ns[..], &neigh[..]].concat());
        }
        netns
    }

    /// The database link: PostgreSQL listens on its `host` address.
    pub fn database(&self) -> &Link {
        &self.links[DATABASE]
    }

    /// The broker link: the broker listens on and advertises its `host` address.
    pub fn broker(&self) -> &Link {
        &self.links[BROKER]
    }

    /// The control link, never cut: a process inside listens on its `inside` address for the
    /// test to reach it.
    pub fn control(&self) -> &Link {
        &self.links[CONTROL]
    }

    /// The namespace can no longer reach PostgreSQL (packets dropped, connections kept).
    pub fn cut_database(&self) {
        self.set(DATABASE, "down");
    }

    /// Undoes [`Netns::cut_database`].
    pub fn heal_database(&self) {
        self.set(DATABASE, "up");
    }

    /// The namespace can no longer reach the broker (packets dropped, connections kept).
    pub fn cut_broker(&self) {
        self.set(BROKER, "down");
    }

    /// Undoes [`Netns::cut_broker`].
    pub fn heal_broker(&self) {
        self.set(BROKER, "up");
    }

    fn set(&self, link: usize, state: &str) {
        let device = &self.links[link].device;
        must(&["link", "set", device, state]);
        if state == "up" {
            // The connected route and neighbour of the host end come back with the link; the
            // permanent neighbour entry is kept across down and up, but set it again in case.
            let l = &self.links[link];
            let inside_mac = mac(&["-n", self.name.as_str()], &format!("{device}n"));
            must(&[
                "neigh",
                "replace",
                &l.inside.to_string(),
                "lladdr",
                &inside_mac,
                "dev",
                device,
                "nud",
                "permanent",
            ]);
        }
    }

    /// `program` as a command run inside the namespace ([`command_in`]).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        command_in(&self.name, program)
    }
}

/// `ip netns exec NETNS program`: `program` runs inside namespace `netns` (ip execs it, so the
/// child's pid is the program's own).
pub fn command_in(netns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(ip_bin());
    command.args(["netns", "exec", netns]).arg(program);
    command
}

impl Default for Netns {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        remove(&self.name, &self.links);
    }
}

/// Kills what runs in namespace `name` (by pid), deletes the host ends of `links` (which
/// deletes their peers) and the namespace. Failures are printed, never panicked on (this runs
/// while a failed test unwinds).
fn remove(name: &str, links: &[Link]) {
    kill_inside(name);
    for l in links {
        if let Err(e) = ip(&["link", "delete", &l.device]) {
            eprintln!("netns cleanup: {e}");
        }
    }
    if let Err(e) = ip(&["netns", "delete", name]) {
        eprintln!("netns cleanup: {e}");
    }
}

/// SIGKILLs each process in namespace `name`, by pid, and waits until none is left (at most
/// 5 s). Only processes a test started run there.
fn kill_inside(name: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let pids = ip(&["netns", "pids", name]).unwrap_or_default();
        let pids: Vec<&str> = pids.split_whitespace().collect();
        if pids.is_empty() || std::time::Instant::now() > deadline {
            return;
        }
        for pid in pids {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Deletes the namespaces of this module whose creating process is gone, with what is left in
/// them (their links go with them: a veth pair dies with either end).
fn sweep() {
    let list = ip(&["netns", "list"]).unwrap_or_default();
    for line in list.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !std::path::Path::new("/proc").join(pid).exists() {
            eprintln!("netns: deleting {name}, left behind by process {pid}");
            remove(name, &[]);
        }
    }
}

/// The MAC address of `device` (in the namespace `ns` names, `["-n", NAME]`, or the host's).
fn mac(ns: &[&str], device: &str) -> String {
    let out = must(&[ns, &["-o", "link", "show", device]].concat());
    out.split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no MAC address for {device}: {out}"))
        .to_owned()
}

/// The first address of a free /28 of 10.0.0.0/8 (three /30 links) for namespace `n` of
/// process `pid`: derived from both, moved on while a route of the host overlaps it.
fn free_block(pid: u32, n: u32) -> u32 {
    let routes = routes();
    let ten = u32::from(Ipv4Addr::new(10, 0, 0, 0));
    // 2^20 blocks of 16 addresses fill 10.0.0.0/8.
    let start = ((pid % (1 << 17)) << 3) | (n % 8);
    (0..1 << 20)
        .map(|i| ten + (((start + i * 8) % (1 << 20)) << 4))
        .find(|&block| {
            !routes
                .iter()
                .any(|&(net, len)| overlaps((block, 28), (net, len)))
        })
        .expect("a /28 of 10.0.0.0/8 that no route of the host uses")
}

/// The IPv4 destinations (network, prefix length) of the host's routes in every table, but
/// the default route.
fn routes() -> Vec<(u32, u32)> {
    let out = must(&["-4", "-o", "route", "show", "table", "all"]);
    out.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let mut dest = words.next()?;
            if matches!(
                dest,
                "local" | "broadcast" | "unicast" | "blackhole" | "unreachable" | "prohibit"
            ) {
                dest = words.next()?;
            }
            if dest == "default" {
                return None;
            }
            let (net, len) = dest.split_once('/').unwrap_or((dest, "32"));
            Some((u32::from(net.parse::<Ipv4Addr>().ok()?), len.parse().ok()?))
        })
        .collect()
}

/// Whether two prefixes share an address.
fn overlaps((a, a_len): (u32, u32), (b, b_len): (u32, u32)) -> bool {
    let len = a_len.min(b_len);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    a & mask == b & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_overlap_when_the_shorter_one_holds_the_other() {
        let net = |s: &str| u32::from(s.parse::<Ipv4Addr>().unwrap());
        assert!(overlaps((net("10.1.2.16"), 28), (net("10.0.0.0"), 8)));
        assert!(overlaps((net("10.1.2.16"), 28), (net("10.1.2.20"), 32)));
        assert!(!overlaps((net("10.1.2.16"), 28), (net("10.1.2.32"), 28)));
        assert!(!overlaps((net("10.1.2.16"), 28), (net("192.0.2.0"), 24)));
    }
}
