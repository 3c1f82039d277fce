use std::io::Write;

use super::*;
use crate::config::LogFormat;
use crate::config::kafka::check_broker;

fn args() -> Overrides {
    Overrides::default()
}

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn defaults_run_locally() {
    let config = load(&args(), env(&[])).unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(config.kafka.brokers, vec!["127.0.0.1:9092"]);
    assert_eq!(
        config.topics.all(),
        ["user.events", "user.notifications", "user.analytics"]
    );
}

#[test]
fn file_then_env_then_flags() {
    let f = file(
        "[kafka]\nbrokers = [\"a:1\"]\nclient_id = \"x\"\n[http]\nlisten = \"127.0.0.1:1\"\n[topics]\npartitions = 7\n",
    );
    let mut a = args();
    a.config = Some(f.path().to_owned());
    let from_file = load(&a, env(&[])).unwrap();
    assert_eq!(from_file.kafka.brokers, vec!["a:1"]);
    assert_eq!(from_file.topics.partitions, 7);

    let vars = env(&[
        ("USERCENTER_KAFKA_BROKERS", "b:2, c:3"),
        ("USERCENTER_TOPICS_PARTITIONS", "5"),
        ("USERCENTER_LOG_FORMAT", "json"),
        ("USERCENTER_CACHE", "/ignored"),
    ]);
    let from_env = load(&a, vars.clone()).unwrap();
    assert_eq!(from_env.kafka.brokers, vec!["b:2", "c:3"]);
    assert_eq!(from_env.kafka.client_id, "x");
    assert_eq!(from_env.topics.partitions, 5);
    assert_eq!(from_env.log.format, LogFormat::Json);

    a.brokers = Some(vec!["d:4".into()]);
    a.listen = Some("127.0.0.1:9".into());
    a.data_dir = Some("/tmp/dd".into());
    let from_flags = load(&a, vars).unwrap();
    assert_eq!(from_flags.kafka.brokers, vec!["d:4"]);
    assert_eq!(from_flags.http.listen.port(), 9);
    assert_eq!(
        from_flags.store.data_dir,
        std::path::PathBuf::from("/tmp/dd")
    );
}

fn error_line(text: &str) -> String {
    let f = file(text);
    let mut a = args();
    a.config = Some(f.path().to_owned());
    let err = load(&a, env(&[])).unwrap_err().to_string();
    assert!(!err.contains('\n'), "error must be one line: {err:?}");
    err
}

#[test]
fn unknown_field_is_named() {
    let err = error_line("[kafka]\nbrokerz = [\"a:1\"]\n");
    assert!(err.contains("kafka") && err.contains("brokerz"), "{err}");
    let err = error_line("[nonsense]\nx = 1\n");
    assert!(err.contains("nonsense"), "{err}");
}

#[test]
fn bad_broker_address_is_named() {
    for bad in [
        "localhost",
        "host:",
        "host:0",
        "host:99999",
        ":9092",
        "a b:1",
    ] {
        let err = error_line(&format!("[kafka]\nbrokers = [\"ok:1\", \"{bad}\"]\n"));
        assert!(err.starts_with("kafka.brokers[1]:"), "{bad}: {err}");
    }
    let mut a = args();
    a.brokers = Some(vec!["nope".into()]);
    let err = load(&a, env(&[])).unwrap_err().to_string();
    assert!(err.starts_with("kafka.brokers[0]:"), "{err}");
    assert!(check_broker("[::1]:9092").is_ok());
    assert!(check_broker("::1:9092").is_err());
}

#[test]
fn wrong_types_and_values_are_named() {
    let err = error_line("[http]\nlisten = \"nowhere\"\n");
    assert!(err.starts_with("http.listen:"), "{err}");
    let err = error_line("[topics]\npartitions = \"three\"\n");
    assert!(err.starts_with("topics.partitions:"), "{err}");
    let err = error_line("[topics]\nevents = \"bad topic!\"\n");
    assert!(err.starts_with("topics.events:"), "{err}");
    let err = error_line("[topics]\npartitions = 0\n");
    assert!(err.starts_with("topics.partitions:"), "{err}");
}

