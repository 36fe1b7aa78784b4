//! The example analytics app (examples/apps/analytics) end to end: submitted with its own
//! manifest, approved, installed by one organization, queried through the router; it accepts only
//! context tokens minted for it.

use std::time::{Duration, Instant};

use crate::common::{TestStack, error_codes};
use serde_json::{Value, json};

#[tokio::test]
async fn the_example_app_goes_live_for_the_organization_that_installs_it() {
    let stack = TestStack::start_with_health_checks(Duration::from_millis(300)).await;
    let app_addr = stack.start_example_analytics().await;

    let developer = stack.sign_up("dev@apps.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/apps/analytics/manifest.json"
    ))
    .expect("the example's manifest");
    let mut manifest: Value = serde_json::from_str(&text).expect("manifest JSON");
    manifest["graphql"]["subgraph_url"] = json!(format!("http://{app_addr}/graphql"));
    manifest["webhooks"]["endpoint"] = json!(format!("http://{app_addr}/webhooks"));
    let (app_id, _) = stack.publish_app(&developer, &admin, &manifest).await;

    let (ada, _) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    let (bob, _) = stack.owner_of("bob@bobco.test", "Bobco", "bobco").await;
    stack.install(&ada, &app_id).await;

    let query = "{ me { analyticsProfile { visits } } }";
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let (_, body) = stack.post_as(&ada.access, query, json!({})).await;
        if body["data"]["me"]["analyticsProfile"]["visits"].is_number() {
            break body;
        }
        assert!(Instant::now() < deadline, "the app never answered: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(body.get("errors").is_none(), "{body}");
    let data = stack
        .data_as(
            &ada.access,
            "{ organization(slug: \"acme\") { analyticsDashboard { activeUsers pageViews } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["organization"]["analyticsDashboard"]["activeUsers"], 1,
        "{data}"
    );

    // The registry checks the app's `/health` (from its manifest).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let data = stack
            .data(
                "{ app(namespace: \"analytics\") { health { status latencyMs detail } } }",
                json!({}),
            )
            .await;
        if data["app"]["health"]["status"] == "UP" {
            assert_eq!(data["app"]["health"]["detail"], Value::Null);
            break;
        }
        assert!(Instant::now() < deadline, "never checked healthy: {data}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Bob's organization did not install it.
    let (_, body) = stack
        .post_as(
            &bob.access,
            "{ me { email analyticsProfile { visits } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), ["APP_NOT_INSTALLED"], "{body}");
    assert_eq!(body["data"]["me"]["email"], "bob@bobco.test");

    // The app refuses callers without a context token, and a user's own access token.
    let client = reqwest::Client::new();
    let entities = json!({ "query": "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { analyticsProfile { visits } } } }",
                           "variables": { "r": [{ "__typename": "User", "id": ada.user_id }] } });
    let status = client
        .post(format!("http://{app_addr}/graphql"))
        .json(&entities)
        .send()
        .await
        .expect("app answers")
        .status();
    assert_eq!(status, 401);
    let status = client
        .post(format!("http://{app_addr}/graphql"))
        .bearer_auth(&ada.access)
        .json(&entities)
        .send()
        .await
        .expect("app answers")
        .status();
    assert_eq!(
        status, 401,
        "an access token for the core is not a context token for the app"
    );

    // The app received its `app.installed` webhook and verified it against the JWKS (no shared
    // secret); a forged one is refused, a repeated one handled once.
    let deadline = Instant::now() + Duration::from_secs(10);
    let received = loop {
        let received: Value = client
            .get(format!("http://{app_addr}/webhooks"))
            .send()
            .await
            .expect("app answers")
            .json()
            .await
            .expect("JSON");
        if received.as_array().is_some_and(|r| !r.is_empty()) {
            break received;
        }
        assert!(Instant::now() < deadline, "no webhook arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(received[0]["event"]["type"], "app.installed", "{received}");
    assert_eq!(
        received[0]["event"]["organization_id"],
        json!(ada.organization)
    );
    let now = chrono::Utc::now().timestamp().to_string();
    for (signature, status) in [("v1a,AAAA", 401), ("v1,bm90IHRoaXM=", 401)] {
        let answer = client
            .post(format!("http://{app_addr}/webhooks"))
            .header("webhook-id", "msg_forged")
            .header("webhook-timestamp", &now)
            .header("webhook-signature", signature)
            .body(r#"{"type":"app.uninstalled"}"#)
            .send()
            .await
            .expect("app answers");
        assert_eq!(answer.status().as_u16(), status, "{signature}");
    }

    // Sent again (same webhook-id): acknowledged, not handled twice.
    let data = stack
        .data_as(
            &developer.access,
            "query($id: ID!) { app(id: $id) { webhookDeliveries(first: 1) { edges { node { id } } } } }",
            json!({ "id": app_id }),
        )
        .await;
    let delivery = data["app"]["webhookDeliveries"]["edges"][0]["node"]["id"].clone();
    stack
        .data_as(
            &developer.access,
            "mutation($id: ID!) { redeliverWebhook(id: $id) { status } }",
            json!({ "id": delivery }),
        )
        .await;
    let attempts = "query($id: ID!) { app(id: $id) { webhookDeliveries(first: 1) { edges { node { attempts { statusCode } } } } } }";
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let data = stack
            .data_as(&developer.access, attempts, json!({ "id": app_id }))
            .await;
        let node = &data["app"]["webhookDeliveries"]["edges"][0]["node"];
        if node["attempts"].as_array().map(Vec::len) == Some(2) {
            assert_eq!(node["attempts"][1]["statusCode"], 204, "{node}");
            break;
        }
        assert!(Instant::now() < deadline, "not sent again: {data}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received: Value = client
        .get(format!("http://{app_addr}/webhooks"))
        .send()
        .await
        .expect("app answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(received.as_array().map(Vec::len), Some(1), "{received}");
    stack.stop().await;
}
