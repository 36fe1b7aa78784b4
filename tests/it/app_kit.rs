//! The app developer's kit: `nexus app new` writes a project whose own tests pass, whose manifest
//! passes review's checks, and which `nexus app dev` takes live as it is: its fields served
//! through the router to the development user, every call's context token and every webhook
//! (one of them sent with `nexus app webhook trigger`) verified by the SDK it carries; edits
//! served without a restart, a refused edit reported with its rule and where it is written.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nexus::app_kit::new::{Lang, create};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use crate::common::{TestStack, passes};

fn cargo() -> std::process::Command {
    std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// The project's manifest, after checking it passes the registry's manifest checks as written.
fn checked_manifest_of(project: &Path) -> Value {
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
    manifest
}

fn checked_manifest(project: &Path, namespace: &str) -> Value {
    let manifest = checked_manifest_of(project);
    assert_eq!(manifest["namespace"], namespace);
    manifest
}

/// Serves `project` with `nexus app dev` and checks, as the development user, that its fields
/// answer through the router, that it refuses calls not from the router, and that an event
/// triggered with `nexus app webhook trigger` reaches it verified by its SDK.
async fn lives_under_dev(project: &Path, title: &str) -> Dev {
    let manifest = checked_manifest_of(project);
    let ns = manifest["namespace"]
        .as_str()
        .expect("namespace")
        .to_owned();
    let app_url = manifest["graphql"]["subgraph_url"]
        .as_str()
        .expect("subgraph_url")
        .trim_end_matches("/graphql")
        .to_owned();
    let mut dev = Dev::start(project).await;
    let body = dev
        .query(&format!(
            "{{ {ns}Hello me {{ id }} organization(slug: \"{ns}-dev\") {{ id {ns}Settings {{ viewerRole grantedScopes }} }} }}"
        ))
        .await;
    let me = body["data"]["me"]["id"].as_str().unwrap_or_default();
    assert_eq!(
        body["data"][format!("{ns}Hello")],
        format!("Hello from {title}, {me}"),
        "{body}"
    );
    let settings = &body["data"]["organization"][format!("{ns}Settings")];
    assert_eq!(settings["viewerRole"], "owner", "{body}");
    let mut granted: Vec<&str> = settings["grantedScopes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str())
        .collect();
    granted.sort();
    assert_eq!(granted, ["organizations:read", "users:read"], "{body}");
    // A note written through the graph is read back on the user.
    let body = dev
        .query(&format!(
            "mutation {{ {ns}SetNote(userId: \"{me}\", text: \"met at the fair\") }}"
        ))
        .await;
    assert_eq!(
        body["data"][format!("{ns}SetNote")],
        "met at the fair",
        "{body}"
    );
    let body = dev.query(&format!("{{ me {{ {ns}Note }} }}")).await;
    assert_eq!(
        body["data"]["me"][format!("{ns}Note")],
        "met at the fair",
        "{body}"
    );
    // The app refuses what did not come through the router: a user's own token is no context
    // token.
    let direct = reqwest::Client::new()
        .post(format!("{app_url}/graphql"))
        .bearer_auth(&dev.token)
        .json(&json!({ "query": format!("{{ {ns}Hello }}") }))
        .send()
        .await
        .expect("the app answers");
    assert_eq!(direct.status(), 401);
    assert_eq!(
        direct.text().await.unwrap_or_default(),
        "context token refused: wrong_type"
    );
    // The installation's own event arrived and was printed; a triggered one is verified by the
    // app (its SDK, the platform's Ed25519 key) and answered 2xx.
    dev.saw("webhook app.installed").await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_nexus"))
        .args(["app", "webhook", "trigger", "installation.scopes_updated"])
        .current_dir(project)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("nexus app webhook runs");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.contains("sent installation.scopes_updated (msg_"),
        "{printed}"
    );
    assert!(printed.contains("→ 204"), "{printed}");
    let received: Value = reqwest::get(format!("{app_url}/webhooks"))
        .await
        .expect("the app answers")
        .json()
        .await
        .expect("JSON");
    let types: Vec<&str> = received
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(types.contains(&"installation.scopes_updated"), "{received}");
    assert!(types.contains(&"app.installed"), "{received}");
    dev.saw("webhook installation.scopes_updated").await;
    dev
}

#[tokio::test]
async fn a_new_rust_app_passes_its_own_tests_and_goes_live_under_nexus_app_dev() {
    let parent = tempfile::tempdir().expect("temp dir");
    let project = create("my-crm", Lang::Rust, parent.path()).expect("created");
    let again = create("my-crm", Lang::Rust, parent.path()).expect_err("the directory exists");
    assert!(again.to_string().contains("already exists"), "{again}");
    checked_manifest(&project, "mycrm");
    // Its own tests, offline (the build shares this build's target directory).
    passes(
        cargo()
            .args(["test", "--offline", "--quiet"])
            .current_dir(&project),
    );
    lives_under_dev(&project, "My Crm").await;
}

#[tokio::test]
async fn a_new_node_app_passes_its_own_tests_and_goes_live_under_nexus_app_dev() {
    if !std::env::var("NEXUS_TEST_NODE").is_ok_and(|v| v == "1") {
        eprintln!("skipped: Node.js and npm are not installed");
        return;
    }
    let parent = tempfile::tempdir().expect("temp dir");
    let project = create("node-crm", Lang::Node, parent.path()).expect("created");
    checked_manifest(&project, "nodecrm");
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
    let mut dev = lives_under_dev(&project, "Node Crm").await;
    // Its SDL is written in app.js: an edit is served, a refused one is found there.
    let app_js = project.join("app.js");
    let original = std::fs::read_to_string(&app_js).expect("app.js");
    let anchor = "    nodecrmHello: String!\n";
    assert!(
        original.contains(anchor),
        "the template changed: fix this test"
    );
    let with_field =
        |field: &str| original.replace(anchor, &format!("{anchor}    {field}: String\n"));
    std::fs::write(&app_js, with_field("nodecrmPing")).expect("edit");
    dev.until("ready:").await;
    let body = dev
        .query("{ __type(name: \"Query\") { fields { name } } }")
        .await;
    assert!(body.to_string().contains("\"nodecrmPing\""), "{body}");
    std::fs::write(&app_js, with_field("ping")).expect("edit");
    dev.until("refused:").await;
    let more = dev.until("  FIELD_NOT_NAMESPACED").await;
    let line = 1 + with_field("ping")
        .lines()
        .position(|l| l == "    ping: String")
        .expect("the edit");
    let expected = format!("Query.ping (app.js:{line}): ");
    assert!(
        more.iter().any(|l| l.contains(&expected)),
        "{expected} in {more:?}"
    );
}

/// `nexus app dev` in `project`: its output lines as they come.
struct Dev {
    _process: Child,

    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// Every line read so far.
    printed: Vec<String>,
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
        Dev::start_with(project, &["--listen", "127.0.0.1:0"]).await
    }

    async fn start_with(project: &Path, args: &[&str]) -> Dev {
        let mut process = tokio::process::Command::new(env!("CARGO_BIN_EXE_nexus"))
            .args(["app", "dev"])
            .args(args)
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
            printed: Vec::new(),
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
                self.printed.push(line.clone());
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

    /// Waits for a line starting with `prefix`, unless one was printed already (deliveries are
    /// printed as they happen, between other lines).
    async fn saw(&mut self, prefix: &str) {
        if !self.printed.iter().any(|l| l.starts_with(prefix)) {
            self.until(prefix).await;
        }
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
async fn a_new_python_app_passes_its_own_tests_goes_live_and_reloads_its_edits() {
    if !std::env::var("NEXUS_TEST_STRAWBERRY").is_ok_and(|v| v == "1") {
        eprintln!("skipped: strawberry-graphql[asgi], uvicorn and httpx are not installed");
        return;
    }
    let parent = tempfile::tempdir().expect("temp dir");
    let project = create("dev-crm", Lang::Python, parent.path()).expect("created");
    checked_manifest(&project, "devcrm");
    passes(
        std::process::Command::new("python3")
            .args(["-W", "ignore", "-m", "unittest", "discover", "-s", "tests"])
            .current_dir(&project),
    );
    let mut dev = lives_under_dev(&project, "Dev Crm").await;

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
    // With where the field is written.
    let line = 1 + std::fs::read_to_string(&app_py)
        .expect("app.py")
        .lines()
        .position(|l| l.contains("name=\"ping\""))
        .expect("the edit");
    let expected = format!("Query.ping (app.py:{line}): ");
    assert!(
        more.iter().any(|l| l.contains(&expected)),
        "{expected} in {printed:?} {more:?}"
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

#[tokio::test]
async fn nexus_app_dev_attaches_to_a_running_development_platform() {
    if !std::env::var("NEXUS_TEST_STRAWBERRY").is_ok_and(|v| v == "1") {
        eprintln!("skipped: strawberry-graphql[asgi], uvicorn and httpx are not installed");
        return;
    }
    let stack = TestStack::start_configured(|config, _| config.development = true).await;
    let parent = tempfile::tempdir().expect("temp dir");
    let project = create("att-crm", Lang::Python, parent.path()).expect("created");
    let platform = stack.stack.graphql_url().replace("/graphql", "");
    let dev = Dev::start_with(&project, &["--platform", &format!("{platform}/")]).await;
    assert_eq!(dev.graph, stack.stack.graphql_url());
    let body = dev.query("{ attcrmHello }").await;
    assert!(body["data"]["attcrmHello"].is_string(), "{body}");
    // Served by that platform, to its own users too: the development organization installed it.
    let session: Value = serde_json::from_str(
        &std::fs::read_to_string(project.join(".nexus/session.json")).expect("session"),
    )
    .expect("JSON");
    assert_eq!(session["graph"], stack.stack.graphql_url().as_str());
    let data = stack
        .data_as(
            &dev.token,
            "{ organization(slug: \"attcrm-dev\") { installations(first: 5) { nodes { app { namespace } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["organization"]["installations"]["nodes"],
        json!([{ "app": { "namespace": "attcrm" } }]),
        "{data}"
    );
    drop(dev);
    assert!(
        !project.join(".nexus/session.json").exists(),
        "stopping forgets the session"
    );
    stack.stop().await;
}