#[test]
fn syntax_error_names_file_and_line() {
    let err = error_line("[http]\nlisten = \n");
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn missing_file_is_named() {
    let mut a = args();
    a.config = Some("/definitely/not/here.toml".into());
    let err = load(&a, env(&[])).unwrap_err().to_string();
    assert!(err.contains("/definitely/not/here.toml"), "{err}");
}

#[test]
fn bad_env_value_names_the_variable() {
    let err = load(&args(), env(&[("USERCENTER_TOPICS_PARTITIONS", "many")]))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("USERCENTER_TOPICS_PARTITIONS:"), "{err}");
}

#[test]
fn producer_settings_load_and_validate() {
    let err = error_line("[producer]\ncompression = \"brotli\"\n");
    assert!(err.starts_with("producer.compression:"), "{err}");
    let err = error_line("[producer]\nlinger_ms = -1\n");
    assert!(err.starts_with("producer.linger_ms:"), "{err}");
    let err = error_line("[producer]\nbuffer_bytes = 0\n");
    assert!(err.starts_with("producer.buffer_bytes:"), "{err}");
    let err = error_line("[producer]\nmax_message_bytes = 3000000000\n");
    assert_eq!(err, "producer.max_message_bytes: must be at most 67108864");
    let config = load(&args(), env(&[("USERCENTER_PRODUCER_COMPRESSION", "zstd")])).unwrap();
    assert_eq!(config.producer.compression, crate::producer::Codec::Zstd);
}

#[test]
fn parser_messages_spanning_lines_become_one_line() {
    // The TOML parser's message for these spans several lines.
    for text in [
        "[http\nlisten = 1\n",
        "a = \"\u{e9}\n",
        "[[x]]\n[x]\n",
        "é = 1 = 2",
    ] {
        let err = error_line(text);
        assert!(err.contains("line "), "{err}");
    }
}

#[test]
fn kafka_security_settings_are_checked() {
    for (text, field) in [
        (
            "[kafka]\nsecurity_protocol = \"tls\"\n",
            "kafka.security_protocol",
        ),
        ("[kafka]\ntls_ca_file = \"ca.pem\"\n", "kafka.tls_ca_file"),
        (
            "[kafka]\nsecurity_protocol = \"ssl\"\ntls_cert_file = \"c.pem\"\n",
            "kafka.tls_cert_file",
        ),
        (
            "[kafka]\nsecurity_protocol = \"sasl_ssl\"\n",
            "kafka.sasl_mechanism",
        ),
        (
            "[kafka]\nsecurity_protocol = \"sasl_plaintext\"\nsasl_mechanism = \"PLAIN\"\nsasl_username = \"u\"\n",
            "kafka.sasl_password",
        ),
        (
            "[kafka]\nsecurity_protocol = \"sasl_plaintext\"\nsasl_mechanism = \"GSSAPI\"\nsasl_username = \"u\"\nsasl_password = \"p\"\n",
            "kafka.sasl_mechanism",
        ),
        ("[kafka]\nsasl_username = \"u\"\n", "kafka.sasl_username"),
        (
            "[kafka]\nsecurity_protocol = \"sasl_ssl\"\nsasl_mechanism = \"PLAIN\"\nsasl_username = \"u\"\nsasl_password = \"\"\n",
            "kafka.sasl_password: must not be empty",
        ),
        (
            "[kafka]\nsecurity_protocol = \"sasl_ssl\"\nsasl_mechanism = \"PLAIN\"\nsasl_username = \"a\\u0000b\"\nsasl_password = \"p\"\n",
            "kafka.sasl_username: must not contain a NUL character",
        ),
    ] {
        let err = error_line(text);
        assert!(err.starts_with(field), "{text}: {err}");
    }
    let ok = from_toml(
        "[kafka]\nsecurity_protocol = \"sasl_ssl\"\nsasl_mechanism = \"SCRAM-SHA-256\"\nsasl_username = \"u\"\nsasl_password = \"p\"\n",
    )
    .unwrap();
    assert!(ok.kafka.security_protocol.tls() && ok.kafka.security_protocol.sasl());
}

