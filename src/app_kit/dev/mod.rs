//! `nexus app dev`, in an app's directory: the whole platform in this process on the embedded
//! database under `.nexus/` (or a `nexus dev` already running on this machine, `--platform`), a
//! development identity (a developer, owner of an organization of theirs), the app's own server
//! started from `nexus.dev.toml`, the app submitted and approved through the same checks review
//! runs (extension policy, composition), installed, and served; its webhook deliveries printed as
//! they happen. Then it watches the app's files: a burst of changes restarts the app once and
//! submits its SDL again; a refused version prints each problem with its rule's code (and where
//! the field is written) and the last good version keeps serving. It changes nothing on a
//! platform that is not a development one.

mod app_process;
pub mod deliveries;
pub mod platform;
mod watch;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, anyhow};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use self::app_process::AppProcess;
use self::platform::{Platform, Session};
use crate::config::Config;
use crate::stack::Stack;

/// How an app is run and watched in development (`nexus.dev.toml`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevFile {
    /// The command that serves the app (run with `sh -c`, `PORT` and `NEXUS_URL` set).
    command: Option<String>,
    /// Files and directories whose changes reload the app.
    #[serde(default)]
    watch: Vec<String>,
}

/// Which platform serves the app.
pub enum Target {
    /// A new one in this process, its graph at this address.
    InProcess(SocketAddr),
    /// A `nexus dev` running at this URL.
    Attached(String),
}

const POLL: Duration = Duration::from_millis(200);

/// The app in `dir`: its manifest, namespace and where its server answers.
struct AppDir {
    dir: PathBuf,
    manifest: Value,
    namespace: String,
    subgraph_url: String,
    port: u16,
    dev_file: DevFile,
}

impl AppDir {
    fn read(dir: &Path) -> anyhow::Result<AppDir> {
        let dir = dir
            .canonicalize()
            .with_context(|| format!("no directory {}", dir.display()))?;
        let manifest: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("manifest.json"))
                .with_context(|| format!("no manifest.json in {}", dir.display()))?,
        )
        .context("manifest.json is not JSON")?;
        let namespace = manifest["namespace"]
            .as_str()
            .ok_or_else(|| anyhow!("manifest.json has no namespace"))?
            .to_owned();
        let dev_file: DevFile = match std::fs::read_to_string(dir.join("nexus.dev.toml")) {
            Ok(text) => toml::from_str(&text).context("nexus.dev.toml")?,
            Err(_) => DevFile::default(),
        };
        let subgraph_url = manifest["graphql"]["subgraph_url"]
            .as_str()
            .ok_or_else(|| anyhow!("manifest.json has no graphql.subgraph_url"))?
            .to_owned();
        let port = reqwest::Url::parse(&subgraph_url)
            .ok()
            .and_then(|u| u.port_or_known_default())
            .ok_or_else(|| anyhow!("graphql.subgraph_url has no port: {subgraph_url}"))?;
        Ok(AppDir {
            dir,
            manifest,
            namespace,
            subgraph_url,
            port,
            dev_file,
        })
    }

    fn state(&self) -> PathBuf {
        self.dir.join(".nexus")
    }
}

/// The namespace of the app in `dir` and its `.nexus/` directory.
pub fn app_in(dir: &Path) -> anyhow::Result<(String, PathBuf)> {
    let app = AppDir::read(dir)?;
    Ok((app.namespace.clone(), app.state()))
}

