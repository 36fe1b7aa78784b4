//! The app SDKs (`sdk/`): the three give the verdicts of `sdk/test-vectors/` (Rust's own crate
//! tests run them; Python and Node here, where `.ci/run` installed their packages), and the Rust
//! SDK trusts exactly what a real platform sends: the router's context token, an installation
//! token by client credentials, the graph called with it.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nexus_app::{ContextVerifier, Graph, InstallationTokens};
use serde_json::json;

use crate::common::{FakeApp, TestStack, manifest, passes};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn the_python_and_node_sdks_give_the_vectors_verdicts() {
    if std::env::var("NEXUS_TEST_PYJWT").is_ok_and(|v| v == "1")
        && std::env::var("NEXUS_TEST_STANDARDWEBHOOKS").is_ok_and(|v| v == "1")
    {
        passes(
            Command::new("python3")
                .args(["-m", "unittest", "discover", "-s", "sdk/python/tests"])
                .current_dir(ROOT),
        );
    } else {
        eprintln!("skipped: PyJWT and standardwebhooks are not installed (the Python SDK)");
    }
    let node = Path::new(ROOT).join("sdk/node/node_modules").is_dir();
    if std::env::var("NEXUS_TEST_NODE").is_ok_and(|v| v == "1") {
        assert!(
            node,
            "NEXUS_TEST_NODE=1 but sdk/node/node_modules is missing: npm ci --prefix sdk/node"
        );
        passes(
            Command::new("node")
                .args(["--test", "sdk/node/test/"])
                .current_dir(ROOT),
        );
    } else {
        eprintln!("skipped: the Node SDK's packages are not installed (npm ci --prefix sdk/node)");
    }
}

#[tokio::test]
async fn the_rust_sdk_trusts_what_the_platform_sends() {
    let stack = TestStack::start().await;
    let developer = stack.sign_up("dev@apps.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let app = FakeApp::extending_user("crm").await;
    let (app_id, _) = stack
        .publish_app(
            &developer,
            &admin,
            &manifest("crm", &app.url(), &["users:read"]),
        )
        .await;
    let (ada, acme) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    let installation = stack.install(&ada, &app_id).await;
    stack
        .eventually(
            &ada.access,
            "{ me { crmProfile { visits } } }",
            Duration::from_secs(10),
            |b| b["data"]["me"]["crmProfile"]["visits"] == 42,
        )
        .await;

    // The router's context token, as the app received it.
    let call = app.entity_calls().pop().expect("the app was called");
    let authorization = call.authorization.expect("a context token");
    let issuer = stack.stack.keys.issuer().to_owned();
    let claims = ContextVerifier::new(&issuer, "crm")
        .verify(&authorization)
        .await
        .expect("the context token verifies");
    assert_eq!(claims.sub, ada.user_id);
    assert_eq!(claims.org.as_deref(), Some(acme.as_str()));
    assert_eq!(claims.inst.as_deref(), Some(installation.as_str()));
    assert!(claims.has_scope("users:read"), "{claims:?}");
    // Meant for crm: another app presenting it is refused, and so is the caller's own token.
    let other = ContextVerifier::new(&issuer, "billing")
        .verify(&authorization)
        .await;
    assert_eq!(other.map_err(|e| e.code()), Err("wrong_audience"));
    let own = ContextVerifier::new(&issuer, "crm")
        .verify(&ada.access)
        .await;
    assert_eq!(own.map_err(|e| e.code()), Err("wrong_type"));

    // An installation token by client credentials, and the graph with it.
    let secret = stack.rotate_client_secret(&developer, &app_id).await;
    let platform = stack.stack.graphql_url().replace("/graphql", "");
    let graph = Graph::new(
        &platform,
        InstallationTokens::new(&platform, &app_id, &secret, &installation),
    );
    let answer = graph
        .query(
            "query($id: ID!) { user(id: $id) { email crmProfile { visits } } }",
            json!({ "id": ada.user_id }),
        )
        .await
        .expect("the graph answers");
    assert_eq!(answer["data"]["user"]["email"], "ada@acme.test", "{answer}");
    assert_eq!(
        answer["data"]["user"]["crmProfile"]["visits"], 42,
        "{answer}"
    );
    // A wrong secret is the token endpoint's own refusal.
    let refused = InstallationTokens::new(&platform, &app_id, "nxs_wrong", &installation)
        .token()
        .await
        .expect_err("refused");
    assert!(refused.to_string().contains("invalid_client"), "{refused}");
    stack.stop().await;
}
