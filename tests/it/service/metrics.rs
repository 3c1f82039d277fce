//! `/metrics` as a Prometheus server reads it: the running binary is scraped and the text
//! parsed by prometheus_client's exposition-format parser (tests/peer/metrics.py), not by our
//! own string matching. The HTTP, consumer and process families are there with their types and
//! labels, and the request counters move by exactly the requests made.

use std::{
    collections::BTreeMap,
    io::Write,
    net::SocketAddr,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use testkit::{Broker, api, http, register};

/// One parsed family: type and samples as (sample name, labels, value).
#[derive(Debug)]
struct Family {
    kind: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

/// Scrapes `/metrics` and parses it with the real parser; families by name.
async fn scrape(addr: SocketAddr) -> BTreeMap<String, Family> {
    let (status, text) = http(addr, "GET", "/metrics").await;
    assert_eq!(status, 200, "{text}");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peer/metrics.py");
    let mut child = Command::new(testkit::peer_python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the parser");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser rejected the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let families: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    families
        .into_iter()
        .map(|f| {
            let samples = f["samples"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    let labels = s["labels"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                        .collect();
                    let value = s["value"].as_f64().unwrap_or(f64::NAN);
                    (s["name"].as_str().unwrap().to_owned(), labels, value)
                })
                .collect();
            let family = Family {
                kind: f["type"].as_str().unwrap().to_owned(),
                samples,
            };
            (f["name"].as_str().unwrap().to_owned(), family)
        })
        .collect()
}

impl Family {
    /// The value of the sample `name` whose labels include `labels`; 0 when there is none.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map_or(0.0, |(_, _, v)| *v)
    }

    /// The label names of every sample called `name`.
    fn label_names(&self, name: &str) -> Vec<Vec<String>> {
        let names = self.samples.iter().filter(|(n, _, _)| n == name);
        names.map(|(_, l, _)| l.keys().cloned().collect()).collect()
    }
}

fn family<'a>(families: &'a BTreeMap<String, Family>, name: &str, kind: &str) -> &'a Family {
    let f = families
        .get(name)
        .unwrap_or_else(|| panic!("no family {name} in {:?}", families.keys()));
    assert_eq!(f.kind, kind, "type of {name}");
    assert!(!f.samples.is_empty(), "{name} has no samples");
    f
}

