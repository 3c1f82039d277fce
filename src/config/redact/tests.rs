use super::database_url;

#[test]
fn every_form_of_a_password_is_redacted() {
    for (url, printed) in [
        (
            "postgres://u:hunter2@db:5432/app?sslmode=require",
            "postgres://u:<redacted>@db:5432/app?sslmode=require",
        ),
        (
            "postgresql://u@db/app?sslmode=require&password=hunter2",
            "postgresql://u@db/app?sslmode=require&password=<redacted>",
        ),
        (
            "host=db user=u password=hunter2 dbname=app",
            "host=db user=u password=<redacted> dbname=app",
        ),
        (
            "host=db password = 'hun ter\\'2' dbname=app",
            "host=db password = <redacted> dbname=app",
        ),
        (
            "postgres://u:hun/ter2@db/app",
            "postgres://u:<redacted>@db/app",
        ),
        ("postgres://db/app", "postgres://db/app"),
        (
            "postgres://u:hun?ter2@db/app?sslmode=require",
            "postgres://u:<redacted>@db/app?sslmode=require",
        ),
        (
            "host=db password=hun\\ ter2 dbname=app",
            "host=db password=<redacted> dbname=app",
        ),
        // Key-value text whose value holds '://' is not a URL.
        (
            "options='-c x=postgres://y' password=hunter2",
            "options='-c x=postgres://y' password=<redacted>",
        ),
        // What the text's form does not tell apart is printed as tokio-postgres read it: a
        // password holding '@' in a query, a percent-encoded key.
        (
            "postgresql://u@db/app?sslmode=require&password=hun@ter2",
            "host='db' port=5432 user='u' password=<redacted> dbname='app' sslmode=require",
        ),
        (
            "postgres://db/app?pass%77ord=hunter2",
            "host='db' port=5432 password=<redacted> dbname='app' sslmode=prefer",
        ),
        ("", ""),
    ] {
        assert_eq!(database_url(url), printed, "{url}");
        for secret in ["hunter2", "ter2", "ssw0rd"] {
            assert!(!database_url(url).contains(secret), "{url}");
        }
    }
}

#[test]
fn text_that_tokio_postgres_does_not_read_is_not_printed() {
    for url in [
        "hunter2",
        "host=db password='hunter2",
        "password",
        // Not a URL to tokio-postgres: a second '@' in the user part, a leading space.
        "postgres://u:hun@ter:2@db/app",
        " postgres://u:hunter2@db/app",
        // Read with part of the password as the host or the user.
        "postgres://app:p@ssw0rd@db:5432/users",
        "postgres://db/app?password=hun@ter2",
    ] {
        assert_eq!(database_url(url), "<redacted>", "{url}");
    }
}

#[test]
fn a_password_in_a_query_holding_an_at_sign_beside_a_user_part_does_not_show() {
    let shown = database_url("postgres://u:pw@db/app?password=hun@ter2");
    assert!(!shown.contains("hun") && !shown.contains("ter2"), "{shown}");
}
