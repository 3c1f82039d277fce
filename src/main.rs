//! `usercenter` binary: parse arguments, load config, start logging, run. Nothing else.
use std::process::ExitCode;

use clap::Parser;
use usercenter::{
    cli::{Cli, Command, HealthcheckArgs, PerfCommand},
    config::{self, Config, LogConfig, Overrides},
    logging,
    ops::GroupCommandError,
    perf, service,
    store::StoreError,
    users::UserError,
};

/// mimalloc instead of the C library's allocator: the producer and consumer allocate many small
/// short-lived buffers per record, and musl's allocator (the static binary's) is slow at that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    commit_memory_on_demand();
    usercenter::users::on_hashing_thread_start(lower_hashing_priority);
    let cli = Cli::parse();
    match &cli.command {
        Command::Config(args) => print_config(&args.overrides(), &cli),
        Command::Healthcheck(args) => healthcheck(args),
        Command::Group(command) => group(command, &cli),
        Command::Outbox(command) => outbox(command, &cli),
        Command::Migrate(args) => match load(&args.overrides(), &cli) {
            Ok(config) => migrate(&config),
            Err(code) => code,
        },
        Command::Perf(command) => perf(command, &cli),
        Command::Serve(args) => serve(&args.overrides(), &cli),
    }
}

/// `usercenter serve`: runs the service until ctrl-c or SIGTERM.
fn serve(overrides: &Overrides, cli: &Cli) -> ExitCode {
    let config = match load(overrides, cli) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if let Err(e) = logging::init(&config.log) {
        return fail(&e);
    }
    raise_open_file_limit();
    let rt = match runtime(Flavor::MultiThread) {
        Ok(rt) => rt,
        Err(e) => return failed(&format!("cannot start the async runtime: {e}")),
    };
    let ran = rt.block_on(service::run(config, service::shutdown_signal()));
    if ran
        .as_ref()
        .is_ok_and(|s| *s == service::Stopped::WhileStarting)
    {
        // A store repair on a blocking thread is not waited for (it runs again next time).
        rt.shutdown_background();
    } else if matches!(
        ran,
        Err(service::ServiceError::Interrupted
            | service::ServiceError::StoreFailed(_)
            | service::ServiceError::PipelineFailed(_))
    ) {
        // Stopped at once, or after a failure (whose stop a signal may have cut short): a
        // store transaction on a blocking thread gets a moment to end (a prune ends after its
        // batch in hand), then the process exits as after a crash.
        rt.shutdown_timeout(std::time::Duration::from_secs(5));
    }
    match ran {
        Ok(_) => ExitCode::SUCCESS,
        // A setting, or a file the configuration names, that cannot be used: the
        // configuration's to mend (status 2).
        Err(
            e @ (service::ServiceError::KafkaSecurity(_)
            | service::ServiceError::Store(StoreError::TlsCaFile(_))
            | service::ServiceError::Users(UserError::Invalid { .. })),
        ) => fail(&e.to_string()),
        // Not the configuration (the store, the network, a port in use): status 1, which a
        // restart may mend.
        Err(e) => failed(&e.to_string()),
    }
}

/// `usercenter config`: prints the effective configuration, secrets redacted.
fn print_config(overrides: &Overrides, cli: &Cli) -> ExitCode {
    let config = match load(overrides, cli) {
        Ok(config) => config,
        Err(code) => return code,
    };
    match toml::to_string_pretty(&config.redacted()) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("cannot print config: {e}")),
    }
}

/// `usercenter perf ...`: runs the load test, prints its summary line.
fn perf(command: &PerfCommand, cli: &Cli) -> ExitCode {
    let log = LogConfig {
        level: "warn".into(),
        format: cli.log_format.unwrap_or(config::LogFormat::Human),
    };
    if let Err(e) = logging::init(&log) {
        return fail(&e);
    }
    // Kafka settings from the environment that cannot be used (`Connect`), or producer
    // settings the flags make that `serve` would refuse (`Setting`): status 2, as `serve`'s.
    let summary = block_on(async {
        match command {
            PerfCommand::Produce(args) => perf::produce::run(args)
                .await
                .map(|s| (s.errors, s.to_string()))
                .map_err(|e| {
                    let config = matches!(
                        &e,
                        perf::produce::PerfError::Connect(_)
                            | perf::produce::PerfError::Setting { .. }
                    );
                    (config, format!("perf produce: {e}"))
                }),
            PerfCommand::Consume(args) => perf::consume::run(args, service::shutdown_signal())
                .await
                .map(|s| (0, s.to_string()))
                .map_err(|e| {
                    let config = matches!(&e, perf::consume::ConsumeError::Connect(_));
                    (config, format!("perf consume: {e}"))
                }),
        }
    });
    match summary {
        Ok(Ok((0, line))) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        // The summary still says what went through; the status says not everything did.
        Ok(Ok((errors, line))) => {
            println!("{line}");
            failed(&format!("perf produce: {errors} records not delivered"))
        }
        Ok(Err((true, e))) => fail(&e),
        Ok(Err((false, e))) => failed(&e),
        Err(code) => code,
    }
}