const REQUESTS: &str = "usercenter_http_requests_total";
const DURATION: &str = "usercenter_http_request_duration_seconds";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_exposition_and_count_requests() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], testkit::free_port()).into();
    let mut service = testkit::serve_process(&broker.addr, addr, data.path(), "warn");
    service.wait_until_answers(addr, "/ready").await;
    // Up, Kafka reached, and the consumer fetched once from each of the 3 partitions.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let before = loop {
        let families = scrape(addr).await;
        let lag = families.get("usercenter_consumer_lag");
        if lag.is_some_and(|l| l.samples.len() == 3) {
            break families;
        }
        assert!(std::time::Instant::now() < deadline, "no consumer lag");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The requests: one registration, a read of that user, an unknown path.
    let registering = std::time::Instant::now();
    let (status, body) = register(addr, "ada", "correct horse").await;
    assert_eq!(status, 201, "{body}");
    let id = body["user"]["id"].as_str().unwrap();
    let token = body["token"].as_str().unwrap();
    let (status, _) = api(
        addr,
        "GET",
        &format!("/api/v1/users/{id}"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = http(addr, "GET", "/no/such/path").await;
    assert_eq!(status, 404);
    let after = scrape(addr).await;

    // The HTTP families, by route template, method and status; never the raw path.
    let requests = family(&after, "usercenter_http_requests", "counter");
    for labels in requests.label_names(REQUESTS) {
        assert_eq!(labels, ["method", "route", "status"]);
    }
    let moved = |route, method, status| {
        let labels = [("route", route), ("method", method), ("status", status)];
        let b = before
            .get("usercenter_http_requests")
            .map_or(0.0, |f| f.value(REQUESTS, &labels));
        requests.value(REQUESTS, &labels) - b
    };
    assert_eq!(moved("/api/v1/users/register", "POST", "201"), 1.0);
    assert_eq!(moved("/api/v1/users/{id}", "GET", "200"), 1.0);
    assert_eq!(moved("other", "GET", "404"), 1.0);
    // The scrape that produced `before`, counted once it was answered.
    assert!(moved("/metrics", "GET", "200") >= 1.0);
    assert!(
        !requests
            .samples
            .iter()
            .any(|(_, l, _)| l["route"].contains(id)),
        "a raw path as a label: {requests:?}"
    );
    let duration = family(&after, DURATION, "histogram");
    let register = [("route", "/api/v1/users/register"), ("method", "POST")];
    assert_eq!(duration.value(&format!("{DURATION}_count"), &register), 1.0);
    let inf = [register[0], register[1], ("le", "+Inf")];
    assert_eq!(duration.value(&format!("{DURATION}_bucket"), &inf), 1.0);
    assert!(duration.value(&format!("{DURATION}_sum"), &register) > 0.0);
    let in_flight = family(&after, "usercenter_http_requests_in_flight", "gauge");
    assert_eq!(
        in_flight.value("usercenter_http_requests_in_flight", &[]),
        1.0,
        "this scrape"
    );

    // The process families, of the service's own process.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let gauge = |name: &str| family(&after, name, "gauge").value(name, &[]);
    assert!(gauge("process_resident_memory_bytes") > 1e6);
    assert!(gauge("process_open_fds") >= 3.0);
    assert!(gauge("process_max_fds") >= gauge("process_open_fds"));
    let started = gauge("process_start_time_seconds");
    assert!(
        (now - 300.0..=now + 1.0).contains(&started),
        "started at {started}, now {now}"
    );
    let cpu = family(&after, "process_cpu_seconds", "counter");
    assert!(cpu.value("process_cpu_seconds_total", &[]) > 0.0);

    // The build, the consumer and the outbox.
    let build = family(&after, "usercenter_build_info", "gauge");
    assert_eq!(
        build.label_names("usercenter_build_info"),
        [["commit", "target", "version"]]
    );
    let version = [("version", env!("CARGO_PKG_VERSION"))];
    assert_eq!(build.value("usercenter_build_info", &version), 1.0);
    // The Kafka requests by API: by now the consumer has fetched and the metadata was asked.
    let kafka = family(&after, "usercenter_kafka_requests", "counter");
    for labels in kafka.label_names("usercenter_kafka_requests_total") {
        assert_eq!(labels, ["api"]);
    }
    for api in ["Metadata", "Fetch"] {
        let sent = kafka.value("usercenter_kafka_requests_total", &[("api", api)]);
        assert!(sent >= 1.0, "{api}: {sent} requests in {kafka:?}");
    }
    let lag = family(&after, "usercenter_consumer_lag", "gauge");
    for labels in lag.label_names("usercenter_consumer_lag") {
        assert_eq!(labels, ["partition", "topic"]);
    }
    // The outbox: the registration wrote the first row the service ever wrote there, and the
    // relay may or may not have sent it by the scrape. Whatever waits is no older than the
    // registration (a row's age in milliseconds, or from the epoch, would be), and with nothing
    // waiting the age is 0.
    let (backlog, age) = (
        gauge("usercenter_outbox_backlog"),
        gauge("usercenter_outbox_oldest_age_seconds"),
    );
    let since = registering.elapsed().as_secs_f64();
    assert!(
        (0.0..=since + 0.5).contains(&age),
        "oldest outbox row {age} s old, {since:.3} s after the registration (backlog {backlog})"
    );
    if backlog == 0.0 {
        assert_eq!(age, 0.0, "no row waits, yet the oldest is {age} s old");
    }
    // Every sample belongs to a declared family: none the parser had to call "unknown".
    let unknown: Vec<_> = after.iter().filter(|(_, f)| f.kind == "unknown").collect();
    assert!(unknown.is_empty(), "{unknown:?}");

    // Once the consumer has handled the registration (writing the welcome notification and the
    // analytics record to the outbox in the same transaction) and the relay has sent all of it,
    // the outbox is empty and its oldest row 0 s old: checked on one scrape that shows both.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let drained = scrape(addr).await;
        // Absent, or without samples, until the first record is handled.
        let handled: f64 = drained
            .get("usercenter_consumer_records")
            .into_iter()
            .flat_map(|f| &f.samples)
            .filter(|(n, _, _)| n == "usercenter_consumer_records_total")
            .map(|(_, _, v)| v)
            .sum();
        let gauge = |name: &str| family(&drained, name, "gauge").value(name, &[]);
        if handled >= 1.0 && gauge("usercenter_outbox_backlog") == 0.0 {
            assert_eq!(gauge("usercenter_outbox_oldest_age_seconds"), 0.0);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after 30 s waiting for the registration to be handled (records handled: \
             {handled}) and the outbox to drain (backlog {})",
            gauge("usercenter_outbox_backlog")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
