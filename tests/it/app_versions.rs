//! An app goes live: a developer submits a manifest, a platform admin approves, the router serves
//! the app's fields without a restart, and a rollback takes them away again. Bad submissions are
//! rejected with every problem listed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::{Session, TestStack, error_codes, first_error_message};
use serde_json::{Value, json};

const LINK: &str =
    r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])"#;

async fn analytics_app(sdl: String) -> SocketAddr {
    crate::common::FakeApp::start(sdl).await.addr
}

fn manifest(version: &str, addr: SocketAddr) -> Value {
    json!({
        "namespace": "analytics",
        "name": "Analytics",
        "version": version,
        "description": "Usage analytics",
        "category": "insights",
        "author": { "name": "Dev", "email": "dev@apps.test" },
        "pricing": { "model": "free" },
        "graphql": { "subgraph_url": format!("http://{addr}/graphql") },
        "scopes": { "required": ["users:read"] }
    })
}

const SUBMIT: &str = "mutation($m: JSON!) { submitAppVersion(manifest: $m) { \
    appVersion { id version status errors { code } } errors { code message path subgraph type field } } }";
const APPROVE: &str = "mutation($id: ID!) { approveAppVersion(id: $id) { \
    appVersion { status } supergraphVersion { id sha256 subgraphs { name } } } }";
/// A hot reload takes a moment.
const RELOADED: Duration = Duration::from_secs(20);
const PROFILE: &str = "{ me { email analyticsProfile { visits } } }";

struct Setup {
    stack: TestStack,
    developer: Session,
    admin: Session,
}

async fn setup() -> Setup {
    let stack = TestStack::start().await;
    let developer = stack.sign_up("dev@apps.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    Setup {
        stack,
        developer,
        admin,
    }
}

