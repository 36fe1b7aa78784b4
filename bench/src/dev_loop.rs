//! The app developer's loop, timed: `nexus app dev` in a new Python app (`nexus app new --lang
//! python`, no build step of its own) from start to the first successful query of the app's
//! field through the router, and from saving an edit of its schema to the new field answering.
//! Each figure is also given against a reference that does not change with Nexus's code: the
//! app's own server started alone until it answers (its interpreter and libraries loading), so
//! runs on machines of other speeds compare. Loopback only; every wait is bounded.
//!
//! `cargo build --release -p nexus -p nexus-bench && target/release/dev-loop --edits 10`

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Parser)]
#[command(about = "Times nexus app dev: start to first query, edit to served (loopback only)")]
struct Args {
    /// The `nexus` binary (default: beside this one).
    #[arg(long)]
    nexus: Option<PathBuf>,
    /// Starts of `nexus app dev` to time (each on a fresh app directory).
    #[arg(long, default_value_t = 3)]
    starts: usize,
    /// Edits to time in the last start.
    #[arg(long, default_value_t = 10)]
    edits: usize,
}

const LIMIT: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let nexus = match args.nexus {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .context("no directory")?
            .join("nexus"),
    };
    let mut reference = Vec::new();
    let mut first_query = Vec::new();
    let mut edit_served = Vec::new();
    for start in 0..args.starts {
        let parent = tempfile::tempdir()?;
        let project = nexus::app_kit::new::create(
            "bench-crm",
            nexus::app_kit::new::Lang::Python,
            parent.path(),
        )?;
        reference.push(app_alone(&project).await?);
        let (mut dev, took, graph, token) = start_dev(&nexus, &project).await?;
        first_query.push(took);
        if start + 1 == args.starts {
            let app_py = project.join("app.py");
            let original = std::fs::read_to_string(&app_py)?;
            for n in 0..args.edits {
                let edited = original.replace(
                    "@strawberry.type\nclass Mutation:",
                    &format!(
                        "    @strawberry.field(name=\"benchcrmPing\")\n    def ping(self) -> str:\n        return \"pong {n}\"\n\n\n@strawberry.type\nclass Mutation:"
                    ),
                );
                if edited == original {
                    bail!("the Python template changed: fix this benchmark's edit");
                }
                let saved = Instant::now();
                std::fs::write(&app_py, edited)?;
                let expected = json!(format!("pong {n}"));
                until(LIMIT, || async {
                    let body = query(&graph, &token, "{ benchcrmPing }").await;
                    body["data"]["benchcrmPing"] == expected
                })
                .await
                .with_context(|| format!("edit {n} was not served"))?;
                edit_served.push(saved.elapsed());
            }
        }
        interrupt(&mut dev).await;
    }
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let report = |name: &str, samples: &mut Vec<Duration>, reference: f64| {
        samples.sort();
        let p50 = ms(&samples[samples.len() / 2]);
        let max = ms(samples.last().expect("samples"));
        println!(
            "{name:<34} n={:<3} p50 {p50:>7.0} ms  max {max:>7.0} ms  p50/reference {:>5.1}",
            samples.len(),
            p50 / reference
        );
    };
    reference.sort();
    let reference_ms = ms(&reference[reference.len() / 2]);
    println!("reference: the app's server alone, start to answer: p50 {reference_ms:.0} ms");
    report(
        "start → first query of its field",
        &mut first_query,
        reference_ms,
    );
    report(
        "edit saved → new field served",
        &mut edit_served,
        reference_ms,
    );
    Ok(())
}

/// The app's own server alone: start to its first answer.
async fn app_alone(project: &Path) -> anyhow::Result<Duration> {
    let port = free_port()?;
    let started = Instant::now();
    let mut app = tokio::process::Command::new("python3")
        .args(["-W", "ignore", "app.py"])
        .current_dir(project)
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let url = format!("http://127.0.0.1:{port}/graphql");
    until(LIMIT, || async {
        reqwest::Client::new()
            .post(&url)
            .json(&json!({ "query": "{ _service { sdl } }" }))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await?;
    let took = started.elapsed();
    app.kill().await.ok();
    Ok(took)
}

/// Starts `nexus app dev` in `project`; returns it with the time to the first successful
/// query of the app's field, the graph's URL and the development token.
async fn start_dev(
    nexus: &Path,
    project: &Path,
) -> anyhow::Result<(tokio::process::Child, Duration, String, String)> {
    let started = Instant::now();
    let mut dev = tokio::process::Command::new(nexus)
        .args(["app", "dev", "--listen", "127.0.0.1:0"])
        .current_dir(project)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", nexus.display()))?;
    let mut lines = BufReader::new(dev.stdout.take().context("stdout")?).lines();
    let (mut graph, mut token) = (String::new(), String::new());
    // The URL and token are printed before `ready:`; the query is tried as soon as they are.
    while graph.is_empty() || token.is_empty() {
        let line = tokio::time::timeout(LIMIT, lines.next_line())
            .await
            .context("nexus app dev printed nothing")??
            .context("nexus app dev exited")?;
        if let Some(g) = line.trim().strip_prefix("graph:") {
            graph = g.trim().to_owned();
        }
        if let Some(t) = line.trim().strip_prefix("token:") {
            token = t.trim().to_owned();
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    until(LIMIT, || async {
        query(&graph, &token, "{ benchcrmHello }").await["data"]["benchcrmHello"].is_string()
    })
    .await?;
    Ok((dev, started.elapsed(), graph, token))
}

async fn query(graph: &str, token: &str, query: &str) -> Value {
    let Ok(answer) = reqwest::Client::new()
        .post(graph)
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await
    else {
        return Value::Null;
    };
    answer.json().await.unwrap_or(Value::Null)
}

/// Polls `done` every 10 ms until it holds, for at most `limit`.
async fn until<F, Fut>(limit: Duration, mut done: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !done().await {
        if Instant::now() > deadline {
            bail!("not within {} s", limit.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Ctrl-C, as a developer stops it (it stops the app's server too), then waits for it.
async fn interrupt(dev: &mut tokio::process::Child) {
    if let Some(pid) = dev.id() {
        let _ = std::process::Command::new("kill")
            .args(["-s", "INT", "--", &pid.to_string()])
            .status();
    }
    if tokio::time::timeout(Duration::from_secs(30), dev.wait())
        .await
        .is_err()
    {
        dev.kill().await.ok();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
