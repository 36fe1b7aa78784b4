//! The app developer's kit: `nexus app new` writes a project whose own tests pass, whose manifest
//! passes review's checks, and which — started as it is — goes live on a real platform: its
//! fields served through the router to a signed-in user, every call's context token verified by
//! the SDK it carries.

use std::process::Stdio;
use std::time::Duration;

use nexus::app_kit::new::{Lang, create};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{TestStack, free_port};

fn cargo() -> std::process::Command {
    std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

#[tokio::test]
async fn a_new_rust_app_passes_its_own_tests_and_goes_live() {
    let parent = tempfile::tempdir().expect("temp dir");
    let project = create("my-crm", Lang::Rust, parent.path()).expect("created");
    let again = create("my-crm", Lang::Rust, parent.path()).expect_err("the directory exists");
    assert!(again.to_string().contains("already exists"), "{again}");

    // The manifest passes the registry's manifest checks as written.
    let mut manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(project.join("manifest.json")).expect("manifest"),
    )
    .expect("JSON");
    let catalog: Vec<&str> = nexus_protocol::scopes::CATALOG
        .iter()
        .map(|(s, _)| *s)
        .collect();
    let checked = nexus_registry::manifest::validate(&manifest, &catalog);
    assert!(checked.is_ok(), "{:?}", checked.err());
    assert_eq!(manifest["namespace"], "mycrm");

    // Its own tests, offline (the build shares this build's target directory).
    let tests = cargo()
        .args(["test", "--offline", "--quiet"])
        .current_dir(&project)
        .output()
        .expect("cargo runs");
    assert!(
        tests.status.success(),
        "the project's tests failed:\n{}\n{}",
        String::from_utf8_lossy(&tests.stdout),
        String::from_utf8_lossy(&tests.stderr)
    );

    // Started as it is, on a free port, against a real platform.
    let stack = TestStack::start().await;
    let platform = stack.stack.graphql_url().replace("/graphql", "");
    let port = free_port();
    let mut app =
        tokio::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["run", "--offline", "--quiet"])
            .current_dir(&project)
            .env("PORT", port.to_string())
            .env("NEXUS_URL", &platform)
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
    let url = format!("http://127.0.0.1:{port}");
    manifest["graphql"]["subgraph_url"] = json!(format!("{url}/graphql"));
    manifest["webhooks"]["endpoint"] = json!(format!("{url}/webhooks"));

    let developer = stack.sign_up("dev@mycrm.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let (app_id, _) = stack.publish_app(&developer, &admin, &manifest).await;
    let (ada, acme) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    stack.install(&ada, &app_id).await;
    let query = format!(
        "{{ mycrmHello organization(id: \"{acme}\") {{ id mycrmSettings {{ viewerRole grantedScopes }} }} }}"
    );
    let body = stack
        .eventually(&ada.access, &query, Duration::from_secs(20), |b| {
            b["data"]["mycrmHello"].is_string()
        })
        .await;
    assert_eq!(
        body["data"]["mycrmHello"],
        format!("Hello from My Crm, {}", ada.user_id),
        "{body}"
    );
    assert_eq!(body["data"]["organization"]["id"], acme.as_str(), "{body}");
    assert_eq!(
        body["data"]["organization"]["mycrmSettings"],
        json!({ "viewerRole": "owner", "grantedScopes": ["users:read"] }),
        "{body}"
    );
    // A note written through the graph is read back on the user.
    let data = stack
        .data_as(
            &ada.access,
            "mutation($u: ID!) { mycrmSetNote(userId: $u, text: \"met at the fair\") }",
            json!({ "u": ada.user_id }),
        )
        .await;
    assert_eq!(data["mycrmSetNote"], "met at the fair", "{data}");
    let data = stack
        .data_as(&ada.access, "{ me { mycrmNote } }", json!({}))
        .await;
    assert_eq!(data["me"]["mycrmNote"], "met at the fair", "{data}");
    // The app refuses what did not come through the router.
    let direct = reqwest::Client::new()
        .post(format!("{url}/graphql"))
        .bearer_auth(&ada.access)
        .json(&json!({ "query": "{ mycrmHello }" }))
        .send()
        .await
        .expect("the app answers");
    assert_eq!(direct.status(), 401);
    assert_eq!(
        direct.text().await.unwrap_or_default(),
        "context token refused: wrong_type"
    );
    app.kill().await.ok();
    stack.stop().await;
}
