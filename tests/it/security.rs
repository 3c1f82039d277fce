//! TLS and SASL to Kafka against a real Nisshi broker: started with `--cert/--key` (a CA and a
//! broker certificate made here) and with `--authentication` (SCRAM users made with
//! `nisshi user create`). Nisshi does not check client certificates, so for those a TLS proxy
//! made here (rustls, requiring a certificate from the test CA) stands in front of a plaintext
//! Nisshi that advertises the proxy. Nisshi offers SCRAM-SHA-256/512 only, so SASL PLAIN is
//! covered by the unit tests of `kafka::security` alone.

use std::{path::Path, process::Command, time::Duration};

use testkit::{Broker, nisshi_bin, peer};
use usercenter::config::{KafkaConfig, SaslMechanism, SecurityProtocol};

/// A CA and a broker certificate for 127.0.0.1 signed by it, as PEM files in `dir`.
fn certificates(dir: &Path) {
    testkit::certs::write(dir).expect("test certificates");
}

fn tls_args(dir: &Path) -> Vec<String> {
    vec![
        "--cert".to_owned(),
        dir.join("broker.pem").display().to_string(),
        "--key".to_owned(),
        dir.join("broker.key").display().to_string(),
    ]
}

fn kafka(protocol: SecurityProtocol) -> KafkaConfig {
    KafkaConfig {
        security_protocol: protocol,
        connect_timeout_secs: 3,
        ..KafkaConfig::default()
    }
}

fn with_sasl(
    mut config: KafkaConfig,
    mechanism: SaslMechanism,
    user: &str,
    pw: &str,
) -> KafkaConfig {
    config.sasl_mechanism = Some(mechanism);
    config.sasl_username = Some(user.to_owned());
    config.sasl_password = Some(pw.to_owned());
    config
}

/// Connects with `config` to `broker` and lists topics; the error text when that fails.
async fn try_connect(broker: &str, mut config: KafkaConfig) -> Result<(), String> {
    config.brokers = vec![broker.to_owned()];
    let settings = config.connect_settings().map_err(|e| e.to_string())?;
    let client = usercenter::kafka::Client::new(config.brokers.clone(), settings);
    client
        .refresh(None)
        .await
        .map(|_| ())
        .map_err(|e| usercenter::logging::error_chain(&e))
}

/// An rskafka client with `config`'s TLS and SASL: a reader independent of ours.
async fn rskafka_reader(config: &KafkaConfig) -> rskafka::client::Client {
    let mut builder = rskafka::client::ClientBuilder::new(config.brokers.clone());
    if let Some(tls) = config.tls().unwrap() {
        builder = builder.tls_config(tls);
    }
    if let Some(sasl) = config.sasl() {
        builder = builder.sasl_config(sasl);
    }
    builder.build().await.unwrap()
}

/// How long a refused client may take to hear so: the slowest refusal, of a plaintext client by
/// a TLS broker, comes when Nisshi's 10 s TLS handshake timeout closes the connection
/// (nisshi-broker 0.8.1, `TLS_HANDSHAKE_TIMEOUT`).
const REFUSAL_WITHIN: Duration = Duration::from_secs(30);

/// Connects with `config`, which `broker` must refuse: it answers with an error (TLS alert,
/// SASL failure) or closes the connection, and the client fails with that. A client let in, or
/// one that hears nothing before [`REFUSAL_WITHIN`] (a broker that does not answer, which is not
/// a refusal), fails the test. Returns the client's error text.
async fn refused(broker: &str, config: KafkaConfig, who: &str) -> String {
    let started = std::time::Instant::now();
    match tokio::time::timeout(REFUSAL_WITHIN, try_connect(broker, config)).await {
        Err(_) => panic!(
            "{who}: timed out after {REFUSAL_WITHIN:?} without an answer; a refusal is an error \
             answer or a closed connection, not silence"
        ),
        Ok(Ok(())) => panic!("{who}: let in"),
        Ok(Err(err)) => {
            // The client gives up after `connect_timeout_secs`; a time-out there would be
            // silence again, not a refusal.
            assert!(
                !err.to_ascii_lowercase().contains("timed out"),
                "{who}: timed out rather than refused: {err}"
            );
            println!("{who}: refused in {:.2?}: {err}", started.elapsed());
            err
        }
    }
}

