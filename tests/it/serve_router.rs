//! `nexus serve router` in its own process follows the registry's head over HTTP: the apps
//! service's `/supergraph` feed answers conditionally and long-polls, and the router reloads
//! what it publishes (approvals, rollbacks) without a restart.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{FakeApp, TestStack, post_graphql};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const USER_FIELDS: &str = "{ __type(name: \"User\") { fields { name } } }";

/// The analytics app served by `app`, requiring `users:read`.
fn manifest(app: &FakeApp) -> Value {
    crate::common::manifest("analytics", &app.url(), &["users:read"])
}

/// `nexus serve router` against the stack's services; returns the process and its GraphQL URL.
async fn serve_router(stack: &TestStack) -> (tokio::process::Child, String) {
    let base = |name: &str| {
        stack
            .stack
            .subgraph_url(name)
            .unwrap_or_default()
            .trim_end_matches("/graphql")
            .to_owned()
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_nexus"))
        .args(["serve", "router", "--listen", "127.0.0.1:0"])
        .arg("--keys-file")
        .arg(stack.dir.path().join("signing-keys.json"))
        .args(["--issuer", stack.stack.keys.issuer()])
        .args(["--identity-url", &base("identity")])
        .args(["--apps-url", &base("apps")])
        // The test's app listens on loopback.
        .arg("--allow-private-subgraphs")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("nexus serve router starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(120), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix("router listening: ") {
                return url.to_owned();
            }
        }
        panic!("the router exited without listening");
    })
    .await
    .expect("the router listens within 2 minutes");
    // Keep reading so the process never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

async fn user_fields(client: &reqwest::Client, url: &str) -> Vec<String> {
    let (status, body) = post_graphql(client, url, None, USER_FIELDS, json!({})).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["__type"]["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["name"].as_str().map(str::to_owned))
        .collect()
}

async fn eventually_has_field(client: &reqwest::Client, url: &str, field: &str, present: bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let fields = user_fields(client, url).await;
        if fields.iter().any(|f| f == field) == present {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the router at {url} never {} `{field}`: {fields:?}",
            if present { "gained" } else { "lost" }
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_router_in_its_own_process_follows_publishes_and_rollbacks() {
    let stack = TestStack::start().await;
    let (_router, url) = serve_router(&stack).await;
    let client = reqwest::Client::new();

    // It serves the registry's head and the core works through it.
    let fields = user_fields(&client, &url).await;
    assert!(fields.iter().any(|f| f == "email"), "{fields:?}");
    assert!(!fields.iter().any(|f| f == "analyticsProfile"));
    let (status, body) = post_graphql(
        &client,
        &url,
        None,
        "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken user { id } } }",
        json!({ "i": { "email": "dev@apps.test", "password": crate::common::PASSWORD, "name": "Dev" } }),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body["data"]["signUp"]["user"]["id"].is_string(), "{body}");
    let developer = stack.log_in("dev@apps.test").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let first = stack
        .data_as(
            &admin.access,
            "{ supergraphVersions(first: 1) { edges { node { id } } } }",
            json!({}),
        )
        .await["supergraphVersions"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let app = FakeApp::analytics().await;
    stack.publish_app(&developer, &admin, &manifest(&app)).await;
    eventually_has_field(&client, &url, "analyticsProfile", true).await;

    let data = stack
        .data_as(
            &admin.access,
            "mutation($id: ID!) { rollbackSupergraph(id: $id) { id } }",
            json!({ "id": first }),
        )
        .await;
    assert!(data["rollbackSupergraph"]["id"].is_string(), "{data}");
    eventually_has_field(&client, &url, "analyticsProfile", false).await;
    stack.stop().await;
}

#[tokio::test]
async fn the_supergraph_feed_is_conditional_and_long_polls() {
    let stack = TestStack::start().await;
    let feed = stack
        .stack
        .subgraph_url("apps")
        .unwrap_or_default()
        .replace("/graphql", "/supergraph");
    let client = reqwest::Client::new();
    let token = stack
        .stack
        .keys
        .service_token("test")
        .expect("a service token");

    // Only Nexus's own services read it: it names every app's internal URL.
    let response = client.get(&feed).send().await.expect("feed answers");
    assert_eq!(response.status(), 401);
    let response = client
        .get(&feed)
        .bearer_auth(&stack.sign_up("someone@users.test", "Someone").await.access)
        .send()
        .await
        .expect("feed answers");
    assert_eq!(response.status(), 401, "a user's token is not enough");

    let response = client
        .get(&feed)
        .bearer_auth(&token)
        .send()
        .await
        .expect("feed answers");
    assert_eq!(response.status(), 200);
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(etag.len(), 66, "a quoted sha256: {etag}");
    let sdl = response.text().await.expect("body");
    assert!(sdl.contains("type User"), "{sdl}");

    // Unchanged: 304 once the wait is over, with the same ETag.
    let response = client
        .get(format!("{feed}?wait=1"))
        .bearer_auth(&token)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("feed answers");
    assert_eq!(response.status(), 304);
    assert_eq!(response.headers()["etag"], etag.as_str());

    // A waiting request is answered by the next publish, with the new head.
    let waiting = tokio::spawn({
        let (client, feed, etag, token) =
            (client.clone(), feed.clone(), etag.clone(), token.clone());
        async move {
            let response = client
                .get(format!("{feed}?wait=60"))
                .bearer_auth(token)
                .header("if-none-match", etag)
                .send()
                .await
                .expect("feed answers");
            let status = response.status().as_u16();
            let etag = response
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (status, etag, response.text().await.unwrap_or_default())
        }
    });
    let developer = stack.sign_up("dev@apps.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let app = FakeApp::analytics().await;
    stack.publish_app(&developer, &admin, &manifest(&app)).await;
    let (status, new_etag, sdl) = waiting.await.expect("the waiting request ends");
    assert_eq!(status, 200);
    assert_ne!(new_etag, etag);
    assert!(sdl.contains("analyticsProfile"), "{sdl}");
    stack.stop().await;
}
