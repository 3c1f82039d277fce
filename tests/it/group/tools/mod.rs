//! `usercenter group describe` and `group reset-offsets` against a real Nisshi broker: offsets
//! committed with the protocol layer, read back with OffsetFetch and by librdkafka; the store's
//! offsets and dedupe marks; refusals while a member is joined or the store is held.
//!
//! - `describe_reset`: the whole scenario, one broker, step by step;
//! - `fixture`: the records, the group's offsets and the store it starts from, and a member;
//! - `offsets`: where the offsets are read back from (the broker, librdkafka, the store).

mod describe_reset;
mod fixture;
mod offsets;

use std::{path::Path, process::Output};

const TOPIC: &str = "gt.events";
const GROUP: &str = "gt";

/// `usercenter group ARGS` on the test's broker, group, topic and data directory; the group
/// is the service's own (`consumer.group_id`).
fn group_command(broker: &str, data: &Path, args: &[&str]) -> Output {
    group_command_of(GROUP, broker, data, args)
}

/// [`group_command`] with `--group group`, while the service's own group stays [`GROUP`].
fn group_command_of(group: &str, broker: &str, data: &Path, args: &[&str]) -> Output {
    let data = data.to_string_lossy();
    let mut all = vec!["group"];
    all.extend(args);
    all.extend(["--brokers", broker, "--group", group, "--topic", TOPIC]);
    all.extend(["--data-dir", &data]);
    testkit::usercenter_command(&all)
        .env("USERCENTER_CONSUMER_GROUP_ID", GROUP)
        .output()
        .expect("run usercenter")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The fields of the line of `partition` in a table whose first columns are topic, partition.
fn row(text: &str, partition: i32) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|f| f.len() >= 2 && f[0] == TOPIC && f[1] == partition.to_string())
        .unwrap_or_else(|| panic!("no row for partition {partition}: {text}"))
}

/// Runs the group commands `steps` one after another, printing each one's output; the last
/// one's output.
fn run_steps(b: &str, data: &Path, steps: &[&[&str]]) -> String {
    let mut last = String::new();
    for args in steps {
        last = stdout(&group_command(b, data, args));
        println!("{last}");
    }
    last
}

#[test]
fn reset_help_explains_dry_run_and_replay() {
    let out = testkit::usercenter(&["group", "reset-offsets", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--execute",
        "--replay",
        "dedupe mark",
        "skipped",
        "applied a second time",
    ] {
        assert!(text.contains(needle), "{needle} missing from help: {text}");
    }
    // A target is required.
    let out = testkit::usercenter(&["group", "reset-offsets"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A file the configuration names that cannot be read is a bad configuration: status 2, as
/// `serve` exits for it, before anything is asked of a broker.
#[test]
fn an_unreadable_tls_file_is_a_configuration_error() {
    let out = testkit::usercenter_command(&["group", "describe", "--brokers", "127.0.0.1:1"])
        .env("USERCENTER_KAFKA_SECURITY_PROTOCOL", "ssl")
        .env("USERCENTER_KAFKA_TLS_CA_FILE", "/nonexistent/ca.pem")
        .output()
        .expect("run usercenter");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("ca.pem"), "{err}");
}
