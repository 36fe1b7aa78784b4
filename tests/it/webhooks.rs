//! Webhooks: events recorded with their change reach the apps that may hear them, signed as
//! Standard Webhooks (verified by the `standardwebhooks` package and against the JWKS), retried
//! with the same `webhook-id`, and a failing or hanging endpoint costs only its own app.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

const DELIVERIES: &str = "query($id: ID!) { app(id: $id) { webhookEndpoint { enabled disabledReason } \
    webhookDeliveries(first: 20) { edges { node { webhookId eventType status sequence \
    attempts { statusCode responseExcerpt error } } } } } }";

/// An app `namespace` (a FakeApp subgraph) whose webhooks go to `receiver`, subscribed to
/// `events`; requires `users:read`, may be granted `organizations:read`. Returns the app's id
/// and its webhook secret.
async fn publish_with_webhooks(
    stack: &TestStack,
    developer: &Session,
    admin: &Session,
    app: &FakeApp,
    receiver: &Receiver,
    events: Value,
) -> (String, String) {
    let mut manifest = manifest("analytics", &app.url(), &["users:read"]);
    manifest["scopes"]["optional"] = json!(["organizations:read"]);
    manifest["webhooks"] = json!({ "endpoint": receiver.url(), "events": events });
    let (app_id, _) = stack.publish_app(developer, admin, &manifest).await;
    let data = stack
        .data_as(
            &developer.access,
            "mutation($app: ID!) { rotateWebhookSecret(appId: $app) }",
            json!({ "app": app_id }),
        )
        .await;
    let secret = data["rotateWebhookSecret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(secret.starts_with("whsec_"), "{data}");
    (app_id, secret)
}

/// Verifies `received` with the `standardwebhooks` Python package (v1) and against the JWKS
/// (v1a), when the test environment has them.
async fn verify_with_python(stack: &TestStack, secret: &str, received: &Received) {
    if std::env::var("NEXUS_TEST_STANDARDWEBHOOKS").as_deref() != Ok("1") {
        println!(
            "skipped: set NEXUS_TEST_STANDARDWEBHOOKS=1 with `pip install standardwebhooks cryptography`"
        );
        return;
    }
    let jwks = stack
        .stack
        .graphql_url()
        .replace("/graphql", "/.well-known/jwks.json");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/verify_webhook.py");
    let mut child = tokio::process::Command::new("python3")
        .arg(script)
        .arg(jwks)
        .arg(secret)
        .arg("analytics")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let input = json!({ "headers": received.headers, "body": received.body }).to_string();
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        stdin.write_all(input.as_bytes()).await.expect("write");
    }
    let output = child.wait_with_output().await.expect("python3 ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("verified: v1 v1a"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn types_and_sequences(received: &[Received]) -> Vec<(String, i64)> {
    received
        .iter()
        .map(|r| {
            let body = r.json();
            (
                body["type"].as_str().unwrap_or_default().to_owned(),
                body["sequence"].as_i64().unwrap_or_default(),
            )
        })
        .collect()
}

/// A stack with one app (`analytics`, a FakeApp) whose webhooks go to `receiver`.
pub struct World {
    pub stack: TestStack,
    pub developer: Session,
    pub admin: Session,
    pub receiver: Receiver,
    pub _app: FakeApp,
    pub app_id: String,
    pub secret: String,
}

pub async fn world_on(stack: TestStack, events: Value) -> World {
    let developer = stack.sign_up("dev@apps.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let receiver = Receiver::start().await;
    let app = FakeApp::analytics().await;
    let (app_id, secret) =
        publish_with_webhooks(&stack, &developer, &admin, &app, &receiver, events).await;
    World {
        stack,
        developer,
        admin,
        receiver,
        _app: app,
        app_id,
        secret,
    }
}

/// A `World` subscribed to `app.installed` whose failed deliveries are retried after 1 s, 1 s, 1 s.
async fn retrying_within_seconds() -> World {
    let stack = TestStack::start_configured(|config, _| {
        config.webhooks.retry_schedule_seconds = vec![1, 1, 1];
    })
    .await;
    world_on(stack, json!(["app.installed"])).await
}

#[tokio::test]
async fn events_reach_only_apps_installed_and_granted_signed_as_standard_webhooks() {
    let World {
        stack,
        developer,
        receiver,
        app_id,
        secret,
        ..
    } = world_on(
        TestStack::start().await,
        json!([
            "app.installed",
            "app.uninstalled",
            "installation.scopes_updated",
            "member.added"
        ]),
    )
    .await;
    let (ada, acme) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    let (bob, bobco) = stack.owner_of("bob@bobco.test", "Bobco", "bobco").await;
    for email in ["grace@acme.test", "linus@acme.test", "eve@bobco.test"] {
        stack.sign_up(email, "Someone").await;
    }
    let add_member = |session: &Session, organization: &str, email: &str| {
        let (session, organization, email) =
            (session.clone(), organization.to_owned(), email.to_owned());
        let stack = &stack;
        async move {
            stack
                .add_member(&session, &organization, &email, "MEMBER")
                .await;
        }
    };

    let installation = stack.install(&ada, &app_id).await;
    let received = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(received.len(), 1, "app.installed arrives");
    let first = &received[0];
    let body = first.json();
    assert_eq!(body["type"], "app.installed", "{body}");
    assert_eq!(body["organization_id"], acme.as_str());
    assert_eq!(body["installation_id"], installation.as_str());
    assert_eq!(body["sequence"], 1);
    assert_eq!(body["data"]["scopes"], json!(["users:read"]));
    assert!(first.header("webhook-id").starts_with("msg_"), "{first:?}");
    let signature = first.header("webhook-signature");
    assert!(
        signature.contains("v1,") && signature.contains("v1a,"),
        "{signature}"
    );
    verify_with_python(&stack, &secret, first).await;

    // Without `organizations:read`, a new member is not the app's business.
    add_member(&ada, &acme, "grace@acme.test").await;
    stack
        .data_as(
            &ada.access,
            "mutation($id: ID!) { updateInstallationScopes(installationId: $id, scopes: [\"users:read\", \"organizations:read\"]) { grantedScopes } }",
            json!({ "id": installation }),
        )
        .await;
    add_member(&ada, &acme, "linus@acme.test").await;
    // Nothing about an organization that did not install it.
    add_member(&bob, &bobco, "eve@bobco.test").await;
    stack
        .data_as(
            &ada.access,
            "mutation($id: ID!) { uninstallApp(installationId: $id) { status } }",
            json!({ "id": installation }),
        )
        .await;
    let received = receiver.wait_for(4, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut received = if receiver.received().len() > received.len() {
        receiver.received()
    } else {
        received
    };
    // Deliveries run side by side and may arrive in any order: `sequence` orders them.
    received.sort_by_key(|r| r.json()["sequence"].as_i64());
    assert_eq!(
        types_and_sequences(&received),
        [
            ("app.installed".to_owned(), 1),
            ("installation.scopes_updated".to_owned(), 2),
            ("member.added".to_owned(), 3),
            ("app.uninstalled".to_owned(), 4),
        ]
    );
    let member = received[2].json();
    assert_eq!(member["organization_id"], acme.as_str(), "{member}");
    assert!(
        !received.iter().any(|r| r.body.contains(&bobco)),
        "nothing of bobco"
    );
    let ids: std::collections::BTreeSet<&str> =
        received.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), 4, "one webhook-id per delivery");

    // The developer sees each delivery; the customer does not.
    let data = stack
        .data_as(&developer.access, DELIVERIES, json!({ "id": app_id }))
        .await;
    let edges = data["app"]["webhookDeliveries"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(edges.len(), 4, "{data}");
    assert_eq!(
        edges[0]["node"]["eventType"], "app.uninstalled",
        "newest first"
    );
    assert_eq!(edges[0]["node"]["status"], "DELIVERED");
    assert_eq!(edges[0]["node"]["attempts"][0]["statusCode"], 200);
    let body = stack
        .gql_as(&ada.access, DELIVERIES, json!({ "id": app_id }))
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN", "FORBIDDEN"], "{body}");
    assert_eq!(body["data"]["app"], Value::Null, "{body}");
    stack.stop().await;
}

#[tokio::test]
async fn an_event_is_recorded_with_its_transaction_or_not_at_all() {
    use sea_orm::TransactionTrait;
    let World {
        stack,
        receiver,
        app_id,
        ..
    } = world_on(TestStack::start().await, json!(["app.installed"])).await;
    let app_uuid = uuid::Uuid::parse_str(&app_id).expect("uuid");
    for (n, commit) in [(1, false), (2, true)] {
        let txn = stack.stack.db.begin().await.expect("begin");
        nexus_kit::outbox::record(
            &txn,
            "apps",
            nexus_kit::outbox::Event::new("webhook.test", json!({ "n": n })).for_app(app_uuid),
        )
        .await
        .expect("recorded");
        if commit {
            txn.commit().await.expect("commit");
        } else {
            txn.rollback().await.expect("rollback");
        }
    }
    receiver.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let received = receiver.received();
    assert_eq!(received.len(), 1, "only the committed event");
    assert_eq!(received[0].json()["data"]["n"], 2);
    stack.stop().await;
}

#[tokio::test]
async fn failed_attempts_are_retried_with_the_same_webhook_id_and_410_disables_the_endpoint() {
    let World {
        stack,
        developer,
        receiver,
        app_id,
        ..
    } = retrying_within_seconds().await;
    let dev = developer.access.as_str();
    let test_event = || async {
        stack
            .gql_as(
                dev,
                "mutation($app: ID!) { sendTestWebhook(appId: $app) { id webhookId status } }",
                json!({ "app": app_id }),
            )
            .await
    };
    let deliveries = || async {
        stack
            .data_as(dev, DELIVERIES, json!({ "id": app_id }))
            .await["app"]
            .clone()
    };

    // Fails twice, then succeeds: three attempts, one webhook-id.
    receiver.answer_next(&[500, 503]);
    let sent = test_event().await;
    assert_eq!(
        sent["data"]["sendTestWebhook"]["status"], "PENDING",
        "{sent}"
    );
    let received = receiver.wait_for(3, Duration::from_secs(15)).await;
    assert_eq!(received.len(), 3);
    assert!(
        received
            .iter()
            .all(|r| r.header("webhook-id") == received[0].header("webhook-id"))
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let app_view = deliveries().await;
    let node = &app_view["webhookDeliveries"]["edges"][0]["node"];
    assert_eq!(node["status"], "DELIVERED", "{app_view}");
    let codes: Vec<&Value> = node["attempts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| &a["statusCode"])
        .collect();
    assert_eq!(codes, [&json!(500), &json!(503), &json!(200)], "{node}");
    assert_eq!(node["attempts"][0]["responseExcerpt"], "answered 500");

    // Fails every attempt: failed after the schedule runs out; a redelivery succeeds, same id.
    receiver.answer_next(&[500, 500, 500, 500]);
    test_event().await;
    let received = receiver.wait_for(7, Duration::from_secs(20)).await;
    assert_eq!(received.len(), 7);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let app_view = deliveries().await;
    let node = app_view["webhookDeliveries"]["edges"][0]["node"].clone();
    assert_eq!(node["status"], "FAILED", "{app_view}");
    assert_eq!(node["attempts"].as_array().map(Vec::len), Some(4));
    let failed_id = received[6].header("webhook-id").to_owned();
    let data = stack
        .data_as(
            dev,
            "query($id: ID!) { app(id: $id) { webhookDeliveries(first: 1, status: FAILED) { edges { node { id } } } } }",
            json!({ "id": app_id }),
        )
        .await;
    let delivery = data["app"]["webhookDeliveries"]["edges"][0]["node"]["id"].clone();
    stack
        .data_as(
            dev,
            "mutation($id: ID!) { redeliverWebhook(id: $id) { status } }",
            json!({ "id": delivery }),
        )
        .await;
    let received = receiver.wait_for(8, Duration::from_secs(10)).await;
    assert_eq!(received.len(), 8);
    assert_eq!(received[7].header("webhook-id"), failed_id);

    // 410 Gone disables the endpoint; nothing is sent until it is enabled again.
    receiver.answer_next(&[410]);
    test_event().await;
    receiver.wait_for(9, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let app_view = deliveries().await;
    assert_eq!(app_view["webhookEndpoint"]["enabled"], false, "{app_view}");
    assert!(
        app_view["webhookEndpoint"]["disabledReason"]
            .as_str()
            .unwrap_or_default()
            .contains("410"),
        "{app_view}"
    );
    // The developer is told: the notice waits among the app's deliveries.
    let notice = &app_view["webhookDeliveries"]["edges"][0]["node"];
    assert_eq!(
        notice["eventType"], "webhook_endpoint.disabled",
        "{app_view}"
    );
    assert_eq!(notice["status"], "PENDING", "{app_view}");
    let refused = test_event().await;
    assert_eq!(error_codes(&refused), ["CONFLICT"], "{refused}");
    stack
        .data_as(
            dev,
            "mutation($app: ID!) { enableWebhookEndpoint(appId: $app) { enabled } }",
            json!({ "app": app_id }),
        )
        .await;
    test_event().await;
    // Enabled again: the notice arrives too, with the reason.
    let received = receiver.wait_for(11, Duration::from_secs(10)).await;
    assert_eq!(received.len(), 11);
    let mut last: Vec<Value> = received[9..].iter().map(Received::json).collect();
    last.sort_by_key(|b| b["type"].as_str().map(str::to_owned));
    assert_eq!(last[0]["type"], "webhook.test");
    assert_eq!(last[1]["type"], "webhook_endpoint.disabled");
    assert!(
        last[1]["data"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("410 Gone"),
        "{}",
        last[1]
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_hanging_endpoint_does_not_delay_another_apps_deliveries() {
    let World {
        stack,
        developer,
        admin,
        receiver: hanging,
        app_id: slow_app,
        ..
    } = world_on(TestStack::start().await, json!(["app.installed"])).await;
    hanging.hang();
    let prompt = Receiver::start().await;
    let other = FakeApp::extending_user("crm").await;
    let mut manifest = manifest("crm", &other.url(), &["users:read"]);
    manifest["webhooks"] = json!({ "endpoint": prompt.url(), "events": ["app.installed"] });
    let (prompt_app, _) = stack.publish_app(&developer, &admin, &manifest).await;
    let send = |app: String| {
        let token = developer.access.clone();
        let stack = &stack;
        async move {
            stack
                .data_as(
                    &token,
                    "mutation($app: ID!) { sendTestWebhook(appId: $app) { id } }",
                    json!({ "app": app }),
                )
                .await;
        }
    };
    for _ in 0..20 {
        send(slow_app.clone()).await;
    }
    send(prompt_app.clone()).await;
    // Blocked behind the hanging endpoint, it would wait out the 15 s attempt timeout.
    let received = prompt.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(received.len(), 1, "the other app's event arrives");
    stack.stop().await;
}

#[tokio::test]
async fn changes_to_an_apps_versions_and_licenses_reach_that_app() {
    let events = json!([
        "app_version.approved",
        "app_version.rejected",
        "license.issued",
        "license.suspended",
        "license.reinstated",
        "license.renewed",
        "license.revoked"
    ]);
    let World {
        stack,
        developer,
        admin,
        receiver,
        _app: app,
        app_id,
        ..
    } = world_on(TestStack::start().await, events.clone()).await;
    let (_ada, acme) = stack.owner_of("ada@acme.test", "Acme", "acme").await;

    // A second version, rejected.
    let mut next = manifest("analytics", &app.url(), &["users:read"]);
    next["version"] = json!("1.1.0");
    next["webhooks"] = json!({ "endpoint": receiver.url(), "events": events });
    let data = stack
        .data_as(
            &developer.access,
            "mutation($m: JSON!) { submitAppVersion(manifest: $m) { appVersion { id } } }",
            json!({ "m": next }),
        )
        .await;
    let version = data["submitAppVersion"]["appVersion"]["id"].clone();
    stack
        .data_as(
            &admin.access,
            "mutation($id: ID!) { rejectAppVersion(id: $id, reason: \"not yet\") { status } }",
            json!({ "id": version }),
        )
        .await;

    let data = stack
        .data_as(
            &developer.access,
            "mutation($i: IssueLicenseInput!) { issueLicense(input: $i) { license { id } } }",
            json!({ "i": { "appId": app_id, "organizationId": acme, "kind": "PURCHASE", "maxActivations": 1 } }),
        )
        .await;
    let license = data["issueLicense"]["license"]["id"].clone();
    let later = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    for (mutation, declared, arguments) in [
        ("suspendLicense", "", ""),
        ("reinstateLicense", "", ""),
        ("renewLicense", ", $at: DateTime!", ", expiresAt: $at"),
        ("revokeLicense", "", ""),
    ] {
        stack
            .data_as(
                &developer.access,
                &format!(
                    "mutation($id: ID!{declared}) {{ {mutation}(id: $id{arguments}) {{ status }} }}"
                ),
                json!({ "id": license, "at": later }),
            )
            .await;
    }

    let received = receiver.wait_for(7, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut seen: Vec<(String, Value, i64)> = receiver
        .received()
        .iter()
        .map(|r| {
            let body = r.json();
            (
                body["type"].as_str().unwrap_or_default().to_owned(),
                body["organization_id"].clone(),
                body["sequence"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        seen.len(),
        received.len().max(7),
        "no more than one each: {seen:?}"
    );
    seen.sort_by_key(|(_, org, sequence)| (org.to_string(), *sequence));
    let acme = json!(acme);
    assert_eq!(
        seen,
        [
            ("license.issued".to_owned(), acme.clone(), 1),
            ("license.suspended".to_owned(), acme.clone(), 2),
            ("license.reinstated".to_owned(), acme.clone(), 3),
            ("license.renewed".to_owned(), acme.clone(), 4),
            ("license.revoked".to_owned(), acme.clone(), 5),
            ("app_version.approved".to_owned(), Value::Null, 1),
            ("app_version.rejected".to_owned(), Value::Null, 2),
        ]
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_payload_query_shapes_the_data_as_the_installation_may_see_it() {
    let stack = TestStack::start_configured(|config, _| {
        config.webhooks.retry_schedule_seconds = vec![1, 1, 1];
    })
    .await;
    let developer = stack.sign_up("dev@apps.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let receiver = Receiver::start().await;
    let app = FakeApp::analytics().await;
    let query = "query($userId: ID!, $organizationId: ID!) { user(id: $userId) { email } \
                 organization(id: $organizationId) { name } }";
    let mut manifest = manifest("analytics", &app.url(), &["organizations:read"]);
    manifest["scopes"]["optional"] = json!(["users:read"]);

    // A query that does not fit the supergraph is refused at submission, with where.
    manifest["webhooks"] = json!({ "endpoint": receiver.url(), "events": [
        { "event": "member.added", "query": "query { user(id: \"x\") { shoeSize } }" }
    ] });
    let data = stack
        .data_as(
            &developer.access,
            "mutation($m: JSON!) { submitAppVersion(manifest: $m) { appVersion { status } errors { code message path } } }",
            json!({ "m": manifest }),
        )
        .await;
    let errors = &data["submitAppVersion"]["errors"];
    assert_eq!(errors[0]["code"], "MANIFEST_WEBHOOK_QUERY", "{data}");
    assert_eq!(errors[0]["path"], "/webhooks/events/0/query", "{data}");
    let messages: Vec<&str> = errors
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("line 1, column") && m.contains("shoeSize")),
        "{messages:?}"
    );

    manifest["version"] = json!("1.0.1");
    manifest["webhooks"] = json!({ "endpoint": receiver.url(), "events": [
        { "event": "member.added", "query": query }
    ] });
    let (app_id, _) = stack.publish_app(&developer, &admin, &manifest).await;
    let (ada, acme) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    for email in ["grace@acme.test", "linus@acme.test"] {
        stack.sign_up(email, "Someone").await;
    }
    let data = stack
        .data_as(
            &ada.access,
            "mutation($app: ID!) { installApp(appId: $app) { id } }",
            json!({ "app": app_id }),
        )
        .await;
    let installation = data["installApp"]["id"].clone();
    let add = |email: &'static str| {
        let (stack, acme, ada) = (&stack, acme.clone(), ada.clone());
        async move {
            stack.add_member(&ada, &acme, email, "MEMBER").await;
        }
    };

    // Granted organizations:read only: the organization, not the user's email.
    add("grace@acme.test").await;
    let received = receiver.wait_for(1, Duration::from_secs(10)).await;
    let body = received[0].json();
    assert_eq!(body["type"], "member.added", "{body}");
    assert_eq!(
        body["shaped"]["data"]["organization"]["name"], "Acme",
        "{body}"
    );
    assert_eq!(body["shaped"]["data"]["user"], Value::Null, "{body}");
    assert_eq!(body["data"]["role"], "member", "{body}");

    // With users:read too, the email.
    stack
        .data_as(
            &ada.access,
            "mutation($id: ID!) { updateInstallationScopes(installationId: $id, scopes: [\"organizations:read\", \"users:read\"]) { grantedScopes } }",
            json!({ "id": installation }),
        )
        .await;
    add("linus@acme.test").await;
    let received = receiver.wait_for(2, Duration::from_secs(10)).await;
    let body = received[1].json();
    assert_eq!(
        body["shaped"]["data"]["user"]["email"], "linus@acme.test",
        "{body}"
    );
    assert_eq!(
        body["shaped"]["data"]["organization"]["name"], "Acme",
        "{body}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn profile_and_organization_changes_reach_apps_granted_to_read_them() {
    let World {
        stack,
        receiver,
        app_id,
        ..
    } = world_on(
        TestStack::start().await,
        json!(["user.created", "user.updated", "organization.updated"]),
    )
    .await;
    let (ada, acme) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    let (bob, bobco) = stack.owner_of("bob@bobco.test", "Bobco", "bobco").await;
    let installation = stack.install(&ada, &app_id).await;
    let profile =
        "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { name avatarUrl } }";
    let rename = "mutation($id: ID!, $i: UpdateOrganizationInput!) { updateOrganization(id: $id, input: $i) { name slug } }";

    // Granted `users:read`: Ada's new name and picture reach the app, once.
    let changed = json!({ "i": { "name": "Ada L.", "avatarUrl": "https://pics.test/ada.png" } });
    let data = stack.data_as(&ada.access, profile, changed.clone()).await;
    assert_eq!(
        data["updateProfile"],
        json!({ "name": "Ada L.", "avatarUrl": "https://pics.test/ada.png" })
    );
    // The same again changes nothing and announces nothing; bad input changes nothing either.
    stack.data_as(&ada.access, profile, changed).await;
    for (input, message) in [
        (
            json!({ "avatarUrl": "http://pics.test/ada.png" }),
            "avatarUrl must be an https URL",
        ),
        (json!({ "name": "  " }), "user name must be 1 to 200"),
    ] {
        let body = stack
            .gql_as(&ada.access, profile, json!({ "i": input }))
            .await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
        assert!(body.to_string().contains(message), "{body}");
    }
    // Without `organizations:read`, a new name for Acme is not the app's business.
    stack
        .data_as(
            &ada.access,
            rename,
            json!({ "id": acme, "i": { "name": "Acme Inc" } }),
        )
        .await;
    stack
        .data_as(
            &ada.access,
            "mutation($id: ID!) { updateInstallationScopes(installationId: $id, scopes: [\"users:read\", \"organizations:read\"]) { grantedScopes } }",
            json!({ "id": installation }),
        )
        .await;
    // A taken slug fails as a whole: no event.
    let body = stack
        .gql_as(
            &ada.access,
            rename,
            json!({ "id": acme, "i": { "name": "Acme Two", "slug": "bobco" } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"], "{body}");
    // Only owners and admins rename; Bob is neither in Acme.
    let body = stack
        .gql_as(
            &bob.access,
            rename,
            json!({ "id": acme, "i": { "name": "Bob's now" } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    stack
        .data_as(
            &ada.access,
            rename,
            json!({ "id": acme, "i": { "name": "Acme Corp", "slug": "acme-corp" } }),
        )
        .await;
    // Nothing from an organization that did not install the app.
    stack
        .data_as(
            &bob.access,
            rename,
            json!({ "id": bobco, "i": { "name": "Bobco Ltd" } }),
        )
        .await;
    stack
        .data_as(&bob.access, profile, json!({ "i": { "name": "Robert" } }))
        .await;

    receiver.wait_for(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut received: Vec<Value> = receiver.received().iter().map(|r| r.json()).collect();
    received.sort_by_key(|b| b["sequence"].as_i64());
    let seen: Vec<(&str, &Value, &Value)> = received
        .iter()
        .map(|b| {
            (
                b["type"].as_str().unwrap_or_default(),
                &b["organization_id"],
                &b["data"],
            )
        })
        .collect();
    let acme = json!(acme);
    assert_eq!(seen.len(), 2, "{received:?}");
    assert_eq!(seen[0].0, "user.updated");
    assert_eq!(seen[0].1, &acme);
    assert_eq!(seen[0].2["name"], "Ada L.");
    assert_eq!(seen[0].2["avatar_url"], "https://pics.test/ada.png");
    assert_eq!(seen[0].2["email"], "ada@acme.test");
    assert_eq!(seen[1].0, "organization.updated");
    assert_eq!(seen[1].2["name"], "Acme Corp");
    assert_eq!(seen[1].2["slug"], "acme-corp");
    // Every sign-up recorded `user.created` once, in no organization: no app heard it.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let created = nexus_kit::outbox::entity::Entity::find()
        .filter(nexus_kit::outbox::entity::Column::EventType.eq("user.created"))
        .order_by_asc(nexus_kit::outbox::entity::Column::CreatedAt)
        .all(&stack.stack.db)
        .await
        .expect("read");
    let emails: Vec<&str> = created
        .iter()
        .filter(|e| e.organization_id.is_none())
        .filter_map(|e| e.data["email"].as_str())
        .filter(|email| email.ends_with("@acme.test") || email.ends_with("@bobco.test"))
        .collect();
    assert_eq!(emails, ["ada@acme.test", "bob@bobco.test"]);
    stack.stop().await;
}

#[tokio::test]
async fn a_license_that_runs_out_is_announced_once_and_again_after_a_renewal_runs_out() {
    let World {
        stack,
        developer,
        receiver,
        app_id,
        ..
    } = world_on(TestStack::start().await, json!(["license.expired"])).await;
    let (_ada, acme) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    let soon = || (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let issue = |kind: &str, expires: Option<String>| {
        let input = json!({ "i": { "appId": app_id, "organizationId": acme, "kind": kind,
                                   "maxActivations": 1, "expiresAt": expires } });
        let (stack, token) = (&stack, developer.access.clone());
        async move {
            stack
                .data_as(
                    &token,
                    "mutation($i: IssueLicenseInput!) { issueLicense(input: $i) { license { id } } }",
                    input,
                )
                .await["issueLicense"]["license"]["id"]
                .clone()
        }
    };
    let license = issue("SUBSCRIPTION", Some(soon())).await;
    // A license that never expires, and one revoked before it would: neither is announced.
    issue("PURCHASE", None).await;
    let revoked = issue("PURCHASE", Some(soon())).await;
    stack
        .data_as(
            &developer.access,
            "mutation($id: ID!) { revokeLicense(id: $id) { status } }",
            json!({ "id": revoked }),
        )
        .await;
    let received = receiver.wait_for(1, Duration::from_secs(10)).await;
    // The job looks every 200 ms here: a second announcement would have come by now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 1, "{:?}", receiver.received());
    let body = received[0].json();
    assert_eq!(body["type"], "license.expired", "{body}");
    assert_eq!(body["data"]["license_id"], license);
    assert_eq!(body["data"]["status"], "expired");

    // Renewed, it runs out again: announced again.
    stack
        .data_as(
            &developer.access,
            "mutation($id: ID!, $at: DateTime!) { renewLicense(id: $id, expiresAt: $at) { status } }",
            json!({ "id": license, "at": soon() }),
        )
        .await;
    receiver.wait_for(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let types: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(types, ["license.expired", "license.expired"]);
    stack.stop().await;
}

#[tokio::test]
async fn deleting_an_account_or_an_organization_tells_the_apps_installed_there() {
    use sea_orm::EntityTrait;
    let World {
        stack,
        receiver,
        app_id,
        ..
    } = world_on(
        TestStack::start().await,
        json!([
            "user.deleted",
            "member.removed",
            "organization.deleted",
            "app.uninstalled"
        ]),
    )
    .await;
    let (ada, acme) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    let grace = stack.sign_up("grace@acme.test", "Grace").await;
    let bob = stack.sign_up("bob@acme.test", "Bob").await;
    for (email, role) in [("grace@acme.test", "MEMBER"), ("bob@acme.test", "ADMIN")] {
        stack.add_member(&ada, &acme, email, role).await;
    }
    let installation = stack.install(&ada, &app_id).await;
    stack
        .data_as(
            &ada.access,
            "mutation($id: ID!) { updateInstallationScopes(installationId: $id, scopes: [\"users:read\", \"organizations:read\"]) { grantedScopes } }",
            json!({ "id": installation }),
        )
        .await;
    let delete_account = "mutation($p: String!) { deleteAccount(password: $p) }";
    let delete_organization = "mutation($id: ID!, $slug: String!) { deleteOrganization(id: $id, confirmSlug: $slug) { slug } }";

    // Grace leaves for good; a wrong password deletes nothing.
    let body = stack
        .gql_as(&grace.access, delete_account, json!({ "p": "not it" }))
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    let data = stack
        .data_as(&grace.access, delete_account, json!({ "p": PASSWORD }))
        .await;
    assert_eq!(data["deleteAccount"], true);
    let (_, body) = stack
        .post(
            "mutation($i: LogInInput!) { logIn(input: $i) { accessToken } }",
            json!({ "i": { "email": "grace@acme.test", "password": PASSWORD } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    // Acme's only owner cannot leave it ownerless; an admin cannot delete it; a wrong slug
    // deletes nothing.
    for (who, mutation, variables, code, message) in [
        (
            &ada,
            delete_account,
            json!({ "p": PASSWORD }),
            "CONFLICT",
            "only owner of `acme`",
        ),
        (
            &bob,
            delete_organization,
            json!({ "id": acme, "slug": "acme" }),
            "FORBIDDEN",
            "owners",
        ),
        (
            &ada,
            delete_organization,
            json!({ "id": acme, "slug": "acme-typo" }),
            "BAD_USER_INPUT",
            "(`acme`)",
        ),
    ] {
        let body = stack.gql_as(&who.access, mutation, variables).await;
        assert_eq!(error_codes(&body), [code], "{body}");
        assert!(body.to_string().contains(message), "{body}");
    }
    let data = stack
        .data_as(
            &ada.access,
            delete_organization,
            json!({ "id": acme, "slug": "acme" }),
        )
        .await;
    assert_eq!(data["deleteOrganization"]["slug"], "acme");

    receiver.wait_for(4, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut received: Vec<Value> = receiver.received().iter().map(Received::json).collect();
    received.sort_by_key(|b| b["sequence"].as_i64());
    let types: Vec<&str> = received
        .iter()
        .map(|b| b["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        types,
        [
            "user.deleted",
            "member.removed",
            "organization.deleted",
            "app.uninstalled"
        ]
    );
    assert_eq!(received[0]["data"]["user_id"], grace.user_id.as_str());
    assert_eq!(received[1]["data"]["user_id"], grace.user_id.as_str());
    assert_eq!(received[2]["data"]["slug"], "acme");
    assert_eq!(received[3]["data"]["status"], "uninstalled");
    let ended = nexus_apps::entity::installation::Entity::find_by_id(
        uuid::Uuid::parse_str(&installation).expect("uuid"),
    )
    .one(&stack.stack.db)
    .await
    .expect("read")
    .expect("kept, ended");
    assert_eq!(
        ended.status,
        nexus_apps::entity::installation::InstallationStatus::Uninstalled
    );
    // Owning nothing now, Ada may go too.
    let data = stack
        .data_as(&ada.access, delete_account, json!({ "p": PASSWORD }))
        .await;
    assert_eq!(data["deleteAccount"], true);
    stack.stop().await;
}

#[tokio::test]
async fn an_answer_with_a_nul_byte_is_recorded_and_retried_like_any_other() {
    let World {
        stack,
        developer,
        receiver,
        app_id,
        ..
    } = retrying_within_seconds().await;
    // PostgreSQL's text refuses NUL: stored as is, the attempt could never be recorded.
    receiver.answer_next_with(500, b"bad\0answer");
    stack
        .data_as(
            &developer.access,
            "mutation($app: ID!) { sendTestWebhook(appId: $app) { id } }",
            json!({ "app": app_id }),
        )
        .await;
    receiver.wait_for(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let data = stack
        .data_as(&developer.access, DELIVERIES, json!({ "id": app_id }))
        .await;
    let node = &data["app"]["webhookDeliveries"]["edges"][0]["node"];
    assert_eq!(node["status"], "DELIVERED", "{data}");
    assert_eq!(node["attempts"][0]["statusCode"], 500, "{data}");
    assert_eq!(
        node["attempts"][0]["responseExcerpt"], "bad\u{FFFD}answer",
        "{data}"
    );
    assert_eq!(receiver.received().len(), 2);
    stack.stop().await;
}

/// Fails today's main: a `v1a` signature (the platform's, which anyone can check) vouched for a
/// body whose `data` the app's own payload query wrote, and named no recipient, so app A could
/// forge platform-signed claims and replay its deliveries to app B.
#[tokio::test]
async fn a_delivery_speaks_only_for_the_platform_and_only_to_its_recipient() {
    let stack = TestStack::start().await;
    let developer = stack.sign_up("dev@apps.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let receiver = Receiver::start().await;
    let crm = FakeApp::extending_user("crm").await;
    let mut manifest = manifest("crm", &crm.url(), &["users:read", "organizations:read"]);
    // Aliases make the app's own subgraph write keys that look like platform facts.
    let forging = "query($userId: ID!) { app_id: user(id: $userId) { organization_id: crmProfile { visits } } }";
    manifest["webhooks"] = json!({ "endpoint": receiver.url(), "events": [
        "app.installed", { "event": "member.added", "query": forging }
    ] });
    let (crm_id, _) = stack.publish_app(&developer, &admin, &manifest).await;
    let (ada, acme) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    stack.install(&ada, &crm_id).await;
    stack.sign_up("grace@acme.test", "Grace").await;
    stack
        .add_member(&ada, &acme, "grace@acme.test", "MEMBER")
        .await;
    let mut received = receiver.wait_for(2, Duration::from_secs(10)).await;
    received.sort_by_key(|r| r.json()["sequence"].as_i64());

    for delivery in &received {
        let body = delivery.json();
        assert_eq!(
            body["recipient"],
            json!({ "app_id": crm_id, "namespace": "crm" }),
            "{body}"
        );
        assert_eq!(body["organization_id"], acme.as_str(), "{body}");
    }
    let member = received[1].json();
    assert_eq!(member["type"], "member.added", "{member}");
    // The platform's data, untouched; what the app's query answered, apart.
    assert_eq!(member["data"]["role"], "member", "{member}");
    assert!(member["data"].get("app_id").is_none(), "{member}");
    assert!(
        member["shaped"]["data"]["app_id"].is_object(),
        "the forged keys are under `shaped`: {member}"
    );

    // App B (the example analytics app, which checks `v1a` against the JWKS) is fed app A's
    // deliveries exactly as A received them: the signature is the platform's, but the delivery
    // is not addressed to B, so B refuses it and handles nothing.
    let b = stack.start_example_analytics().await;
    let client = reqwest::Client::new();
    for delivery in &received {
        let mut request = client
            .post(format!("http://{b}/webhooks"))
            .header("content-type", "application/json")
            .body(delivery.body.clone());
        for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            request = request.header(name, delivery.header(name));
        }
        let answer = request.send().await.expect("app B answers");
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap_or_default();
        assert_eq!(status, 403, "{text}");
        assert!(text.contains("addressed to another app"), "{text}");
    }
    let handled: Value = client
        .get(format!("http://{b}/webhooks"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("JSON");
    assert_eq!(handled, json!([]));
    stack.stop().await;
}

/// Fails today's main: a replay reset the app's failed deliveries of every organization — one
/// that had uninstalled the app since included — read every organization's events of the
/// platform under the write lock, could be asked for by a draft app and as often as wished.
#[tokio::test]
async fn a_replay_reaches_only_organizations_that_still_have_the_app_and_is_limited() {
    let stack = TestStack::start_configured(|config, _| {
        config.webhooks.retry_schedule_seconds = vec![1];
    })
    .await;
    let developer = stack.sign_up("dev@apps.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let receiver = Receiver::start().await;
    let app = FakeApp::analytics().await;
    let (app_id, _) = publish_with_webhooks(
        &stack,
        &developer,
        &admin,
        &app,
        &receiver,
        json!(["member.added"]),
    )
    .await;
    let dev = developer.access.as_str();
    let replay = || async {
        stack
            .gql_as(
                dev,
                "mutation($app: ID!, $since: DateTime!) { replayWebhooks(appId: $app, since: $since) }",
                json!({ "app": app_id, "since": (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339() }),
            )
            .await
    };
    // acme and beta install the app; a member joins each while the endpoint fails.
    let mut installations = Vec::new();
    let mut owners = Vec::new();
    for (email, name, slug) in [
        ("ada@acme.test", "Acme", "acme"),
        ("bea@beta.test", "Beta", "beta"),
    ] {
        let (owner, organization) = stack.owner_of(email, name, slug).await;
        let data = stack
            .data_as(
                &owner.access,
                "mutation($app: ID!) { installApp(appId: $app, scopes: [\"users:read\", \"organizations:read\"]) { id } }",
                json!({ "app": app_id }),
            )
            .await;
        installations.push(
            data["installApp"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        owners.push((owner, organization));
    }
    receiver.answer_next(&[500, 500, 500, 500]);
    for (i, (owner, organization)) in owners.iter().enumerate() {
        let email = format!("member{i}@x.test");
        stack.sign_up(&email, "Member").await;
        stack
            .add_member(owner, organization, &email, "MEMBER")
            .await;
    }
    let failed = format!(
        "{{ app(id: \"{app_id}\") {{ webhookDeliveries(first: 10, status: FAILED) {{ edges {{ node {{ id }} }} }} }} }}"
    );
    // (Two attempts each, a second apart; "within 20 s" only bounds a failing test.)
    stack
        .eventually(dev, &failed, Duration::from_secs(20), |body| {
            body["data"]["app"]["webhookDeliveries"]["edges"]
                .as_array()
                .is_some_and(|e| e.len() == 2)
        })
        .await;
    // beta uninstalls the app; the endpoint works again.
    let uninstalled = stack
        .gql_as(
            &owners[1].0.access,
            "mutation($id: ID!) { uninstallApp(installationId: $id) { id } }",
            json!({ "id": installations[1] }),
        )
        .await;
    assert!(uninstalled["errors"].is_null(), "{uninstalled}");
    let before = receiver.received().len();

    let body = replay().await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["replayWebhooks"], 1, "acme's only: {body}");
    let received = receiver.wait_for(before + 1, Duration::from_secs(10)).await;
    let replayed: Vec<Value> = received[before..].iter().map(|r| r.json()).collect();
    assert_eq!(replayed.len(), 1, "{replayed:?}");
    assert_eq!(replayed[0]["organization_id"], owners[0].1.as_str());

    // Once a minute per app.
    let body = replay().await;
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body}");
    assert!(
        body["errors"][0]["extensions"]["retryAfterSeconds"]
            .as_u64()
            .is_some_and(|s| (1..=60).contains(&s)),
        "{body}"
    );

    // A draft app (a version in review, nothing live) has nothing to replay.
    let draft = FakeApp::extending_user("drafty").await;
    let mut manifest = manifest("drafty", &draft.url(), &["users:read"]);
    manifest["webhooks"] = json!({ "endpoint": receiver.url(), "events": ["app.installed"] });
    let submitted = stack
        .data_as(
            dev,
            "mutation($m: JSON!) { submitAppVersion(manifest: $m) { appVersion { app { id } } } }",
            json!({ "m": manifest }),
        )
        .await;
    let draft_id = submitted["submitAppVersion"]["appVersion"]["app"]["id"].clone();
    let body = stack
        .gql_as(
            dev,
            "mutation($app: ID!) { replayWebhooks(appId: $app, since: \"2026-01-01T00:00:00Z\") }",
            json!({ "app": draft_id }),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"], "{body}");
    stack.stop().await;
}

/// Fails today's main: rotating a webhook secret, enabling an endpoint and replaying left no
/// entry.
#[tokio::test]
async fn a_developers_changes_to_their_endpoint_are_audited() {
    let w = world_on(TestStack::start().await, json!(["app.installed"])).await;
    let log = AuditLog::open(&w.stack).await;
    let dev = w.developer.access.as_str();
    let mark = log.mark().await;
    for (query, variables) in [
        (
            "mutation($app: ID!) { rotateWebhookSecret(appId: $app) }",
            json!({ "app": w.app_id }),
        ),
        (
            "mutation($app: ID!) { enableWebhookEndpoint(appId: $app) { enabled } }",
            json!({ "app": w.app_id }),
        ),
        (
            "mutation($app: ID!) { replayWebhooks(appId: $app, since: \"2026-01-01T00:00:00Z\") }",
            json!({ "app": w.app_id }),
        ),
    ] {
        let body = w.stack.gql_as(dev, query, variables).await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let appended = log.since(mark).await;
    assert_eq!(
        actions(&appended),
        [
            "webhook_endpoint.secret_rotated",
            "webhook_endpoint.enabled",
            "webhooks.replayed"
        ]
    );
    for entry in &appended {
        assert_entry(
            entry,
            &entry.action,
            ("user", Some(&w.developer.user_id)),
            None,
            Some(("app", &w.app_id)),
        );
    }
    assert_eq!(details(&appended[2])["due"], 0);
    w.stack.stop().await;
}
