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

/// A key outside the table (our own `Call`s' keys are all in it) is counted nowhere: not out
/// of the table, and not against an API it would wrap or clamp to. A table of its own, so that
/// no other test's requests are counted beside.
#[test]
fn a_key_outside_the_table_is_counted_nowhere() {
    let table = super::super::per_api::PerApi::new();
    for key in [-1, i16::MIN, 128, 129, 256, i16::MAX] {
        table.add(key, 1);
    }
    assert_eq!(table.counted().count(), 0);
    table.add(ApiKey::Produce as i16, 1);
    assert_eq!(table.counted().collect::<Vec<_>>(), [(ApiKey::Produce, 1)]);
}
