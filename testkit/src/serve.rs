//! `usercenter serve` as a child process of the test, so that a test can SIGKILL, SIGSTOP or
//! SIGTERM it by pid. The process is killed when its [`ServeProcess`] is dropped, also when the
//! test fails first: a service left running would keep reconnecting to its broker's port, where
//! a later test's broker may listen.

use std::{
    net::SocketAddr,
    ops::{Deref, DerefMut},
    path::Path,
    process::{Child, Command, Stdio},
};

use crate::process_wait::{Watched, wait_until_answers};

/// A `usercenter serve` child process, killed (SIGKILL) and reaped when dropped.
pub struct ServeProcess(Child);

impl ServeProcess {
    /// Takes over a spawned child, so that it is killed when the test ends.
    pub fn adopt(child: Child) -> Self {
        Self(child)
    }

    /// Waits until it answers `GET path` on `addr` with 200 ([`wait_until_answers`]): `/health`
    /// once it listens, `/ready` once its store and Kafka are reached. Panics if it exits first.
    pub async fn wait_until_answers(&mut self, addr: SocketAddr, path: &str) {
        wait_until_answers(self, addr, path).await;
    }
}

impl ServeProcess {
    /// Its log, when the test piped it: read to the end, so only once it has exited.
    fn piped_log(&mut self) -> String {
        let mut log = String::new();
        if let Some(mut stderr) = self.0.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut stderr, &mut log);
        }
        log
    }
}

impl Watched for ServeProcess {
    fn fail_if_exited(&mut self) {
        if let Ok(Some(status)) = self.0.try_wait() {
            let log = self.piped_log();
            panic!(
                "usercenter serve (pid {}) exited with {status}\n{log}",
                self.0.id()
            );
        }
    }

    /// Stops it (SIGKILL), so that a piped log ends and can be read.
    fn give_up(&mut self) -> String {
        let pid = self.0.id();
        let _ = self.0.kill();
        let _ = self.0.wait();
        format!(
            "usercenter serve, pid {pid}, still running; stopped, its log:\n{}",
            self.piped_log()
        )
    }
}

impl Deref for ServeProcess {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for ServeProcess {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        // Already reaped when the test waited for it: `kill` then fails, harmlessly.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `usercenter serve` as its own process (so a test can SIGKILL it), logging at `log`.
pub fn serve_process(broker: &str, listen: SocketAddr, data: &Path, log: &str) -> ServeProcess {
    let child = serve_command(broker, listen, data, log)
        .spawn()
        .expect("start usercenter");
    ServeProcess(child)
}

/// The command [`serve_process`] runs, for a test that wants its output (its log goes to
/// stderr, inherited unless the test pipes it).
pub fn serve_command(broker: &str, listen: SocketAddr, data: &Path, log: &str) -> Command {
    let mut command = Command::new(crate::usercenter_bin());
    command
        .args([
            "serve",
            "--brokers",
            broker,
            "--listen",
            &listen.to_string(),
        ])
        .arg("--data-dir")
        .arg(data)
        .env_clear()
        .env("RUST_LOG", log)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::process_wait::wait_until;

    /// A process that never answers is stopped when the wait gives up, and the panic carries
    /// what it wrote to its piped stderr (read to the end only once it has exited).
    #[tokio::test]
    #[should_panic(expected = "started and stuck")]
    async fn a_wait_that_gives_up_shows_the_piped_log() {
        let child = Command::new("sh")
            .args(["-c", "echo started and stuck >&2; exec sleep 60"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sh");
        let mut process = ServeProcess::adopt(child);
        let times = (Duration::from_millis(300), Duration::from_millis(100));
        wait_until(
            &mut process,
            "a process that never answers",
            times,
            || async { false },
        )
        .await;
    }
}
