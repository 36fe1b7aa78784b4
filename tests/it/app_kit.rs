//! The app developer's kit: `nexus app new` writes a project whose own tests pass, whose manifest
//! passes review's checks, and which — started as it is — goes live on a real platform: its
//! fields served through the router to a signed-in user, every call's context token verified by
//! the SDK it carries.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nexus::app_kit::new::{Lang, create};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use crate::common::{TestStack, free_port, passes};

fn cargo() -> std::process::Command {
    std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// The project's manifest, after checking it passes the registry's manifest checks as written.
fn checked_manifest(project: &Path, namespace: &str) -> Value {
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(project.join("manifest.json")).expect("manifest"),
    )
    .expect("JSON");
    let catalog: Vec<&str> = nexus_protocol::scopes::CATALOG
        .iter()
        .map(|(s, _)| *s)
        .collect();
    let checked = nexus_registry::manifest::validate(&manifest, &catalog);
    assert!(checked.is_ok(), "{:?}", checked.err());
    assert_eq!(manifest["namespace"], namespace);
    manifest
}

/// Starts the project with `program args` on a free port against `platform`; waits until it
/// says it listens. Returns the process and its base URL.
async fn start(project: &Path, program: &str, args: &[&str], platform: &str) -> (Child, String) {
    let port = free_port();
    let mut app = tokio::process::Command::new(program)
        .args(args)
        .current_dir(project)
        .env("PORT", port.to_string())
        .env("NEXUS_URL", platform)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the app starts");
    let mut lines = BufReader::new(app.stdout.take().expect("stdout")).lines();
    tokio::time::timeout(Duration::from_secs(300), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("listening on") {
                return;
            }
        }
        panic!("the app exited before listening");
    })
    .await
    .expect("the app listens");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (app, format!("http://127.0.0.1:{port}"))
}

/// Publishes the app of `manifest` served at `url`, installs it for a new organization and
/// checks its fields answer through the router, and that it refuses calls not from the router.
async fn goes_live(stack: &TestStack, mut manifest: Value, url: &str, title: &str) {
    let ns = manifest["namespace"]
        .as_str()
        .expect("namespace")
        .to_owned();
    manifest["graphql"]["subgraph_url"] = json!(format!("{url}/graphql"));
    manifest["webhooks"]["endpoint"] = json!(format!("{url}/webhooks"));
    let developer = stack.sign_up(&format!("dev@{ns}.test"), "Dev").await;
    let admin = stack
        .platform_admin(&format!("admin-{ns}@nexus.test"))
        .await;
    let (app_id, _) = stack.publish_app(&developer, &admin, &manifest).await;
    let (ada, acme) = stack
        .owner_of(&format!("ada@{ns}.test"), "Acme", &format!("acme-{ns}"))
        .await;
    stack.install(&ada, &app_id).await;
    let query = format!(
        "{{ {ns}Hello organization(id: \"{acme}\") {{ id {ns}Settings {{ viewerRole grantedScopes }} }} }}"
    );
    let hello = format!("{ns}Hello");
    let body = stack
        .eventually(&ada.access, &query, Duration::from_secs(20), |b| {
            b["data"][&hello].is_string()
        })
        .await;
    assert_eq!(
        body["data"][&hello],
        format!("Hello from {title}, {}", ada.user_id),
        "{body}"
    );
    assert_eq!(body["data"]["organization"]["id"], acme.as_str(), "{body}");
    assert_eq!(
        body["data"]["organization"][format!("{ns}Settings")],
        json!({ "viewerRole": "owner", "grantedScopes": ["users:read"] }),
        "{body}"
    );
    // A note written through the graph is read back on the user.
    let data = stack
        .data_as(
            &ada.access,
            &format!("mutation($u: ID!) {{ {ns}SetNote(userId: $u, text: \"met at the fair\") }}"),
            json!({ "u": ada.user_id }),
        )
        .await;
    assert_eq!(data[format!("{ns}SetNote")], "met at the fair", "{data}");
    let data = stack
        .data_as(&ada.access, &format!("{{ me {{ {ns}Note }} }}"), json!({}))
        .await;
    assert_eq!(data["me"][format!("{ns}Note")], "met at the fair", "{data}");
    // The app refuses what did not come through the router: a user's own token is no context
    // token.
    let direct = reqwest::Client::new()
        .post(format!("{url}/graphql"))
        .bearer_auth(&ada.access)
        .json(&json!({ "query": format!("{{ {ns}Hello }}") }))
        .send()
        .await
        .expect("the app answers");
    assert_eq!(direct.status(), 401);
    assert_eq!(
        direct.text().await.unwrap_or_default(),
        "context token refused: wrong_type"
    );
}