pub async fn run(dir: &Path, target: Target) -> anyhow::Result<()> {
    let app_dir = AppDir::read(dir)?;
    // Deliveries from this run on are printed (the database under `.nexus/` keeps older ones).
    let started = chrono::Utc::now();
    let namespace = app_dir.namespace.clone();
    let state = app_dir.state();
    std::fs::create_dir_all(&state)?;
    let (stack, graph, identity_file) = match target {
        Target::InProcess(listen) => {
            let config = Config {
                data_dir: state.clone(),
                // The app runs on this machine.
                allow_private_apps: true,
                development: true,
                router: crate::config::RouterConfig {
                    listen,
                    ..Default::default()
                },
                ..Config::default()
            };
            let stack = Stack::start(config).await?;
            let graph = stack.graphql_url();
            (Some(stack), graph, "dev.json".to_owned())
        }
        Target::Attached(url) => {
            let base = url.trim_end_matches('/').trim_end_matches("/graphql");
            let place: String = base
                .split("://")
                .last()
                .unwrap_or(base)
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            (None, format!("{base}/graphql"), format!("dev-{place}.json"))
        }
    };
    let platform_url = graph.trim_end_matches("/graphql").to_owned();
    let platform = Arc::new(Platform::connect(&graph, &state, &identity_file, &namespace).await?);

    let mut app = AppProcess::new(
        &app_dir.dir,
        app_dir.dev_file.command.clone(),
        app_dir.port,
        &platform_url,
    );
    app.restart().await?;
    let watched: Vec<PathBuf> = app_dir
        .dev_file
        .watch
        .iter()
        .map(|w| app_dir.dir.join(w))
        .collect();
    let mut rounds = Rounds::default();
    let mut live: Option<Session> = None;
    if let Some(app_id) = rounds.publish(&platform, &app_dir, &watched).await? {
        live = Some(go_live(&platform, &app_dir, &state, &app_id).await?);
    }
    let token = platform.token().await?;
    println!("Nexus app dev: {namespace}");
    println!("  graph:   {graph}");
    println!("  token:   {token}");
    println!(
        "  as:      {} (password in .nexus/{identity_file}), organization {}",
        platform.identity.email, platform.identity.organization
    );
    let field = root_field(&app_dir.subgraph_url, &namespace).await;
    println!("  try:     export TOKEN={token}");
    println!(
        "           curl -s {graph} -H 'content-type: application/json' -H \"authorization: Bearer $TOKEN\" -d '{{\"query\":\"{{ {field} }}\"}}'"
    );
    println!("  events:  nexus app webhook trigger app.installed   (any event of the catalogue)");
    let mut following = None;
    if let Some(session) = &live {
        println!("ready: {namespace} served");
        following = Some(deliveries::follow(
            platform.clone(),
            session.app_id.clone(),
            started,
        ));
    }

    let mut seen = watch::snapshot(&watched);
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    // Once stdin is closed (`< /dev/null`, a service manager), only the files are watched.
    let mut stdin_open = true;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let reload = tokio::select! {
            _ = &mut interrupted => break,
            line = stdin.next_line(), if stdin_open => match line {
                Ok(Some(line)) => line.trim() == "r",
                _ => {
                    stdin_open = false;
                    false
                }
            },
            _ = tokio::time::sleep(POLL) => {
                let now = watch::snapshot(&watched);
                if now == seen {
                    false
                } else {
                    // Wait for the burst to end: one reload for twenty saves.
                    seen = watch::settle(&watched, now).await;
                    true
                }
            }
        };
        if !reload {
            continue;
        }
        println!("reloading {namespace}");
        if let Err(e) = app.restart().await {
            println!("refused: the app does not start: {e:#}");
            continue;
        }
        if let Some(app_id) = rounds.publish(&platform, &app_dir, &watched).await? {
            if live.is_none() {
                live = Some(go_live(&platform, &app_dir, &state, &app_id).await?);
                following = Some(deliveries::follow(platform.clone(), app_id, started));
            }
            served(&platform, &app_dir.subgraph_url, &namespace).await;
            println!("ready: {namespace} served");
        }
    }
    println!("shutting down");
    if let Some(following) = following {
        following.abort();
    }
    let _ = std::fs::remove_file(Session::path(&state));
    app.stop().await;
    match stack {
        Some(stack) => stack.shutdown().await,
        None => Ok(()),
    }
}

/// Installs the app just approved for the first time, says where it is served (for `nexus app
/// webhook`) and waits until the graph serves it.
async fn go_live(
    platform: &Platform,
    app_dir: &AppDir,
    state: &Path,
    app_id: &str,
) -> anyhow::Result<Session> {
    let installation_id = platform.install(app_id, &app_dir.manifest).await?;
    let session = Session {
        graph: platform.graph.clone(),
        identity: platform.identity_file.clone(),
        app_id: app_id.to_owned(),
        installation_id,
    };
    std::fs::write(
        Session::path(state),
        serde_json::to_string_pretty(&session)?,
    )?;
    served(platform, &app_dir.subgraph_url, &app_dir.namespace).await;
    Ok(session)
}

/// Development versions: one a submission, named after the manifest's.
#[derive(Default)]
struct Rounds {
    count: u32,
}

