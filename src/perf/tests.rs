#[test]
fn cpu_seconds_grow_with_work() {
    let before = super::cpu_seconds();
    let mut x = 0u64;
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_millis(300) {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
    }
    std::hint::black_box(x);
    assert!(super::cpu_seconds() > before, "300 ms of spinning shows up");
}

/// `perf consume --data-dir` writes offsets and dedupe marks: it makes its own store, reopens
/// one it made, and refuses a service's.
#[test]
fn perf_consume_refuses_a_store_it_did_not_make() {
    use super::consume::{ConsumeError, open_own_store};
    use crate::store::RedbStore;

    let service = tempfile::tempdir().unwrap();
    drop(RedbStore::open(service.path()).unwrap());
    let refused = open_own_store(service.path()).map(|_| ());
    assert!(
        matches!(&refused, Err(ConsumeError::ForeignStore(dir)) if dir == service.path()),
        "{refused:?}"
    );
    let own = tempfile::tempdir().unwrap();
    let dir = own.path().join("runs");
    drop(open_own_store(&dir).unwrap());
    drop(open_own_store(&dir).unwrap());
}

/// `--brokers` is checked as `serve` checks `kafka.brokers`: a bad one is a settings error
/// (status 2), not a connection that fails.
#[test]
fn brokers_without_a_port_are_refused_as_settings() {
    let refused = super::client(&["localhost".to_owned()]).map(|_| ());
    assert!(
        matches!(&refused, Err(super::PerfClientError::Settings(e)) if e.starts_with("--brokers: ")),
        "{refused:?}"
    );
}

/// A run that delivered nothing gives no CPU per record (it divided by one record and printed
/// the whole run's CPU times a million).
#[test]
fn a_run_that_delivered_nothing_shows_no_cpu_per_million() {
    let summary = |records| super::produce::Summary {
        records,
        errors: 5,
        seconds: 2.0,
        cpu_seconds: 1.23,
        record_size: 100,
        p50_ms: 0.0,
        p99_ms: 0.0,
    };
    assert!(summary(0).to_string().contains(" cpu_s_per_million=n/a "));
    assert!(
        summary(1_000_000)
            .to_string()
            .contains(" cpu_s_per_million=1.23 ")
    );
}

/// Flags that make a producer setting `serve` would refuse are refused before anything
/// connects (here no broker listens at all).
#[test]
fn perf_produce_refuses_a_batch_too_small_for_any_record() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        produce: super::produce::ProduceArgs,
    }
    let args = Cli::parse_from([
        "produce",
        "--brokers",
        "127.0.0.1:1",
        "--topic",
        "t",
        "--batch-max-bytes",
        "10",
    ]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let refused = runtime
        .block_on(super::produce::run(&args.produce))
        .map(|_| ());
    assert!(
        matches!(
            &refused,
            Err(super::produce::PerfError::Setting {
                field: "producer.batch_max_bytes",
                ..
            })
        ),
        "{refused:?}"
    );
    let too_big = Cli::try_parse_from([
        "produce",
        "--brokers",
        "b:1",
        "--topic",
        "t",
        "--record-size",
        "1000000000",
    ]);
    assert!(too_big.is_err(), "a 1 GB record size parsed");
}