#[tokio::test]
async fn a_new_rust_app_passes_its_own_tests_and_goes_live() {
    let parent = tempfile::tempdir().expect("temp dir");
    let project = create("my-crm", Lang::Rust, parent.path()).expect("created");
    let again = create("my-crm", Lang::Rust, parent.path()).expect_err("the directory exists");
    assert!(again.to_string().contains("already exists"), "{again}");
    let manifest = checked_manifest(&project, "mycrm");
    // Its own tests, offline (the build shares this build's target directory).
    passes(
        cargo()
            .args(["test", "--offline", "--quiet"])
            .current_dir(&project),
    );
    let stack = TestStack::start().await;
    let platform = stack.stack.graphql_url().replace("/graphql", "");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let (mut app, url) = start(
        &project,
        &cargo,
        &["run", "--offline", "--quiet"],
        &platform,
    )
    .await;
    goes_live(&stack, manifest, &url, "My Crm").await;
    app.kill().await.ok();
    stack.stop().await;
}

#[tokio::test]
async fn a_new_python_app_passes_its_own_tests_and_goes_live() {
    if !std::env::var("NEXUS_TEST_STRAWBERRY").is_ok_and(|v| v == "1") {
        eprintln!("skipped: strawberry-graphql[asgi], uvicorn and httpx are not installed");
        return;
    }
    let parent = tempfile::tempdir().expect("temp dir");
    let project = create("py-crm", Lang::Python, parent.path()).expect("created");
    let manifest = checked_manifest(&project, "pycrm");
    passes(
        std::process::Command::new("python3")
            .args(["-W", "ignore", "-m", "unittest", "discover", "-s", "tests"])
            .current_dir(&project),
    );
    let stack = TestStack::start().await;
    let platform = stack.stack.graphql_url().replace("/graphql", "");
    let (mut app, url) = start(&project, "python3", &["-W", "ignore", "app.py"], &platform).await;
    goes_live(&stack, manifest, &url, "Py Crm").await;
    app.kill().await.ok();
    stack.stop().await;
}

#[tokio::test]
async fn a_new_node_app_passes_its_own_tests_and_goes_live() {
    if !std::env::var("NEXUS_TEST_NODE").is_ok_and(|v| v == "1") {
        eprintln!("skipped: Node.js and npm are not installed");
        return;
    }
    let parent = tempfile::tempdir().expect("temp dir");
    let project = create("node-crm", Lang::Node, parent.path()).expect("created");
    let manifest = checked_manifest(&project, "nodecrm");
    passes(
        std::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&project),
    );
    passes(
        std::process::Command::new("npm")
            .args(["test"])
            .current_dir(&project),
    );
    let stack = TestStack::start().await;
    let platform = stack.stack.graphql_url().replace("/graphql", "");
    let (mut app, url) = start(&project, "node", &["server.js"], &platform).await;
    goes_live(&stack, manifest, &url, "Node Crm").await;
    app.kill().await.ok();
    stack.stop().await;
}

/// `nexus app dev` in `project`: its output lines as they come.
struct Dev {
    _process: Child,

    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    graph: String,
    token: String,
}

impl Drop for Dev {
    fn drop(&mut self) {
        self.interrupt();
    }
}

impl Dev {
    async fn start(project: &Path) -> Dev {
        let mut process = tokio::process::Command::new(env!("CARGO_BIN_EXE_nexus"))
            .args(["app", "dev", "--listen", "127.0.0.1:0"])
            .current_dir(project)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("nexus app dev starts");
        let mut out = BufReader::new(process.stdout.take().expect("stdout")).lines();
        let (send, lines) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut dev = Dev {
            _process: process,
            lines,
            graph: String::new(),
            token: String::new(),
        };
        let printed = dev.until("ready:").await;
        for line in &printed {
            if let Some(graph) = line.trim().strip_prefix("graph:") {
                dev.graph = graph.trim().to_owned();
            }
            if let Some(token) = line.trim().strip_prefix("token:") {
                dev.token = token.trim().to_owned();
            }
        }
        assert!(!dev.token.is_empty(), "{printed:?}");
        dev
    }

