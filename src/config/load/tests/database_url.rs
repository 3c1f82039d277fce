//! `store.url` read as tokio-postgres reads it, before anything connects.
use super::*;

/// Whether the configuration `text` loads, validated (its error when not).
fn loads(text: &str) -> Result<(), String> {
    let f = file(text);
    let mut a = args();
    a.config = Some(f.path().to_owned());
    load(&a, env(&[])).map(drop).map_err(|e| e.to_string())
}

/// The postgres backend with `url`, and `extra` lines of `[store]`.
fn postgres(url: &str, extra: &str) -> String {
    format!("[store]\nbackend = \"postgres\"\nurl = \"{url}\"\n{extra}")
}

/// A password holding an unescaped '@' is read as part of the host: refused, naming the field
/// and how to write it, not the password. Percent-encoded (in the password or the user), and
/// with a socket directory's path as the host, the URL is taken.
#[test]
fn a_password_with_an_unescaped_at_sign_is_refused() {
    let err = error_line(&postgres("postgres://app:p@ssw0rd@db:5432/users", ""));
    assert!(err.starts_with("store.url: its host holds '@'"), "{err}");
    assert!(err.contains("%40") && !err.contains("ssw0rd"), "{err}");
    for url in [
        "postgres://app:p%40ssw0rd@db:5432/users",
        // A user that is an e-mail address (Cloud SQL's IAM users), percent-encoded.
        "postgres://alice%40example.com:pw@db:5432/users",
        "postgresql:///users?host=/var/run/postgresql",
    ] {
        assert_eq!(loads(&postgres(url, "")), Ok(()), "{url}");
    }
}

/// A CA file says TLS is wanted; `sslmode=disable` says none: refused rather than run in
/// plain text with a warning.
#[test]
fn a_ca_file_with_sslmode_disable_is_refused() {
    let ca = "tls_ca_file = \"db-ca.pem\"\n";
    let err = error_line(&postgres("postgres://u@db/x?sslmode=disable", ca));
    assert!(
        err.starts_with("store.tls_ca_file: is set, but store.url says sslmode=disable"),
        "{err}"
    );
    assert_eq!(
        loads(&postgres("postgres://u@db/x?sslmode=require", ca)),
        Ok(())
    );
}
