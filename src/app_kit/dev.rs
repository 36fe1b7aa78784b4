//! `nexus app dev`, in an app's directory: the whole platform in this process on the embedded
//! database under `.nexus/`, a development identity (a developer who is also the platform admin,
//! and an organization of theirs), the app's own server started from `nexus.dev.toml`, the app
//! submitted and approved through the same checks review runs (extension policy, composition),
//! installed, and served. Then it watches the app's files: a burst of changes restarts the app
//! once and submits its SDL again; a refused version prints each problem with its rule's code and
//! the last good version keeps serving. It only ever talks to the platform it started.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

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

/// The development identity, kept in `.nexus/dev.json` from the first run on.
#[derive(Serialize, Deserialize)]
struct Identity {
    email: String,
    password: String,
    organization: String,
}

/// A burst of changes is over when nothing changed for this long.
const QUIET: Duration = Duration::from_millis(300);
const POLL: Duration = Duration::from_millis(200);
/// How long the app may take to answer after it is (re)started (a first `cargo run` builds).
const APP_START_PATIENCE: Duration = Duration::from_secs(600);

pub async fn run(dir: &Path, listen: SocketAddr) -> anyhow::Result<()> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("no directory {}", dir.display()))?;
    let manifest_path = dir.join("manifest.json");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(&manifest_path)
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

    let state = dir.join(".nexus");
    std::fs::create_dir_all(&state)?;
    let config = Config {
        data_dir: state.clone(),
        // The app runs on this machine.
        allow_private_apps: true,
        router: crate::config::RouterConfig {
            listen,
            ..Default::default()
        },
        ..Config::default()
    };
    let stack = Stack::start(config).await?;
    let graph = stack.graphql_url();
    let platform = graph.trim_end_matches("/graphql").to_owned();
    let client = Graph {
        http: reqwest::Client::new(),
        url: graph.clone(),
    };
    let (token, identity) = identity(&stack, &client, &state, &namespace).await?;

    let mut app = AppProcess::new(&dir, dev_file.command.clone(), port, &platform);
    app.restart().await?;
    let mut published = None;
    let mut round = 0u32;
    if let Some(app_id) = publish(&client, &token, &manifest, &subgraph_url, &mut round).await? {
        install(&client, &token, &app_id).await?;
        served(&client, &token, &subgraph_url, &namespace).await;
        published = Some(app_id);
    }
    println!("Nexus app dev: {namespace}");
    println!("  graph:   {graph}");
    println!("  token:   {token}");
    println!(
        "  as:      {} (password in .nexus/dev.json), organization {}",
        identity.email, identity.organization
    );
    let field = root_field(&subgraph_url, &namespace).await;
    println!("  try:     export TOKEN={token}");
    println!(
        "           curl -s {graph} -H 'content-type: application/json' -H \"authorization: Bearer $TOKEN\" -d '{{\"query\":\"{{ {field} }}\"}}'"
    );
    if published.is_some() {
        println!("ready: {namespace} served");
    }

    let watched: Vec<PathBuf> = dev_file.watch.iter().map(|w| dir.join(w)).collect();
    let mut seen = snapshot(&watched);
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
                let now = snapshot(&watched);
                if now == seen {
                    false
                } else {
                    // Wait for the burst to end: one reload for twenty saves.
                    seen = settle(&watched, now).await;
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
        if let Some(app_id) = publish(&client, &token, &manifest, &subgraph_url, &mut round).await?
        {
            if published.is_none() {
                install(&client, &token, &app_id).await?;
                published = Some(app_id);
            }
            served(&client, &token, &subgraph_url, &namespace).await;
            println!("ready: {namespace} served");
        }
    }
    println!("shutting down");
    app.stop().await;
    stack.shutdown().await
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
async fn served(graph: &Graph, token: &str, subgraph_url: &str, namespace: &str) {
    let sdl = app_sdl(subgraph_url).await.unwrap_or_default();
    let expected = fields_in(&sdl, namespace);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let answer = graph
            .data(
                Some(token),
                "{ __schema { types { name fields { name } } } }",
                json!({}),
            )
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

/// The GraphQL API of the platform this command started.
struct Graph {
    http: reqwest::Client,
    url: String,
}

impl Graph {
    async fn data(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<Value> {
        let mut call = self
            .http
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            call = call.bearer_auth(token);
        }
        let answer: Value = call.send().await?.json().await?;
        if let Some(error) = answer["errors"].as_array().and_then(|e| e.first()) {
            bail!(
                "{} ({})",
                error["message"].as_str().unwrap_or("error"),
                error["extensions"]["code"].as_str().unwrap_or("")
            );
        }
        Ok(answer["data"].clone())
    }
}

/// Signs the development identity in (creating it on the first run): a developer who is the
/// platform's admin too, acting in an organization of theirs. Returns its access token.
async fn identity(
    stack: &Stack,
    graph: &Graph,
    state: &Path,
    namespace: &str,
) -> anyhow::Result<(String, Identity)> {
    let file = state.join("dev.json");
    let identity = match std::fs::read_to_string(&file) {
        Ok(text) => serde_json::from_str(&text).context(".nexus/dev.json")?,
        Err(_) => {
            let identity = Identity {
                email: format!("dev@{namespace}.localhost"),
                password: uuid::Uuid::new_v4().simple().to_string(),
                organization: format!("{namespace}-dev"),
            };
            graph
                .data(
                    None,
                    "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }",
                    json!({ "input": { "email": identity.email, "password": identity.password, "name": "App developer" } }),
                )
                .await
                .context("creating the development user")?;
            nexus_identity::users::set_platform_admin(&stack.db, &identity.email, true, true)
                .await
                .map_err(|e| anyhow!("{}", e.message))?;
            nexus_protocol::token::write_private_file(
                &file,
                &serde_json::to_string_pretty(&identity)?,
            )?;
            identity
        }
    };
    let log_in = graph
        .data(
            None,
            "mutation($input: LogInInput!) { logIn(input: $input) { accessToken } }",
            json!({ "input": { "email": identity.email, "password": identity.password } }),
        )
        .await
        .context("signing the development user in")?;
    let token = log_in["logIn"]["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let found = graph
        .data(
            Some(&token),
            "query($slug: String) { organization(slug: $slug) { id } }",
            json!({ "slug": identity.organization }),
        )
        .await?;
    let organization = match found["organization"]["id"].as_str() {
        Some(id) => id.to_owned(),
        None => graph
            .data(
                Some(&token),
                "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { id } }",
                json!({ "input": { "name": format!("{namespace} (development)"), "slug": identity.organization } }),
            )
            .await?["createOrganization"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    let switched = graph
        .data(
            Some(&token),
            "mutation($id: ID!) { switchOrganization(id: $id) { accessToken } }",
            json!({ "id": organization }),
        )
        .await?;
    let token = switched["switchOrganization"]["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok((token, identity))
}

/// Submits the app as it is now (a development version of the manifest's, with the URL its
/// server really has) and approves it; prints every problem and returns `None` when refused.
async fn publish(
    graph: &Graph,
    token: &str,
    manifest: &Value,
    subgraph_url: &str,
    round: &mut u32,
) -> anyhow::Result<Option<String>> {
    *round += 1;
    let mut manifest = manifest.clone();
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let version = format!(
        "{}-dev.{stamp}.{round}",
        manifest["version"].as_str().unwrap_or("0.1.0")
    );
    manifest["version"] = json!(version);
    manifest["graphql"]["subgraph_url"] = json!(subgraph_url);
    let submitted = graph
        .data(
            Some(token),
            "mutation($m: JSON!) { submitAppVersion(manifest: $m) { appVersion { id status app { id } } errors { code message path type field } } }",
            json!({ "m": manifest }),
        )
        .await?;
    let result = &submitted["submitAppVersion"];
    let problems = result["errors"].as_array().cloned().unwrap_or_default();
    if result["appVersion"]["status"] != "IN_REVIEW" || !problems.is_empty() {
        println!("refused: version {version}; the last good version keeps serving");
        for p in problems {
            let at = [&p["path"], &p["type"], &p["field"]]
                .iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(".");
            println!(
                "  {} {}: {}",
                p["code"].as_str().unwrap_or("?"),
                at,
                p["message"].as_str().unwrap_or("")
            );
        }
        return Ok(None);
    }
    let version_id = result["appVersion"]["id"].as_str().unwrap_or_default();
    graph
        .data(
            Some(token),
            "mutation($id: ID!) { approveAppVersion(id: $id) { appVersion { status } } }",
            json!({ "id": version_id }),
        )
        .await
        .context("approving the development version")?;
    Ok(result["appVersion"]["app"]["id"]
        .as_str()
        .map(str::to_owned))
}

/// Installs the app in the development organization, unless it is already.
async fn install(graph: &Graph, token: &str, app_id: &str) -> anyhow::Result<()> {
    match graph
        .data(
            Some(token),
            "mutation($app: ID!) { installApp(appId: $app) { id } }",
            json!({ "app": app_id }),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().contains("CONFLICT") => Ok(()),
        Err(e) => Err(e.context("installing the app in the development organization")),
    }
}

/// The app's own server, when `nexus.dev.toml` names its command.
struct AppProcess {
    dir: PathBuf,
    command: Option<String>,
    port: u16,
    platform: String,
    child: Option<tokio::process::Child>,
}

impl AppProcess {
    fn new(dir: &Path, command: Option<String>, port: u16, platform: &str) -> Self {
        AppProcess {
            dir: dir.to_owned(),
            command,
            port,
            platform: platform.to_owned(),
            child: None,
        }
    }

    /// Stops the app's server and starts it again; waits until it answers GraphQL.
    async fn restart(&mut self) -> anyhow::Result<()> {
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

    async fn stop(&mut self) {
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

/// Modification times of every file under `paths`.
fn snapshot(paths: &[PathBuf]) -> BTreeMap<PathBuf, SystemTime> {
    let mut seen = BTreeMap::new();
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
            }
        } else if let Ok(modified) = meta.modified() {
            seen.insert(path, modified);
        }
    }
    seen
}

/// Waits until `paths` stop changing; returns their last snapshot.
async fn settle(
    paths: &[PathBuf],
    mut last: BTreeMap<PathBuf, SystemTime>,
) -> BTreeMap<PathBuf, SystemTime> {
    loop {
        tokio::time::sleep(QUIET).await;
        let now = snapshot(paths);
        if now == last {
            return now;
        }
        last = now;
    }
}
