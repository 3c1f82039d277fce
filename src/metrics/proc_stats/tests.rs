use super::*;

#[test]
fn stat_fields_are_counted_after_the_last_parenthesis() {
    // A command name with a space and a `)` in it; then fields 3.. of proc(5).
    let text = "42 (a b) c) S 1 42 42 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 1 0 \
                123456 3133440 350 18446744073709551615 1 2 3";
    let stat = parse_stat(text).unwrap();
    assert_eq!(
        stat,
        Stat {
            cpu_ticks: 300,
            start_ticks: 123_456,
            virtual_bytes: 3_133_440,
        }
    );
}

#[test]
fn a_truncated_stat_is_malformed() {
    let err = parse_stat("42 (x) S 1 42").unwrap_err();
    assert!(
        matches!(err, ProcessError::Malformed { field: "utime", .. }),
        "{err}"
    );
    assert!(parse_stat("no parenthesis").is_err());
}

#[test]
fn max_open_files_is_the_soft_limit() {
    let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                  Max processes             127448               127448               processes\n\
                  Max open files            1024                 1048576              files\n";
    assert_eq!(parse_max_open_files(limits).unwrap(), Some(1024));
    let unlimited = "Max open files            unlimited            unlimited            files\n";
    assert_eq!(parse_max_open_files(unlimited).unwrap(), None);
    assert!(parse_max_open_files("Max processes 1 1 processes\n").is_err());
    assert!(parse_max_open_files("Max open files  many  many files\n").is_err());
}

#[test]
fn keyed_lines_give_their_first_number() {
    let status = "Name:\tcat\nVmPeak:\t    9000 kB\nVmRSS:\t    2060 kB\n";
    assert_eq!(keyed(status, "VmRSS:"), Some(2060));
    assert_eq!(
        keyed("cpu 1 2 3\nbtime 1795857979\n", "btime "),
        Some(1_795_857_979)
    );
    assert_eq!(keyed("cpu 1 2 3\n", "btime "), None);
}

#[cfg(target_os = "linux")]
#[test]
fn this_process_reads_back_plausible_values() {
    let s = read_stats().unwrap();
    assert!(
        s.resident_bytes > 0 && s.virtual_bytes >= s.resident_bytes,
        "{s:?}"
    );
    assert!(s.open_fds >= 3, "stdin, stdout, stderr at least: {s:?}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // Started before now, and not before the first day of 2020.
    assert!(
        (1_577_836_800.0..=now + 1.0).contains(&s.start_time_seconds),
        "{s:?}"
    );
    let mut out = String::new();
    s.render(&mut out);
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
    ] {
        assert!(out.contains(&format!("\n{name} ")), "{name} in {out}");
    }
}
