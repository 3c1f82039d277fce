use super::*;

#[test]
fn a_counted_request_shows_under_its_api_name() {
    // The table is the process's and other tests send requests too: compare before and after,
    // on an API nothing else in the unit tests sends.
    let before = sent(ApiKey::DescribeCluster);
    count(ApiKey::DescribeCluster as i16);
    count(ApiKey::DescribeCluster as i16);
    assert_eq!(sent(ApiKey::DescribeCluster), before + 2);

    let mut out = String::new();
    render_kafka_request_metrics(&mut out);
    let line = format!(
        "usercenter_kafka_requests_total{{api=\"DescribeCluster\"}} {}",
        before + 2
    );
    assert!(out.lines().any(|l| l == line), "{line} not in:\n{out}");
    assert!(out.contains("# TYPE usercenter_kafka_requests_total counter"));
}

#[test]
fn an_api_never_sent_has_no_sample() {
    let mut out = String::new();
    render_kafka_request_metrics(&mut out);
    assert_eq!(sent(ApiKey::DescribeQuorum), 0);
    assert!(!out.contains("api=\"DescribeQuorum\""), "{out}");
}

#[test]
fn a_key_outside_the_table_is_ignored_without_a_panic() {
    // A broker-independent key (our own `Call`s' keys are all in the table), but the count
    // must never index out of it.
    count(-1);
    count(i16::MAX);
}