#[test]
fn secrets_stay_out_of_errors_debug_and_printing() {
    for text in [
        "[kafka]\nsasl_password = 123456789\n",
        "[auth]\nadmin_password = 123456789\n",
    ] {
        let err = error_line(text);
        assert!(!err.contains("123456789"), "{err}");
        assert!(err.ends_with("_password: must be a string"), "{err}");
    }
    let config = from_toml(
        "[kafka]\nsecurity_protocol = \"SASL_SSL\"\nsasl_mechanism = \"PLAIN\"\nsasl_username = \"u\"\nsasl_password = \"hunter2\"\n[auth]\nadmin_username = \"a\"\nadmin_email = \"a@example.com\"\nadmin_password = \"hunter3\"\n[store]\nbackend = \"postgres\"\nurl = \"postgres://u:hunter4@db/app\"\n",
    )
    .unwrap();
    assert_eq!(
        config.kafka.security_protocol,
        crate::config::SecurityProtocol::SaslSsl
    );
    let debug = format!("{config:?}");
    let printed = toml::to_string(&config.redacted()).unwrap();
    for shown in [&debug, &printed] {
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3") && !shown.contains("hunter4"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}

mod database_url;
mod env;

#[test]
fn hashing_threads_come_from_the_environment_and_are_bounded() {
    let config = load(&args(), env(&[("USERCENTER_AUTH_HASHING_THREADS", "1")])).unwrap();
    assert_eq!(config.auth.hashing_threads, 1);
    assert_eq!(Config::default().auth.hashing_threads, 0, "one per CPU");
    let err = error_line("[auth]\nhashing_threads = 257\n");
    assert!(err.contains("auth.hashing_threads: must be 0"), "{err}");
    let config = load(&args(), env(&[("USERCENTER_AUTH_MAX_PENDING_HASHES", "9")])).unwrap();
    assert_eq!(config.auth.max_pending_hashes, 9);
    let err = error_line("[auth]\nmax_pending_hashes = 449\n");
    assert!(err.contains("auth.max_pending_hashes: must be 0"), "{err}");
    let var = ("USERCENTER_AUTH_MAX_PENDING_HASHES_PER_CLIENT", "3");
    let config = load(&args(), env(&[var])).unwrap();
    assert_eq!(config.auth.max_pending_hashes_per_client, 3);
    let err = error_line("[auth]\nmax_pending_hashes_per_client = 449\n");
    assert!(
        err.contains("auth.max_pending_hashes_per_client: must be 0"),
        "{err}"
    );
}

#[test]
fn zero_limits_and_windows_are_refused() {
    for (text, field) in [
        ("[auth]\nlogin_window_secs = 0\n", "auth.login_window_secs"),
        ("[auth]\nthrottle_max_keys = 0\n", "auth.throttle_max_keys"),
        (
            "[auth]\nlogin_failures_per_account = 0\n",
            "auth.login_failures_per_account",
        ),
        (
            "[auth]\nlogin_failures_per_source = 0\n",
            "auth.login_failures_per_source",
        ),
        (
            "[auth]\nlogin_failures_per_ip = 0\n",
            "auth.login_failures_per_ip",
        ),
        (
            "[auth]\nmax_sessions_per_user = 0\n",
            "auth.max_sessions_per_user",
        ),
        (
            "[auth]\nsession_prune_secs = 0\n",
            "auth.session_prune_secs",
        ),
        (
            "[http]\nmax_connections_per_client = 0\n",
            "http.max_connections_per_client",
        ),
        ("[http]\nready_max_backlog = 0\n", "http.ready_max_backlog"),
        ("[store]\npool_size = 0\n", "store.pool_size"),
    ] {
        let err = error_line(text);
        assert!(
            err.ends_with(&format!("{field}: must be at least 1")),
            "{err}"
        );
    }
}

/// Values past what a limit or a timer can mean would panic where they are used (Tokio's
/// semaphore, a timer's deadline), or, for the delivery deadline, fail records that a slow
/// broker would have taken.
#[test]
fn limits_and_periods_past_their_use_are_refused() {
    for (text, field) in [
        (
            "[http]\nmax_connections = 4000000000\n",
            "http.max_connections",
        ),
        (
            "[http]\nmax_connections_per_client = 1000001\n",
            "http.max_connections_per_client",
        ),
        ("[store]\npool_size = 1025\n", "store.pool_size"),
        (
            "[kafka]\nconnect_timeout_secs = 9223372036854775807\n",
            "kafka.connect_timeout_secs",
        ),
        (
            "[auth]\nsession_prune_secs = 604801\n",
            "auth.session_prune_secs",
        ),
        (
            "[auth]\nlogin_window_secs = 9223372036854775807\n",
            "auth.login_window_secs",
        ),
        (
            "[consumer]\nmetadata_refresh_secs = 86401\n",
            "consumer.metadata_refresh_secs",
        ),
        (
            "[consumer]\nprune_interval_secs = 604801\n",
            "consumer.prune_interval_secs",
        ),
        (
            "[consumer]\ndedupe_horizon_secs = 9223372036854775807\n",
            "consumer.dedupe_horizon_secs",
        ),
        (
            "[producer]\ndelivery_timeout_ms = 29999\n",
            "producer.delivery_timeout_ms",
        ),
        (
            "[producer]\ndelivery_timeout_ms = 40000\nlinger_ms = 10001\n",
            "producer.delivery_timeout_ms",
        ),
    ] {
        let err = error_line(text);
        assert!(err.contains(&format!("{field}: must be")), "{text}: {err}");
    }
    // At the bounds: taken.
    for text in [
        "[http]\nmax_connections = 1000000\n",
        "[auth]\nsession_prune_secs = 604800\n",
        "[producer]\ndelivery_timeout_ms = 40000\nlinger_ms = 10000\n",
    ] {
        let f = file(text);
        let mut a = args();
        a.config = Some(f.path().to_owned());
        let loaded = load(&a, env(&[]));
        assert!(loaded.is_ok(), "{text}: {:?}", loaded.err());
    }
}

#[test]
fn the_four_topics_need_four_names() {
    let err = error_line("[consumer]\ndlq_topic = \"user.events\"\n");
    assert!(
        err.contains("consumer.dlq_topic: `user.events` is already topics.events"),
        "{err}"
    );
    let err = error_line("[topics]\nanalytics = \"user.notifications\"\n");
    assert!(
        err.contains("topics.analytics: `user.notifications` is already topics.notifications"),
        "{err}"
    );
}

/// `http.trusted_proxies` takes ranges and single addresses, from the file or a comma list in
/// the environment; anything else is named by its place in the list.
#[test]
fn trusted_proxies_are_ranges_or_addresses() {
    let config = load(
        &args(),
        env(&[(
            "USERCENTER_HTTP_TRUSTED_PROXIES",
            "10.0.0.0/8, 192.0.2.7, fd00::/8, ::ffff:198.51.100.0/120",
        )]),
    )
    .unwrap();
    let ranges: Vec<String> = config
        .http
        .trusted_proxy_ranges()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        ranges,
        ["10.0.0.0/8", "192.0.2.7/32", "fd00::/8", "198.51.100.0/24"]
    );
    let err = error_line("[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"proxy.local\"]\n");
    assert!(
        err.contains("http.trusted_proxies[1]: `proxy.local` is not an address"),
        "{err}"
    );
}

/// A database URL with the default redb backend is refused: each instance would keep its users
/// in a file of its own and start as if nothing were wrong.
#[test]
fn a_store_url_without_the_postgres_backend_is_refused() {
    let err = error_line("[store]\nurl = \"postgres://u@db/x\"\n");
    assert!(
        err.contains("store.url: is set, but store.backend is redb"),
        "{err}"
    );
    let err = error_line("[store]\nbackend = \"postgres\"\n");
    assert!(
        err.contains("store.url: the postgres backend needs"),
        "{err}"
    );
    for url in [
        "postgres://u:hunter5@db:notaport/x",
        "postgres://u:hunter5@db/x?sslmode=bogus",
    ] {
        let err = error_line(&format!(
            "[store]\nbackend = \"postgres\"\nurl = \"{url}\"\n"
        ));
        assert!(
            err.starts_with("store.url: not a usable PostgreSQL URL: "),
            "{err}"
        );
        assert!(!err.contains("hunter5"), "{err}");
    }
    let err = error_line("[store]\ntls_ca_file = \"db-ca.pem\"\n");
    assert!(
        err.contains("store.tls_ca_file: is for the postgres backend"),
        "{err}"
    );
}
