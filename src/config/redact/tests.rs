use super::database_url;

#[test]
fn every_form_of_a_password_is_redacted() {
    for (url, printed) in [
        (
            "postgres://u:hunter2@db:5432/app?sslmode=require",
            "postgres://u:<redacted>@db:5432/app?sslmode=require",
        ),
        // A password holding '@' or ':' (the last '@' ends the user part).
        (
            "postgres://u:hun@ter:2@db/app",
            "postgres://u:<redacted>@db/app",
        ),
        (
            "postgresql://u@db/app?sslmode=require&password=hunter2",
            "postgresql://u@db/app?sslmode=require&password=<redacted>",
        ),
        (
            "postgres://db/app?PASSWORD=hunter2&user=u",
            "postgres://db/app?PASSWORD=<redacted>&user=u",
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
        ("", ""),
    ] {
        assert_eq!(database_url(url), printed, "{url}");
        assert!(!database_url(url).contains("hunter2"), "{url}");
    }
}

#[test]
fn text_that_is_no_known_form_is_not_printed() {
    for url in ["hunter2", "host=db password='hunter2", "password"] {
        assert_eq!(database_url(url), "<redacted>", "{url}");
    }
}