#[tokio::test]
async fn submit_approve_serve_and_roll_back_without_a_restart() {
    let Setup {
        stack,
        developer,
        admin,
    } = setup().await;
    let sdl = crate::common::analytics_sdl();
    let app = analytics_app(sdl).await;

    // Before: the field does not exist.
    let (_, body) = stack.post_as(&developer.access, PROFILE, json!({})).await;
    assert!(
        first_error_message(&body).contains("analyticsProfile"),
        "{body}"
    );

    let data = stack
        .data_as(
            &developer.access,
            SUBMIT,
            json!({ "m": manifest("1.0.0", app) }),
        )
        .await;
    let version = &data["submitAppVersion"]["appVersion"];
    assert_eq!(version["status"], "IN_REVIEW", "{data}");
    assert_eq!(data["submitAppVersion"]["errors"], json!([]));
    let version_id = version["id"].as_str().unwrap_or_default().to_owned();

    // Only platform admins approve.
    let body = stack
        .gql_as(&developer.access, APPROVE, json!({ "id": version_id }))
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    let data = stack
        .data_as(&admin.access, APPROVE, json!({ "id": version_id }))
        .await;
    assert_eq!(
        data["approveAppVersion"]["appVersion"]["status"],
        "APPROVED"
    );
    let names: Vec<&str> = data["approveAppVersion"]["supergraphVersion"]["subgraphs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["identity", "apps", "licensing", "analytics"]);

    // Hot reload: the app's field is in the supergraph. The developer's account has no
    // organization with the app installed, so the installation gate answers for the app
    // (tests/installations.rs covers installed apps).
    let body = stack
        .eventually(&developer.access, PROFILE, RELOADED, |b| {
            error_codes(b) == ["APP_NOT_INSTALLED"]
        })
        .await;
    assert_eq!(body["data"]["me"]["email"], "dev@apps.test");
    let data = stack
        .data(
            "{ app(namespace: \"analytics\") { status name } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["app"],
        json!({ "status": "PUBLISHED", "name": "Analytics" })
    );

    // Roll back to the first, core-only supergraph: the field goes away again.
    let versions = stack
        .data_as(
            &admin.access,
            "{ supergraphVersions { edges { node { id reason } } } }",
            json!({}),
        )
        .await;
    let edges = versions["supergraphVersions"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(edges.len(), 2, "{versions}");
    assert_eq!(edges[0]["node"]["reason"], "core subgraphs");
    assert_eq!(edges[1]["node"]["reason"], "approved analytics 1.0.0");
    let core_only = edges[0]["node"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let data = stack
        .data_as(
            &admin.access,
            "mutation($id: ID!) { rollbackSupergraph(id: $id) { reason } }",
            json!({ "id": core_only }),
        )
        .await;
    assert_eq!(
        data["rollbackSupergraph"]["reason"],
        format!("rollback to {core_only}")
    );
    stack
        .eventually(&developer.access, PROFILE, RELOADED, |b| {
            first_error_message(b).contains("analyticsProfile")
        })
        .await;
    // The core kept answering throughout.
    let data = stack
        .data_as(&developer.access, "{ me { email } }", json!({}))
        .await;
    assert_eq!(data["me"]["email"], "dev@apps.test");

    // The same version twice is a conflict; another developer cannot take the namespace.
    let body = stack
        .gql_as(
            &developer.access,
            SUBMIT,
            json!({ "m": manifest("1.0.0", app) }),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"], "{body}");
    let other = stack.sign_up("mallory@apps.test", "Mallory").await;
    let body = stack
        .gql_as(
            &other.access,
            SUBMIT,
            json!({ "m": manifest("9.0.0", app) }),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    stack.stop().await;
}

#[tokio::test]
async fn a_bad_app_is_rejected_with_every_problem() {
    let Setup {
        stack,
        developer,
        admin,
    } = setup().await;
    let sdl = format!(
        "{LINK}\ntype Query {{ dashboard: Int }}\n\
         type User @key(fields: \"id\") {{ id: ID! email: String }}"
    );
    let app = analytics_app(sdl).await;
    let data = stack
        .data_as(
            &developer.access,
            SUBMIT,
            json!({ "m": manifest("1.0.0", app) }),
        )
        .await;
    let payload = &data["submitAppVersion"];
    assert_eq!(payload["appVersion"]["status"], "REJECTED", "{data}");
    assert_eq!(
        payload["errors"],
        json!([
            { "code": "FIELD_NOT_NAMESPACED", "message": "`Query.dashboard` must start with `analytics` followed by an uppercase letter (e.g. `analyticsDashboard`)",
              "path": null, "subgraph": "analytics", "type": "Query", "field": "dashboard" },
            { "code": "CORE_FIELD_REDEFINED", "message": "`User.email` belongs to the core; an app may only add fields starting with `analytics`",
              "path": null, "subgraph": "analytics", "type": "User", "field": "email" },
        ])
    );
    assert_eq!(
        payload["appVersion"]["errors"].as_array().map(Vec::len),
        Some(2)
    );
    // A rejected version cannot be approved; the live supergraph is untouched.
    let id = payload["appVersion"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let body = stack
        .gql_as(&admin.access, APPROVE, json!({ "id": id }))
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"]);
    let data = stack
        .data_as(
            &admin.access,
            "{ supergraphVersions { edges { node { reason } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["supergraphVersions"]["edges"],
        json!([{ "node": { "reason": "core subgraphs" } }])
    );

    // An invalid manifest: every problem with its path, and no version filed.
    let mut bad = manifest("one", app);
    bad["scopes"]["required"] = json!(["root"]);
    let data = stack
        .data_as(&developer.access, SUBMIT, json!({ "m": bad }))
        .await;
    assert_eq!(data["submitAppVersion"]["appVersion"], Value::Null);
    let paths: Vec<&str> = data["submitAppVersion"]["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert_eq!(paths, ["/version", "/scopes/required/0"]);
    stack.stop().await;
}

#[tokio::test]
async fn nexus_app_submit_prints_the_outcome() {
    let Setup {
        stack, developer, ..
    } = setup().await;
    let good = analytics_app(crate::common::analytics_sdl()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("manifest.json");
    let submit = |path: std::path::PathBuf| {
        let url = stack.stack.graphql_url();
        let token = developer.access.clone();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_nexus"))
                .args(["app", "submit"])
                .arg(path)
                .args(["--url", &url, "--token", &token])
                .env("RUST_LOG", "warn")
                .output()
                .await
                .expect("nexus runs")
        }
    };
    std::fs::write(&path, manifest("1.0.0", good).to_string()).expect("write");
    let output = submit(path.clone()).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with("analytics 1.0.0: IN_REVIEW (version id "),
        "{stdout}"
    );

    let bad = analytics_app(format!("{LINK}\ntype Query {{ dashboard: Int }}")).await;
    std::fs::write(&path, manifest("1.0.1", bad).to_string()).expect("write");
    let output = submit(path.clone()).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(stdout.contains("analytics 1.0.1: REJECTED"), "{stdout}");
    assert!(
        stdout.contains("[FIELD_NOT_NAMESPACED] `Query.dashboard` must start with `analytics`"),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("error: the app version was rejected: 1 problem(s)")
    );

    std::fs::write(&path, "{ not json").expect("write");
    let output = submit(path).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error:") && stderr.contains("is not JSON"),
        "{stderr}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn reloads_under_load_drop_no_request() {
    let Setup {
        stack,
        developer,
        admin,
    } = setup().await;
    let app = analytics_app(crate::common::analytics_sdl()).await;
    // A client with ordinary keep-alive pooling, hammering the router throughout.
    let url = stack.stack.graphql_url();
    let token = developer.access.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = stop.clone();
    let load = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let (mut ok, mut failed) = (0u32, Vec::new());
        while !stopping.load(std::sync::atomic::Ordering::SeqCst) && ok < 20_000 {
            let result = client
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({ "query": "{ me { email } }" }))
                .send()
                .await;
            match result {
                Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                    Ok(body) if body["data"]["me"]["email"] == "dev@apps.test" => ok += 1,
                    other => failed.push(format!("{other:?}")),
                },
                other => failed.push(format!("{other:?}")),
            }
        }
        (ok, failed)
    });
    // Mutations with a side effect, alongside: each must run exactly once.
    use sea_orm::{EntityTrait, PaginatorTrait};
    let organizations = || async {
        nexus_identity::entity::organization::Entity::find()
            .count(&stack.stack.db)
            .await
            .expect("count")
    };
    let before = organizations().await;
    let url = stack.stack.graphql_url();
    let token = developer.access.clone();
    let stopping = stop.clone();
    let writes = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let (mut created, mut failed) = (0u64, Vec::new());
        while !stopping.load(std::sync::atomic::Ordering::SeqCst) && created < 2_000 {
            let result = client
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({ "query": "mutation($slug: String!) { createOrganization(input: {name: \"Load\", slug: $slug}) { id } }",
                               "variables": { "slug": format!("load-{created}") } }))
                .send()
                .await;
            match result {
                Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                    Ok(body) if body["data"]["createOrganization"]["id"].is_string() => {
                        created += 1
                    }
                    other => {
                        failed.push(format!("{other:?}"));
                        break;
                    }
                },
                other => {
                    failed.push(format!("{other:?}"));
                    break;
                }
            }
        }
        (created, failed)
    });

    let mut heads = Vec::new();
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        let data = stack
            .data_as(
                &developer.access,
                SUBMIT,
                json!({ "m": manifest(version, app) }),
            )
            .await;
        let id = data["submitAppVersion"]["appVersion"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let data = stack
            .data_as(&admin.access, APPROVE, json!({ "id": id }))
            .await;
        heads.push(
            data["approveAppVersion"]["supergraphVersion"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for head in heads.iter().rev() {
        stack
            .data_as(
                &admin.access,
                "mutation($id: ID!) { rollbackSupergraph(id: $id) { id } }",
                json!({ "id": head }),
            )
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (ok, failed) = load.await.expect("load task");
    println!(
        "{ok} queries through 3 publishes and 3 rollbacks, {} failed",
        failed.len()
    );
    assert!(ok > 50, "the load loop barely ran: {ok}");
    let (created, write_failures) = writes.await.expect("write task");
    assert!(
        write_failures.is_empty(),
        "a mutation failed (a second run answers CONFLICT): {write_failures:?}"
    );
    // As many organizations as answered creations: none ran twice, none ran unanswered.
    let stored = organizations().await - before;
    println!("{created} organizations created alongside, {stored} stored");
    assert!(created > 10, "the write loop barely ran: {created}");
    assert_eq!(
        stored, created,
        "organizations stored vs creations answered"
    );
    assert!(
        failed.is_empty(),
        "{} requests failed, first: {}",
        failed.len(),
        failed[0]
    );
    stack.stop().await;
}

#[tokio::test]
async fn suspending_an_app_takes_its_fields_out_of_the_supergraph() {
    let Setup {
        stack,
        developer,
        admin,
    } = setup().await;
    let app = analytics_app(crate::common::analytics_sdl()).await;
    let (app_id, _) = stack
        .publish_app(&developer, &admin, &manifest("1.0.0", app))
        .await;
    stack
        .eventually(&developer.access, PROFILE, RELOADED, |b| {
            error_codes(b) == ["APP_NOT_INSTALLED"]
        })
        .await;
    let suspend = "mutation($id: ID!) { suspendApp(appId: $id) { status } }";
    let body = stack
        .gql_as(&developer.access, suspend, json!({ "id": app_id }))
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    let data = stack
        .data_as(&admin.access, suspend, json!({ "id": app_id }))
        .await;
    assert_eq!(data["suspendApp"]["status"], "SUSPENDED");
    stack
        .eventually(&developer.access, PROFILE, RELOADED, |b| {
            first_error_message(b).contains("analyticsProfile")
        })
        .await;
    // Suspended apps leave the public store.
    let data = stack
        .data("{ app(namespace: \"analytics\") { id } }", json!({}))
        .await;
    assert_eq!(data["app"], Value::Null);
    stack.stop().await;
}

#[tokio::test]
async fn an_app_failing_its_health_check_is_reported_down() {
    let stack = TestStack::start_with_health_checks(Duration::from_millis(300)).await;
    let developer = stack.sign_up("dev@apps.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let app = analytics_app(format!("{LINK}\ntype Query {{ analyticsPing: Int }}")).await;
    let mut document = manifest("1.0.0", app);
    // The fake app serves no `/health`.
    document["health_check"] = json!("/health");
    stack.publish_app(&developer, &admin, &document).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let query = "{ app(namespace: \"analytics\") { health { status detail checkedAt } } }";
        let data = stack.data_as(&developer.access, query, json!({})).await;
        if data["app"]["health"]["status"] == "DOWN" {
            assert_eq!(data["app"]["health"]["detail"], "HTTP 404 Not Found");
            // What answered at the app's address is for its developer and admins only.
            let anonymous = stack.data(query, json!({})).await;
            assert_eq!(anonymous["app"]["health"]["status"], "DOWN");
            assert_eq!(anonymous["app"]["health"]["detail"], Value::Null);
            break;
        }
        assert!(Instant::now() < deadline, "never reported down: {data}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stack.stop().await;
}