impl Rounds {
    /// Submits the app as it is now and approves it; prints every problem (with where the field
    /// is written, when a watched file writes it) and returns `None` when refused.
    async fn publish(
        &mut self,
        platform: &Platform,
        app_dir: &AppDir,
        watched: &[PathBuf],
    ) -> anyhow::Result<Option<String>> {
        self.count += 1;
        let stamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let version = format!(
            "{}-dev.{stamp}.{}",
            app_dir.manifest["version"].as_str().unwrap_or("0.1.0"),
            self.count
        );
        let problems = match platform.publish(&app_dir.manifest, &version).await? {
            Ok(app_id) => return Ok(Some(app_id)),
            Err(problems) => problems,
        };
        println!("refused: version {version}; the last good version keeps serving");
        for p in problems {
            let at = [&p["path"], &p["type"], &p["field"]]
                .iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(".");
            let written = watch::locate(watched, p["field"].as_str().unwrap_or_default())
                .map(|(file, line)| {
                    let file = file.strip_prefix(&app_dir.dir).unwrap_or(&file);
                    format!(" ({}:{line})", file.display())
                })
                .unwrap_or_default();
            println!(
                "  {} {at}{written}: {}",
                p["code"].as_str().unwrap_or("?"),
                p["message"].as_str().unwrap_or("")
            );
        }
        Ok(None)
    }
}

/// The app's fields on the root and core types (`Query.crmHello`) in `sdl`.
fn fields_in(sdl: &str, namespace: &str) -> std::collections::BTreeSet<String> {
    use apollo_compiler::ast::Definition;
    let Ok(document) = apollo_compiler::ast::Document::parse(sdl, "app.graphql") else {
        return Default::default();
    };
    let mut fields = std::collections::BTreeSet::new();
    for definition in &document.definitions {
        let (name, defined) = match definition {
            Definition::ObjectTypeDefinition(t) => (&t.name, &t.fields),
            Definition::ObjectTypeExtension(t) => (&t.name, &t.fields),
            _ => continue,
        };
        if ["Query", "Mutation", "User", "Organization"].contains(&name.as_str()) {
            fields.extend(
                defined
                    .iter()
                    .filter(|f| f.name.starts_with(namespace))
                    .map(|f| format!("{name}.{}", f.name)),
            );
        }
    }
    fields
}

/// Waits until the graph serves the app's fields as its SDL has them now (the router loads a
/// new head a moment after the approval).
async fn served(platform: &Platform, subgraph_url: &str, namespace: &str) {
    let sdl = app_sdl(subgraph_url).await.unwrap_or_default();
    let expected = fields_in(&sdl, namespace);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let answer = platform
            .data("{ __schema { types { name fields { name } } } }", json!({}))
            .await;
        if let Ok(answer) = answer {
            let mut serving = std::collections::BTreeSet::new();
            for ty in answer["__schema"]["types"].as_array().into_iter().flatten() {
                let name = ty["name"].as_str().unwrap_or_default();
                if !["Query", "Mutation", "User", "Organization"].contains(&name) {
                    continue;
                }
                for field in ty["fields"].as_array().into_iter().flatten() {
                    let field = field["name"].as_str().unwrap_or_default();
                    if field.starts_with(namespace) {
                        serving.insert(format!("{name}.{field}"));
                    }
                }
            }
            if serving == expected {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("warning: the graph does not serve {namespace}'s fields as its SDL has them yet");
}

async fn app_sdl(subgraph_url: &str) -> Option<String> {
    let answer: Value = reqwest::Client::new()
        .post(subgraph_url)
        .json(&json!({ "query": "{ _service { sdl } }" }))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    answer["data"]["_service"]["sdl"]
        .as_str()
        .map(str::to_owned)
}

/// A root field of the app without arguments to show a query with (`__typename` if none).
async fn root_field(subgraph_url: &str, namespace: &str) -> String {
    let sdl = app_sdl(subgraph_url).await.unwrap_or_default();
    let query = sdl
        .split("type Query")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .unwrap_or_default();
    query
        .lines()
        .map(str::trim)
        .find_map(|line| {
            let name = line.split(':').next()?.trim();
            (name.starts_with(namespace) && !name.contains('(')).then(|| name.to_owned())
        })
        .unwrap_or_else(|| "__typename".to_owned())
}
