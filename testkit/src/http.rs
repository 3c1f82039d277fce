//! A minimal HTTP/1.1 client for the tests, and the API calls many tests make.
use super::*;

/// A minimal HTTP/1.1 GET-style request; returns the status code and the body.
pub async fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let (status, _, body) = request(addr, method, path, &[], None).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// An HTTP/1.1 request with headers and an optional body; returns status, headers
/// (lower-cased names) and body.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    try_request(addr, method, path, headers, body)
        .await
        .expect("connect and a status line")
}

/// Like [`request`]; `None` when the connection fails or ends without a status line (the
/// server was killed or is not there).
pub async fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Option<(u16, Vec<(String, String)>, Vec<u8>)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.ok()?;
    if let Some(b) = body {
        // The server may answer (413) and close before reading everything.
        let _ = stream.write_all(b).await;
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let body = response.get(split + 4..).unwrap_or_default().to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some((status, headers, body))
}

/// A JSON request; returns status and parsed body (`null` when empty or not JSON).
pub async fn api(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("X-Request-Id", "journey-req"),
    ];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    let bytes = body.map(|b| b.to_string().into_bytes());
    let (status, _, body) = request(addr, method, path, &headers, bytes.as_deref()).await;
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// `POST /api/v1/users/register` of `username` with e-mail `username@example.com`; returns
/// status and body.
pub async fn register(
    addr: SocketAddr,
    username: &str,
    password: &str,
) -> (u16, serde_json::Value) {
    let body = serde_json::json!({
        "username": username, "email": format!("{username}@example.com"), "password": password
    });
    api(addr, "POST", "/api/v1/users/register", None, Some(body)).await
}

/// Registers `username` (see [`register`]), checks the answer is 201 and returns the user id.
pub async fn registered(addr: SocketAddr, username: &str) -> String {
    let (status, body) = register(addr, username, "correct horse battery").await;
    assert_eq!(status, 201, "registering {username}: {body}");
    body["user"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no user id in {body}"))
        .to_owned()
}

/// `POST /api/v1/users/login` with `credentials` (`username` or `email`, and `password`);
/// returns status and body.
pub async fn login(addr: SocketAddr, credentials: serde_json::Value) -> (u16, serde_json::Value) {
    api(addr, "POST", "/api/v1/users/login", None, Some(credentials)).await
}

/// The sum of the samples of metric `name` on the `/metrics` of the service at `addr` (every
/// label set); `None` when it does not answer within 5 s or has no such metric.
pub async fn metric(addr: SocketAddr, name: &str) -> Option<f64> {
    let get = try_request(addr, "GET", "/metrics", &[], None);
    let (status, _, body) = tokio::time::timeout(Duration::from_secs(5), get)
        .await
        .ok()??;
    if status != 200 {
        return None;
    }
    let text = String::from_utf8_lossy(&body);
    let values: Vec<f64> = text
        .lines()
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            (metric == name).then(|| value.parse().ok())?
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}