/// Starts the service on `broker` with the TLS and SASL settings of `kafka`.
async fn start_secure_service(
    broker: &str,
    data: &Path,
    kafka: &KafkaConfig,
) -> usercenter::service::Running {
    let (service, _) = testkit::start_service(broker, data, |c| {
        c.kafka = KafkaConfig {
            brokers: c.kafka.brokers.clone(),
            ..kafka.clone()
        };
    })
    .await;
    service
}

/// The `user.registered` events the librdkafka peer reads (with `security` flags) for `id`.
fn peer_reads_registration(broker: &str, security: &[&str], id: &str) {
    let mut args: Vec<&str> = security.to_vec();
    args.extend([
        "consume",
        "--topic",
        "user.events",
        "--expect",
        "1",
        "--timeout",
        "30",
    ]);
    let out = peer(broker, &args);
    let records = out["records"].as_array().expect("records");
    let registered = records.iter().any(|r| {
        let kind = r["headers"]["ce_type"].as_str().map(testkit::unhex);
        let key = r["key"].as_str().map(testkit::unhex);
        kind.as_deref() == Some(b"user.registered".as_slice())
            && key.as_deref() == Some(id.as_bytes())
    });
    assert!(registered, "no user.registered for {id} in {records:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_ca_file_end_to_end() {
    let certs = tempfile::tempdir().unwrap();
    certificates(certs.path());
    let ca = certs.path().join("ca.pem");
    let mut tls = kafka(SecurityProtocol::Ssl);
    tls.tls_ca_file = Some(ca.clone());
    let mut broker = Broker::memory().await;
    let args = tls_args(certs.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    broker.restart_with(&args, tls.clone()).await;

    // The broker now speaks TLS only, and its certificate is checked: plain TCP and the
    // compiled-in public roots (which do not hold our test CA) both fail. (Nisshi's TLS
    // acceptor waits for the rest of what it reads as a TLS record from a plaintext client and
    // closes the connection after its handshake timeout.)
    refused(
        &broker.addr,
        kafka(SecurityProtocol::Plaintext),
        "plaintext to a TLS broker",
    )
    .await;
    let err = refused(
        &broker.addr,
        kafka(SecurityProtocol::Ssl),
        "TLS with the public roots only",
    )
    .await;
    assert!(
        err.contains("certificate") || err.contains("Certificate"),
        "{err}"
    );
    try_connect(&broker.addr, tls.clone()).await.unwrap();

    // The whole service over TLS: a registration becomes an event that librdkafka reads over TLS.
    let data = tempfile::tempdir().unwrap();
    let service = start_secure_service(&broker.addr, data.path(), &tls).await;
    let id = testkit::registered(service.local_addr(), "tlsuser").await;
    let ca = ca.display().to_string();
    peer_reads_registration(&broker.addr, &["--ssl-ca", &ca], &id);
    service.stop().await;
}

/// Creates a SCRAM user through the (not yet authenticating) broker.
fn create_user(broker: &str, mechanism: &str, name: &str, password: &str) {
    let out = Command::new(nisshi_bin())
        .args(["user", "create", "--broker", &format!("tcp://{broker}")])
        .args(["--mechanism", mechanism, name, password])
        .output()
        .expect("run nisshi user create");
    assert!(
        out.status.success(),
        "nisshi user create {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_scram_over_tls_end_to_end() {
    let certs = tempfile::tempdir().unwrap();
    certificates(certs.path());
    let ca = certs.path().join("ca.pem");
    let state = tempfile::tempdir().unwrap();
    // Users live in the broker's storage: sqlite, so they survive the restart that turns
    // authentication on.
    let mut broker = Broker::sqlite(&state.path().join("broker.db")).await;
    create_user(&broker.addr, "scram256", "alice", "alice-secret");
    create_user(&broker.addr, "scram512", "bob", "bob-secret");

    let mut tls = kafka(SecurityProtocol::SaslSsl);
    tls.tls_ca_file = Some(ca.clone());
    let bob = with_sasl(tls.clone(), SaslMechanism::ScramSha512, "bob", "bob-secret");
    let mut args = tls_args(certs.path());
    args.push("--authentication".to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    broker.restart_with(&args, bob.clone()).await;

    let alice = with_sasl(
        tls.clone(),
        SaslMechanism::ScramSha256,
        "alice",
        "alice-secret",
    );
    try_connect(&broker.addr, alice).await.unwrap();
    let wrong = with_sasl(tls.clone(), SaslMechanism::ScramSha512, "bob", "not-it");
    refused(&broker.addr, wrong, "bob with a wrong password").await;
    // TLS without SASL is refused by an authenticating broker: Nisshi closes the connection
    // on a request before authentication (nisshi-service 0.8.1, src/frame.rs, "request before
    // authentication").
    let mut anonymous = kafka(SecurityProtocol::Ssl);
    anonymous.tls_ca_file = Some(ca.clone());
    refused(&broker.addr, anonymous, "TLS without SASL").await;

    let data = tempfile::tempdir().unwrap();
    let service = start_secure_service(&broker.addr, data.path(), &bob).await;
    let id = testkit::registered(service.local_addr(), "sasluser").await;
    let ca = ca.display().to_string();
    peer_reads_registration(
        &broker.addr,
        &["--ssl-ca", &ca, "--sasl", "SCRAM-SHA-512:bob:bob-secret"],
        &id,
    );
    service.stop().await;
}

/// A TLS proxy in front of a plaintext broker at `origin` that, unlike Nisshi, requires a client
/// certificate signed by the CA in `certs`; each accepted connection is copied to `origin`.
/// Returns the proxy's address.
async fn client_verifying_proxy(certs: &Path, origin: String) -> String {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(certs.join("ca.pem")).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        std::sync::Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let chain = CertificateDer::pem_file_iter(certs.join("broker.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(certs.join("broker.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (acceptor, origin) = (acceptor.clone(), origin.clone());
            tokio::spawn(async move {
                // A client without a certificate from the CA fails the handshake here.
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(&origin).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_end_to_end() {
    let certs = tempfile::tempdir().unwrap();
    certificates(certs.path());
    let mut tls = kafka(SecurityProtocol::Ssl);
    tls.tls_ca_file = Some(certs.path().join("ca.pem"));
    let mut with_cert = tls.clone();
    with_cert.tls_cert_file = Some(certs.path().join("client.pem"));
    with_cert.tls_key_file = Some(certs.path().join("client.key"));

    let origin = format!("127.0.0.1:{}", testkit::free_port());
    let proxy = client_verifying_proxy(certs.path(), origin.clone()).await;
    let broker = Broker::behind_proxy(&origin, &proxy, with_cert.clone()).await;

    // Without a client certificate the handshake is refused (the proxy's TLS alert, then the
    // closed connection); with one, the service works.
    refused(&broker.addr, tls, "a client without a certificate").await;
    let data = tempfile::tempdir().unwrap();
    let service = start_secure_service(&broker.addr, data.path(), &with_cert).await;
    let id = testkit::registered(service.local_addr(), "certuser").await;
    // Read back through the proxy with our own client (librdkafka would need the client
    // certificate too; the proxy is the only way in, since the broker advertises it).
    let mut reader = with_cert.clone();
    reader.brokers = vec![broker.addr.clone()];
    let client = rskafka_reader(&reader).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut found = false;
        for partition in 0..3 {
            let records = testkit::read_partition(&client, "user.events", partition).await;
            found |= records
                .iter()
                .any(|r| r.record.key.as_deref() == Some(id.as_bytes()));
        }
        if found {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no event keyed {id} on user.events after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    service.stop().await;
}