    /// The lines printed up to the first that starts with `prefix` (included); a `ready:` or
    /// `refused:` line other than the one waited for fails the test at once.
    async fn until(&mut self, prefix: &str) -> Vec<String> {
        let mut seen = Vec::new();
        let found = tokio::time::timeout(Duration::from_secs(600), async {
            while let Some(line) = self.lines.recv().await {
                let done = line.starts_with(prefix);
                let verdict = line.starts_with("ready:") || line.starts_with("refused:");
                seen.push(line);
                if done || verdict {
                    return done;
                }
            }
            false
        })
        .await;
        assert_eq!(found, Ok(true), "no `{prefix}` line; printed: {seen:?}");
        seen
    }

    /// Stops `nexus app dev` as Ctrl-C does, so that it stops the app's server too.
    fn interrupt(&self) {
        let Some(pid) = self._process.id() else {
            return;
        };
        let _ = std::process::Command::new("kill")
            .args(["-s", "INT", "--", &pid.to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::path::Path::new(&format!("/proc/{pid}")).exists()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    async fn query(&self, query: &str) -> Value {
        reqwest::Client::new()
            .post(&self.graph)
            .bearer_auth(&self.token)
            .json(&json!({ "query": query }))
            .send()
            .await
            .expect("the graph answers")
            .json()
            .await
            .expect("JSON")
    }
}

#[tokio::test]
async fn nexus_app_dev_serves_a_new_app_and_reloads_its_edits() {
    if !std::env::var("NEXUS_TEST_STRAWBERRY").is_ok_and(|v| v == "1") {
        eprintln!("skipped: strawberry-graphql[asgi], uvicorn and httpx are not installed");
        return;
    }
    let parent = tempfile::tempdir().expect("temp dir");
    let project = create("dev-crm", Lang::Python, parent.path()).expect("created");
    let mut dev = Dev::start(&project).await;
    let body = dev.query("{ devcrmHello me { id devcrmNote } }").await;
    assert!(
        body["data"]["devcrmHello"]
            .as_str()
            .is_some_and(|h| h.starts_with("Hello from Dev Crm, ")),
        "{body}"
    );

    // A burst of edits, each adding a field: the last one is served, and nothing between failed.
    let app_py = project.join("app.py");
    let original = std::fs::read_to_string(&app_py).expect("app.py");
    let with_field = |name: &str, value: &str| {
        original.replace(
            "@strawberry.type\nclass Mutation:",
            &format!(
                "    @strawberry.field(name=\"{name}\")\n    def extra(self) -> str:\n        return \"{value}\"\n\n\n@strawberry.type\nclass Mutation:"
            ),
        )
    };
    assert_ne!(
        with_field("x", "y"),
        original,
        "the template changed: fix this test's edit"
    );
    for i in 0..20 {
        std::fs::write(&app_py, with_field("devcrmPing", &format!("pong {i}"))).expect("edit");
    }
    let printed = dev.until("ready:").await;
    assert!(
        !printed.iter().any(|l| l.starts_with("refused:")),
        "{printed:?}"
    );
    let body = dev.query("{ devcrmPing }").await;
    assert_eq!(body["data"]["devcrmPing"], "pong 19", "{body} {printed:?}");

    // A field outside the namespace: refused with the rule's code, the last good one serves.
    std::fs::write(&app_py, with_field("ping", "outside")).expect("edit");
    let printed = dev.until("refused:").await;
    let more = dev.until("  FIELD_NOT_NAMESPACED").await;
    assert!(
        more.iter().any(|l| l.contains("Query.ping")),
        "{printed:?} {more:?}"
    );
    // The graph keeps the last good supergraph (the app's own server runs what was saved).
    let body = dev.query("{ devcrmHello }").await;
    assert!(body["data"]["devcrmHello"].is_string(), "{body}");
    let body = dev
        .query("{ __type(name: \"Query\") { fields { name } } }")
        .await;
    let fields = body["data"]["__type"]["fields"].to_string();
    assert!(fields.contains("\"devcrmPing\""), "{fields}");
    assert!(!fields.contains("\"ping\""), "{fields}");
}
