//! An app in another language: examples/apps/kudos-node, written with Apollo's `@apollo/subgraph`
//! for Node.js, goes live the same way as the Rust example — submitted with its manifest,
//! approved, installed, queried through the router, verifying its context tokens with `jose`
//! against the JWKS — and side by side with the Rust analytics app, both extending `User`.
//!
//! Needs `node` and the example's packages (`npm ci --prefix examples/apps/kudos-node`); `.ci/run`
//! installs them and sets `NEXUS_TEST_NODE=1`, which makes a missing Node.js a failure.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{TestStack, error_codes};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const APP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/apps/kudos-node");

fn node_available() -> bool {
    let installed = Path::new(APP_DIR).join("node_modules").is_dir();
    if std::env::var("NEXUS_TEST_NODE").is_ok_and(|v| v == "1") {
        assert!(
            installed,
            "NEXUS_TEST_NODE=1 but {APP_DIR}/node_modules is missing: run `npm ci` there"
        );
        return true;
    }
    if !installed {
        eprintln!(
            "skipped: the Node.js example's packages are not installed (npm ci --prefix examples/apps/kudos-node)"
        );
    }
    installed
}

/// Starts `node server.js` on a free port; returns the process and its GraphQL URL.
/// The kudos app on `port` (0: any free one), receiving webhooks signed with `secret`.
async fn start_kudos(
    stack: &TestStack,
    port: u16,
    secret: &str,
) -> (tokio::process::Child, String) {
    let base = stack
        .stack
        .graphql_url()
        .trim_end_matches("/graphql")
        .to_owned();
    let mut child = tokio::process::Command::new("node")
        .arg("server.js")
        .current_dir(APP_DIR)
        .env("PORT", port.to_string())
        .env("WEBHOOK_SECRET", secret)
        .env("NEXUS_JWKS_URL", format!("{base}/.well-known/jwks.json"))
        .env("NEXUS_ISSUER", stack.stack.keys.issuer())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix("kudos app listening on ") {
                return url.to_owned();
            }
        }
        panic!("the kudos app exited without listening");
    })
    .await
    .expect("the kudos app listens within 30 s");
    (child, url)
}

/// The example's own manifest, pointing at where it runs in this test.
fn manifest(example: &str, url: &str) -> Value {
    let path = format!(
        "{}/examples/apps/{example}/manifest.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("the example's manifest");
    let mut manifest: Value = serde_json::from_str(&text).expect("manifest JSON");
    manifest["graphql"]["subgraph_url"] = json!(url);
    manifest
}

#[tokio::test]
async fn a_node_app_and_a_rust_app_extend_user_side_by_side() {
    if !node_available() {
        return;
    }
    let stack = TestStack::start().await;
    let (mut kudos_app, kudos_url) = start_kudos(&stack, 0, "").await;
    let analytics_url = format!("http://{}/graphql", stack.start_example_analytics().await);
    let developer = stack.sign_up("dev@apps.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let kudos_base = kudos_url.trim_end_matches("/graphql").to_owned();
    let mut kudos_manifest = manifest("kudos-node", &kudos_url);
    kudos_manifest["webhooks"]["endpoint"] = json!(format!("{kudos_base}/webhooks"));
    let (kudos, _) = stack.publish_app(&developer, &admin, &kudos_manifest).await;
    // Its developer takes the webhook secret and restarts it with it, on the same port.
    let data = stack
        .data_as(
            &developer.access,
            "mutation($app: ID!) { rotateWebhookSecret(appId: $app) }",
            json!({ "app": kudos }),
        )
        .await;
    let secret = data["rotateWebhookSecret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    kudos_app.start_kill().expect("stop kudos");
    kudos_app.wait().await.expect("kudos stopped");
    let port: u16 = kudos_base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("kudos's port");
    let (_kudos_app, _) = start_kudos(&stack, port, &secret).await;
    let (analytics, _) = stack
        .publish_app(&developer, &admin, &manifest("analytics", &analytics_url))
        .await;

    let (ada, acme) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    let (bob, _) = stack.owner_of("bob@bobco.test", "Bobco", "bobco").await;
    stack.install(&ada, &kudos).await;
    stack.install(&ada, &analytics).await;
    // Bob's organization installs only the Rust app.
    stack.install(&bob, &analytics).await;

    let query = "{ me { email kudosSummary { received organizationId appNamespace } analyticsProfile { visits } } }";
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let (_, body) = stack.post_as(&ada.access, query, json!({})).await;
        if body["data"]["me"]["kudosSummary"]["received"].is_number()
            && body["data"]["me"]["analyticsProfile"]["visits"].is_number()
        {
            break body;
        }
        assert!(Instant::now() < deadline, "the apps never answered: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(body.get("errors").is_none(), "{body}");
    let me = &body["data"]["me"];
    assert_eq!(me["email"], "ada@acme.test");
    // What the Node app read from the context token it verified: ada's organization, minted for it.
    assert_eq!(
        me["kudosSummary"]["organizationId"],
        acme.as_str(),
        "{body}"
    );
    assert_eq!(me["kudosSummary"]["appNamespace"], "kudos");

    // An app's root field answers through the router too.
    let data = stack
        .data_as(
            &ada.access,
            "{ kudosLeaderboard(first: 2) { userId received } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["kudosLeaderboard"].as_array().map(Vec::len),
        Some(2),
        "{data}"
    );

    // Bob: the Rust app answers, the Node app is not installed for his organization.
    let (_, body) = stack.post_as(&bob.access, query, json!({})).await;
    assert_eq!(error_codes(&body), ["APP_NOT_INSTALLED"], "{body}");
    assert_eq!(body["data"]["me"]["email"], "bob@bobco.test");
    assert_eq!(body["data"]["me"]["kudosSummary"], Value::Null);
    assert!(
        body["data"]["me"]["analyticsProfile"]["visits"].is_number(),
        "{body}"
    );

    // The Node app itself refuses a core access token.
    let status = reqwest::Client::new()
        .post(&kudos_url)
        .bearer_auth(&ada.access)
        .json(&json!({ "query": "{ kudosLeaderboard { userId } }" }))
        .send()
        .await
        .expect("the app answers")
        .status();
    assert_eq!(status, 401);

    // The Node app verified its `app.installed` webhook with the `standardwebhooks` npm package;
    // a forged one is refused.
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let received = loop {
        let received: Value = client
            .get(format!("{kudos_base}/webhooks"))
            .send()
            .await
            .expect("the app answers")
            .json()
            .await
            .expect("JSON");
        if received.as_array().is_some_and(|r| !r.is_empty()) {
            break received;
        }
        assert!(std::time::Instant::now() < deadline, "no webhook arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(received[0]["event"]["type"], "app.installed", "{received}");
    assert_eq!(received[0]["event"]["organization_id"], json!(acme));
    let forged = client
        .post(format!("{kudos_base}/webhooks"))
        .header("webhook-id", "msg_forged")
        .header(
            "webhook-timestamp",
            chrono::Utc::now().timestamp().to_string(),
        )
        .header("webhook-signature", "v1,bm90IHRoaXM=")
        .body(r#"{"type":"app.uninstalled"}"#)
        .send()
        .await
        .expect("the app answers");
    assert_eq!(forged.status(), 401);
    stack.stop().await;
}
