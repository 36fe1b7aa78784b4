//! A development platform (`nexus dev`): an app's own developer approves their versions under
//! review's checks and sends their app any event for one of its installations, as the platform
//! would send it. Anywhere else both are refused with `DEVELOPMENT_ONLY` and change nothing —
//! and `nexus app dev --platform` leaves such a platform untouched.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

const APPROVE_OWN: &str =
    "mutation($id: ID!) { approveOwnAppVersion(id: $id) { appVersion { status } } }";
const TRIGGER: &str = "mutation($inst: ID!, $event: String!) { triggerWebhook(installationId: $inst, eventType: $event) { id webhookId eventType status } }";
const VERSION_STATUS: &str =
    "query($id: ID!) { app(id: $id) { versions(first: 5) { edges { node { id status } } } } }";

async fn version_status(stack: &TestStack, developer: &Session, app_id: &str) -> Value {
    let data = stack
        .data_as(&developer.access, VERSION_STATUS, json!({ "id": app_id }))
        .await;
    data["app"]["versions"]["edges"][0]["node"]["status"].clone()
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_developer_approves_their_own_app_and_triggers_any_event_on_a_development_platform() {
    let stack = TestStack::start_configured(|config, _| config.development = true).await;
    let body = stack.gql("{ developmentPlatform }", json!({})).await;
    assert_eq!(body["data"]["developmentPlatform"], true, "{body}");
    let developer = stack.sign_up("dev@analytics.test", "Dev").await;
    let stranger = stack.sign_up("stranger@else.test", "Stranger").await;
    let app = FakeApp::analytics().await;
    let receiver = Receiver::start().await;
    let mut manifest = manifest("analytics", &app.url(), &["users:read"]);
    manifest["scopes"]["optional"] = json!(["organizations:read"]);
    manifest["webhooks"] =
        json!({ "endpoint": receiver.url(), "events": ["app.installed", "member.added"] });
    let (app_id, version_id) = stack.submit_app(&developer, &manifest).await;

    // Someone else's version is not theirs to approve, development platform or not.
    let body = stack
        .gql_as(&stranger.access, APPROVE_OWN, json!({ "id": version_id }))
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    assert_eq!(
        version_status(&stack, &developer, &app_id).await,
        "IN_REVIEW"
    );
    let data = stack
        .data_as(&developer.access, APPROVE_OWN, json!({ "id": version_id }))
        .await;
    assert_eq!(
        data["approveOwnAppVersion"]["appVersion"]["status"], "APPROVED",
        "{data}"
    );

    let (ada, acme) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    let data = stack
        .data_as(
            &ada.access,
            "mutation($app: ID!) { installApp(appId: $app, scopes: [\"users:read\", \"organizations:read\"]) { id } }",
            json!({ "app": app_id }),
        )
        .await;
    let installation = data["installApp"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let received = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(received.len(), 1, "app.installed arrives");

    // A real member.added, then a triggered one: the same shape.
    stack.sign_up("grace@acme.test", "Grace").await;
    stack
        .add_member(&ada, &acme, "grace@acme.test", "MEMBER")
        .await;
    let real = receiver.wait_for(2, Duration::from_secs(20)).await[1].json();
    assert_eq!(real["type"], "member.added", "{real}");
    let data = stack
        .data_as(
            &developer.access,
            TRIGGER,
            json!({ "inst": installation, "event": "member.added" }),
        )
        .await;
    assert_eq!(
        data["triggerWebhook"]["eventType"], "member.added",
        "{data}"
    );
    let received = receiver.wait_for(3, Duration::from_secs(20)).await;
    assert_eq!(received.len(), 3);
    let triggered = received[2].json();
    assert_eq!(
        received[2].header("webhook-id"),
        data["triggerWebhook"]["webhookId"]
    );
    assert_eq!(triggered["type"], "member.added", "{triggered}");
    assert_eq!(triggered["organization_id"], acme.as_str());
    assert_eq!(triggered["installation_id"], installation.as_str());
    assert_eq!(keys(&triggered), keys(&real), "{triggered} {real}");
    assert_eq!(keys(&triggered["data"]), keys(&real["data"]), "{triggered}");
    assert_eq!(triggered["recipient"], real["recipient"]);
    assert!(received[2].header("webhook-signature").contains("v1a,"));
    // The installation as it is, in an installation event.
    let data = stack
        .data_as(
            &developer.access,
            TRIGGER,
            json!({ "inst": installation, "event": "app.installed" }),
        )
        .await;
    assert_eq!(data["triggerWebhook"]["status"], "PENDING", "{data}");
    let again = receiver.wait_for(4, Duration::from_secs(20)).await[3].json();
    assert_eq!(again["data"], received[0].json()["data"], "{again}");

    // What the app would not hear is not sent; only the developer triggers; only real events.
    for (who, event, code) in [
        (&developer, "organization.updated", "CONFLICT"),
        (&developer, "user.created", "CONFLICT"),
        (&developer, "user.sessions_ended", "BAD_USER_INPUT"),
        (&developer, "made.up", "BAD_USER_INPUT"),
        (&ada, "app.installed", "FORBIDDEN"),
        (&stranger, "app.installed", "FORBIDDEN"),
    ] {
        let body = stack
            .gql_as(
                &who.access,
                TRIGGER,
                json!({ "inst": installation, "event": event }),
            )
            .await;
        assert_eq!(error_codes(&body), [code], "{event}: {body}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 4, "nothing else was sent");
    stack.stop().await;
}

#[tokio::test]
async fn elsewhere_neither_is_allowed_and_nexus_app_dev_changes_nothing() {
    let stack = TestStack::start().await;
    let body = stack.gql("{ developmentPlatform }", json!({})).await;
    assert_eq!(body["data"]["developmentPlatform"], false, "{body}");
    let developer = stack.sign_up("dev@analytics.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let app = FakeApp::analytics().await;
    let receiver = Receiver::start().await;
    let mut manifest = manifest("analytics", &app.url(), &["users:read"]);
    manifest["webhooks"] = json!({ "endpoint": receiver.url(), "events": ["app.installed"] });
    let (app_id, version_id) = stack.submit_app(&developer, &manifest).await;
    let body = stack
        .gql_as(&developer.access, APPROVE_OWN, json!({ "id": version_id }))
        .await;
    assert_eq!(error_codes(&body), ["DEVELOPMENT_ONLY"], "{body}");
    assert_eq!(
        version_status(&stack, &developer, &app_id).await,
        "IN_REVIEW"
    );
    stack.approve_version(&admin, &version_id).await;
    let (ada, _) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    let installation = stack.install(&ada, &app_id).await;
    assert_eq!(receiver.wait_for(1, Duration::from_secs(20)).await.len(), 1);
    let body = stack
        .gql_as(
            &developer.access,
            TRIGGER,
            json!({ "inst": installation, "event": "app.installed" }),
        )
        .await;
    assert_eq!(error_codes(&body), ["DEVELOPMENT_ONLY"], "{body}");

    // `nexus app dev --platform` against it: refused before signing anyone up.
    let parent = tempfile::tempdir().expect("temp dir");
    let project =
        nexus::app_kit::new::create("np-crm", nexus::app_kit::new::Lang::Python, parent.path())
            .expect("created");
    let platform = stack.stack.graphql_url().replace("/graphql", "");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_nexus"))
        .args(["app", "dev", "--platform", &platform])
        .current_dir(&project)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("nexus app dev runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("is not a development platform"), "{stderr}");
    // The development user's address is still free: nobody was signed up.
    stack.sign_up("dev@npcrm.localhost", "Someone").await;
    assert!(
        !project.join(".nexus").join("session.json").exists(),
        "nothing was served"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "nothing else was sent");
    stack.stop().await;
}
