use super::*;

#[test]
fn finished_requests_are_counted_by_route_method_and_status() {
    let m = HttpMetrics::default();
    let a = m.begin("/api/v1/users/{id}", "GET");
    let b = m.begin("/api/v1/users/{id}", "GET");
    assert_eq!(m.in_flight(), 2);
    a.finish(200);
    b.finish(404);
    m.begin("/api/v1/users/{id}", "GET").finish(200);
    m.begin("other", "BREW").finish(404);
    assert_eq!(m.in_flight(), 0);
    let mut out = String::new();
    m.render(&mut out);
    for line in [
        "usercenter_http_requests_total{route=\"/api/v1/users/{id}\",method=\"GET\",status=\"200\"} 2",
        "usercenter_http_requests_total{route=\"/api/v1/users/{id}\",method=\"GET\",status=\"404\"} 1",
        "usercenter_http_requests_total{route=\"other\",method=\"other\",status=\"404\"} 1",
        "usercenter_http_request_duration_seconds_count{route=\"/api/v1/users/{id}\",method=\"GET\"} 3",
        "usercenter_http_request_duration_seconds_bucket{route=\"other\",method=\"other\",le=\"+Inf\"} 1",
        "usercenter_http_requests_in_flight 0",
    ] {
        assert!(out.contains(&format!("{line}\n")), "{line} in\n{out}");
    }
}

#[test]
fn a_dropped_request_leaves_the_gauge_uncounted() {
    let m = HttpMetrics::default();
    drop(m.begin("/health", "GET"));
    assert_eq!(m.in_flight(), 0);
    assert!(m.requests.lock().is_empty());
    assert!(m.durations.lock().is_empty());
}
