//! `nexus` as its own process: a configured command, and `nexus serve` waited for until ready.

use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `nexus --config config`, quiet, killed when dropped.
pub fn nexus(config: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nexus"));
    command
        .arg("--config")
        .arg(config)
        .env_remove("DATABASE_URL")
        .env(
            "RUST_LOG",
            "warn,apollo_router::axum_factory::axum_http_server_factory=error",
        )
        .kill_on_drop(true)
        .stdin(Stdio::null());
    command
}

/// Starts `nexus serve service` and waits for the line starting with `ready`; returns the process
/// and the rest of that line.
pub async fn serve(config: &std::path::Path, service: &str, ready: &str) -> (Child, String) {
    let mut child = nexus(config)
        .args(["serve", service])
        .stdout(Stdio::piped())
        .spawn()
        .expect("nexus serve starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready = ready.to_owned();
    let rest = tokio::time::timeout(Duration::from_secs(120), async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix(&ready) {
                tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                return rest.to_owned();
            }
        }
        panic!("`nexus serve` exited before `{ready}`");
    })
    .await
    .expect("the service starts within 2 minutes");
    (child, rest)
}

/// Runs `command` and fails the test, showing its output, unless it succeeds.
pub fn passes(command: &mut std::process::Command) {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
