//! The app's own server, as `nexus.dev.toml` says to run it: started in its own process group,
//! restarted on changes, stopped with `nexus app dev`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

/// How long the app may take to answer after it is (re)started (a first `cargo run` builds).
const APP_START_PATIENCE: Duration = Duration::from_secs(600);
const POLL: Duration = Duration::from_millis(200);

/// The app's own server, when `nexus.dev.toml` names its command.
pub struct AppProcess {
    dir: PathBuf,
    command: Option<String>,
    port: u16,
    platform: String,
    child: Option<tokio::process::Child>,
}

impl AppProcess {
    pub fn new(dir: &Path, command: Option<String>, port: u16, platform: &str) -> Self {
        AppProcess {
            dir: dir.to_owned(),
            command,
            port,
            platform: platform.to_owned(),
            child: None,
        }
    }

    /// Stops the app's server and starts it again; waits until it answers GraphQL.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        if let Some(command) = &self.command {
            // Whatever already listens there would answer for the app (the server just stopped
            // may take a moment to let the port go).
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpListener::bind(("127.0.0.1", self.port)).is_err() {
                if Instant::now() > deadline {
                    bail!(
                        "port {} is taken (another `nexus app dev`, or the app started by hand?): stop it first",
                        self.port
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            self.child = Some(
                tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(command)
                    .current_dir(&self.dir)
                    .env("PORT", self.port.to_string())
                    .env("NEXUS_URL", &self.platform)
                    .stdin(Stdio::null())
                    .kill_on_drop(true)
                    .process_group(0)
                    .spawn()
                    .with_context(|| format!("starting `{command}`"))?,
            );
        }
        let url = format!("http://127.0.0.1:{}/graphql", self.port);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + APP_START_PATIENCE;
        loop {
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!("the app exited ({status})");
            }
            let answer = http
                .post(&url)
                .json(&json!({ "query": "{ _service { sdl } }" }))
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            if let Ok(answer) = answer
                && answer.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the app does not answer at {url}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The whole process group: `cargo run` and `npm start` start the server as a child.
            if let Some(pid) = child.id() {
                // `--`: without it procps' kill does not read `-PID` as a process group.
                let _ = std::process::Command::new("kill")
                    .args(["-s", "TERM", "--", &format!("-{pid}")])
                    .status();
            }
            if tokio::time::timeout(Duration::from_secs(5), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }
}