/// `usercenter group ...`: prints the report or plan ([`operator`]).
fn group(command: &usercenter::ops::GroupCommand, cli: &Cli) -> ExitCode {
    let overrides = command.common().overrides();
    operator("group", &overrides, cli, async |config: &Config| {
        usercenter::ops::run(command, config).await
    })
}

/// `usercenter outbox ...`: lists or puts back parked rows ([`operator`]).
fn outbox(command: &usercenter::ops::OutboxCommand, cli: &Cli) -> ExitCode {
    let overrides = command.common().overrides();
    operator("outbox", &overrides, cli, async |config: &Config| {
        usercenter::ops::run_outbox(command, config).await
    })
}

/// An operator command `name`: the report on stdout, the logs on stderr (a long redb repair's
/// progress, warnings); exit status 2 for a file the configuration names that cannot be read
/// (TLS), 1 when the command failed otherwise.
fn operator(
    name: &str,
    overrides: &Overrides,
    cli: &Cli,
    run: impl AsyncFnOnce(&Config) -> Result<String, GroupCommandError>,
) -> ExitCode {
    let config = match load(overrides, cli) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if let Err(e) = logging::init(&config.log) {
        return fail(&e);
    }
    match block_on(run(&config)) {
        Ok(Ok(text)) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Err(
            e @ (GroupCommandError::Security(_)
            | GroupCommandError::Store(StoreError::TlsCaFile(_))),
        )) => fail(&format!("{name}: {}", usercenter::logging::error_chain(&e))),
        Ok(Err(e)) => failed(&format!("{name}: {}", usercenter::logging::error_chain(&e))),
        Err(code) => code,
    }
}

/// One GET of the health URL; prints the answer, exit status 0 on 200, 1 otherwise.
fn healthcheck(args: &HealthcheckArgs) -> ExitCode {
    let url = match &args.url {
        Some(url) => url.clone(),
        // Exit status 1, not 2, on every failure: Docker reserves 2 in health checks.
        // The `[http]` section only: the rest is the service's to check.
        None => {
            match config::env_vars().and_then(|env| config::load_http(&args.overrides(), env)) {
                // `/health` is where `http.ops_listen` puts it, unless `--listen` names the address.
                Ok(http) => {
                    usercenter::healthcheck::url_for(match (&args.listen, http.ops_listen) {
                        (None, Some(ops)) => ops,
                        _ => http.listen,
                    })
                }
                Err(e) => {
                    eprintln!("usercenter: unhealthy: config: {e}");
                    return ExitCode::from(1);
                }
            }
        }
    };
    let timeout = std::time::Duration::from_secs(args.timeout_secs.max(1));
    let check = usercenter::healthcheck::check(&url, timeout);
    match runtime(Flavor::CurrentThread).map(|rt| rt.block_on(check)) {
        Ok(Ok(body)) => {
            println!("healthy: {url}: {body}");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("usercenter: unhealthy: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("usercenter: unhealthy: cannot start the async runtime: {e}");
            ExitCode::from(1)
        }
    }
}

/// `usercenter migrate`: applies the missing migrations, prints what it did.
fn migrate(config: &Config) -> ExitCode {
    if config.store.backend == config::StoreBackend::Redb {
        println!("store.backend is redb: no migrations to apply");
        return ExitCode::SUCCESS;
    }
    if let Err(e) = logging::init(&config.log) {
        return fail(&e);
    }
    let ca_file = config.store.tls_ca_file.as_deref();
    match block_on(usercenter::pgstore::migrate(&config.store.url, ca_file)) {
        Ok(Ok(applied)) => {
            println!(
                "migrations applied now: {applied:?}; schema at version {}",
                usercenter::pgstore::migrate::LATEST
            );
            ExitCode::SUCCESS
        }
        Ok(Err(e @ StoreError::TlsCaFile(_))) => fail(&format!("migrate: {e}")),
        Ok(Err(e)) => failed(&format!("migrate: {e}")),
        Err(code) => code,
    }
}

/// Which tokio runtime a command runs on.
enum Flavor {
    /// Worker threads on every core: the service, migrations, the tools.
    MultiThread,
    /// The calling thread alone: the health check, one request in a small container.
    CurrentThread,
}

/// A new tokio runtime of `flavor`, its I/O and timers enabled.
fn runtime(flavor: Flavor) -> std::io::Result<tokio::runtime::Runtime> {
    match flavor {
        Flavor::MultiThread => tokio::runtime::Runtime::new(),
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    }
}

/// Runs `work` to its end on a new multi-threaded runtime; exit status 1 when none starts.
fn block_on<T>(work: impl Future<Output = T>) -> Result<T, ExitCode> {
    match runtime(Flavor::MultiThread) {
        Ok(rt) => Ok(rt.block_on(work)),
        Err(e) => Err(failed(&format!("cannot start the async runtime: {e}"))),
    }
}

fn load(overrides: &Overrides, cli: &Cli) -> Result<Config, ExitCode> {
    let mut config = config::env_vars()
        .and_then(|env| config::load(overrides, env))
        .map_err(|e| fail(&format!("config: {e}")))?;
    if let Some(format) = cli.log_format {
        config.log.format = format;
    }
    Ok(config)
}

/// `mi_option_arena_eager_commit` (mimalloc v3's `mimalloc.h`, `mi_option_e`: the fifth option).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Has mimalloc commit its arenas' memory as it is used, not all at once: on Linux (overcommit)
/// its default commits a whole arena eagerly and then never purges it, so memory freed after a
/// burst of requests would stay resident. Called first thing in `main`, before the first arena
/// exists.
#[allow(unsafe_code)]
fn commit_memory_on_demand() {
    // SAFETY: sets one of mimalloc's integer options; no pointers, and no other thread exists
    // yet (the function is not thread-safe).
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0) }
}

