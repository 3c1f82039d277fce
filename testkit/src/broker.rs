//! A real Nisshi broker per test, on a free loopback port, stopped by its pid.
use super::*;

/// A broker process owned by the test; killed (by its own pid) when dropped.
pub struct Broker {
    child: Option<Child>,
    /// `127.0.0.1:PORT`: where clients connect, and what the broker advertises.
    pub addr: String,
    /// Where the broker listens: `addr`, or another port behind a proxy at `addr`.
    listen: String,
    storage: String,
    workdir: Option<PathBuf>,
    log: tempfile::NamedTempFile,
    /// Extra `nisshi broker` arguments (`--cert`, `--key`, `--authentication`).
    extra: Vec<String>,
    /// How the readiness check connects (TLS and SASL settings; brokers are set here).
    client: usercenter::config::KafkaConfig,
}

impl Broker {
    /// A broker with `memory://` storage.
    pub async fn memory() -> Self {
        Self::start("memory://usercenter/".to_owned(), free_port(), None).await
    }

    /// A broker with `memory://` storage listening on and advertising `ip` (an address of
    /// this host, such as the host end of a [`crate::netns::Netns`] link) on a free port.
    pub async fn memory_on(ip: std::net::IpAddr) -> Self {
        let addr = SocketAddr::new(ip, free_port()).to_string();
        Self::behind_proxy(&addr, &addr, usercenter::config::KafkaConfig::default()).await
    }

    /// A broker with `sqlite://` storage in `file`, which survives [`Broker::restart`].
    /// (Nisshi resolves the file relative to its working directory.)
    pub async fn sqlite(file: &Path) -> Self {
        let (storage, dir) = sqlite_storage(file);
        Self::start(storage, free_port(), Some(dir)).await
    }

    /// A `sqlite://` broker in `file` listening on `listen` while it advertises `addr`, where
    /// a proxy in front of it listens.
    pub async fn sqlite_behind_proxy(file: &Path, listen: &str, addr: &str) -> Self {
        let (storage, dir) = sqlite_storage(file);
        let mut broker = Self::new(storage, addr.to_owned(), Some(dir));
        broker.listen = listen.to_owned();
        broker.spawn().await;
        broker
    }

    /// A `memory://` broker listening on `listen` while it advertises `addr`, where a proxy in
    /// front of it listens; the readiness check connects to `addr` as `client` says.
    pub async fn behind_proxy(
        listen: &str,
        addr: &str,
        client: usercenter::config::KafkaConfig,
    ) -> Self {
        let mut broker = Self::new("memory://usercenter/".to_owned(), addr.to_owned(), None);
        broker.listen = listen.to_owned();
        broker.client = client;
        broker.spawn().await;
        broker
    }

    async fn start(storage: String, port: u16, workdir: Option<PathBuf>) -> Self {
        let mut broker = Self::new(storage, format!("127.0.0.1:{port}"), workdir);
        broker.spawn().await;
        broker
    }

    fn new(storage: String, addr: String, workdir: Option<PathBuf>) -> Self {
        let log = tempfile::NamedTempFile::new().expect("broker log file");
        Self {
            child: None,
            listen: addr.clone(),
            addr,
            storage,
            workdir,
            log,
            extra: Vec::new(),
            client: usercenter::config::KafkaConfig::default(),
        }
    }

    async fn spawn(&mut self) {
        let listen = format!("tcp://{}", self.listen);
        let url = format!("tcp://{}", self.addr);
        let out = self.log.reopen().expect("broker log");
        let err = self.log.reopen().expect("broker log");
        let mut command = Command::new(nisshi_bin());
        if let Some(dir) = &self.workdir {
            command.current_dir(dir);
        }
        let child = command
            .args([
                "broker",
                "--listener-url",
                &listen,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", &self.storage])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start nisshi");
        self.child = Some(child);
        self.wait_ready().await;
    }

    /// Waits until it answers a metadata request, within 30 s ([`crate::process_wait::wait_until`]):
    /// it fails at once when the broker exited (one that could not bind its port exits, and
    /// another test's broker may answer on that port meanwhile).
    async fn wait_ready(&mut self) {
        let what = format!("broker on {} answering", self.addr);
        let (addr, client) = (self.addr.clone(), self.client.clone());
        let times = (Duration::from_secs(30), Duration::from_secs(2));
        crate::process_wait::wait_until(self, &what, times, || answers(&addr, &client)).await;
    }

    /// The broker process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The last lines of the broker's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// The lines of the broker's log that contain `needle`, without their colour codes.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        text.lines()
            .map(without_colours)
            .filter(|line| line.contains(needle))
            .collect()
    }

    /// Stops the broker process (SIGKILL of its own pid).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same address and storage.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }

    /// Starts the broker again on the same address and storage with extra `nisshi broker`
    /// arguments (`--cert`, `--key`, `--authentication`); `client` says how the readiness
    /// check connects (its brokers are replaced by this broker's address).
    pub async fn restart_with(&mut self, extra: &[&str], client: usercenter::config::KafkaConfig) {
        self.stop();
        self.extra = extra.iter().map(|a| (*a).to_owned()).collect();
        self.client = client;
        self.spawn().await;
    }
}

/// `line` without the ANSI colour sequences (`ESC [ ... m`) Nisshi writes to its log.
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

/// The `--storage-engine` of a sqlite broker in `file`, and the directory to run it in
/// (Nisshi resolves the file relative to its working directory).
fn sqlite_storage(file: &Path) -> (String, PathBuf) {
    let name = file.file_name().expect("a file name").to_string_lossy();
    let dir = file.parent().expect("a directory").to_owned();
    (format!("sqlite://{name}"), dir)
}

impl crate::process_wait::Watched for Broker {
    fn fail_if_exited(&mut self) {
        if let Some(status) = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
        {
            panic!("broker exited with {status}:\n{}", self.log_tail());
        }
    }

    fn give_up(&mut self) -> String {
        self.log_tail()
    }
}

/// Whether the broker at `addr` answers a metadata request, with the client settings it was
/// started for (`client`: TLS, SASL).
async fn answers(addr: &str, client: &usercenter::config::KafkaConfig) -> bool {
    let config = usercenter::config::KafkaConfig {
        brokers: vec![addr.to_owned()],
        connect_timeout_secs: 1,
        ..client.clone()
    };
    let Ok(settings) = config.connect_settings() else {
        return false;
    };
    let client = usercenter::kafka::Client::new(config.brokers, settings);
    client.refresh(None).await.is_ok()
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}