/// The nice value of the password hashing threads: below every other thread of the process,
/// so the relay, the consumer and the HTTP front run first when they compete with a hash for a
/// core, and a hash gets every cycle they leave (`docs/performance.md` has the figures).
const HASHING_NICE: libc::c_int = 10;

/// Lowers the calling hashing thread's priority to [`HASHING_NICE`] (on Linux a thread's nice
/// value is its own). A failure is logged: hashing works the same, without the priority.
#[allow(unsafe_code)]
fn lower_hashing_priority() {
    // SAFETY: gettid and setpriority take and return plain integers and touch no memory.
    let tid = unsafe { libc::gettid() };
    let who = libc::id_t::try_from(tid).unwrap_or(0);
    // SAFETY: as above; `who` is this thread's id (0, this thread too, if it did not fit).
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, who, HASHING_NICE) } != 0 {
        let error = std::io::Error::last_os_error();
        tracing::warn!(%error, "cannot lower the priority of a password hashing thread");
    }
}

/// The most open files [`raise_open_file_limit`] asks for: the kernel refuses more than
/// `fs.nr_open` (1,048,576 by default), also under a hard limit of "unlimited".
const OPEN_FILES_WANTED: libc::rlim_t = 1 << 20;

/// Raises the soft limit of open files to the hard one, as Go's runtime does at start: a
/// container often starts with a soft limit of 1,024, fewer than the HTTP front's connection
/// caps take (the service warns at start if what is left is too few). A failure is logged.
#[allow(unsafe_code)]
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the one struct it is given, which lives on this stack.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    let wanted = limit.rlim_max.min(OPEN_FILES_WANTED);
    if limit.rlim_cur >= wanted {
        return;
    }
    let raised = libc::rlimit {
        rlim_cur: wanted,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit reads the one struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        let error = std::io::Error::last_os_error();
        tracing::warn!(%error, soft = limit.rlim_cur, hard = limit.rlim_max, "cannot raise the open-files limit to its hard limit");
    }
}

/// A bad configuration (a setting, a file it names, the log filter): the message, status 2.
fn fail(message: &str) -> ExitCode {
    eprintln!("usercenter: {message}");
    ExitCode::from(2)
}

/// Any other failure (the store, the network, a port in use, a run that failed): the message,
/// status 1.
fn failed(message: &str) -> ExitCode {
    eprintln!("usercenter: {message}");
    ExitCode::FAILURE
}
