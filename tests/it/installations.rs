//! Installations gate apps: only organizations that installed an app see its fields, the app never
//! receives other organizations' requests, and it gets a context token minted for it instead of
//! the client's token.

use std::time::{Duration, Instant};

use crate::common::{FakeApp, Session, TestStack, error_codes};
use nexus_kit::token::{CORE_AUDIENCE, TokenType};
use serde_json::{Value, json};

const PROFILE: &str = "{ me { email analyticsProfile { visits } } }";
/// Installation changes take effect within a second; the tests allow some slack.
const WITHIN: Duration = Duration::from_secs(5);
const INSTALL: &str = "mutation($app: ID!, $scopes: [String!]) { installApp(appId: $app, scopes: $scopes) { id status grantedScopes } }";

struct World {
    stack: TestStack,
    app: FakeApp,
    app_id: String,
    developer: Session,
    ada: Session,
    bob: Session,
}

async fn world() -> World {
    world_on(TestStack::start().await).await
}

async fn world_on(stack: TestStack) -> World {
    let developer = stack.sign_up("dev@apps.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let app = FakeApp::analytics().await;
    let manifest = json!({
        "namespace": "analytics", "name": "Analytics", "version": "1.0.0", "category": "insights",
        "author": { "name": "Dev", "email": "dev@apps.test" }, "pricing": { "model": "free" },
        "graphql": { "subgraph_url": app.url() },
        "scopes": { "required": ["users:read"], "optional": ["organizations:read", "apps:read"] }
    });
    let (app_id, _) = stack.publish_app(&developer, &admin, &manifest).await;
    let (ada, _) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    let (bob, _) = stack.owner_of("bob@bobco.test", "Bobco", "bobco").await;
    // The approved supergraph is served once the router has reloaded.
    stack
        .eventually(&ada.access, PROFILE, Duration::from_secs(20), |b| {
            error_codes(b) == ["APP_NOT_INSTALLED"]
        })
        .await;
    World {
        stack,
        app,
        app_id,
        developer,
        ada,
        bob,
    }
}

#[tokio::test]
async fn only_installing_organizations_reach_the_app() {
    let World {
        stack,
        app,
        app_id,
        ada,
        bob,
        ..
    } = world().await;

    // Not installed: null plus APP_NOT_INSTALLED, the core fields intact, the app never called.
    let (status, body) = stack.post_as(&ada.access, PROFILE, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["me"]["email"], "ada@acme.test", "{body}");
    assert_eq!(body["data"]["me"]["analyticsProfile"], Value::Null);
    assert_eq!(error_codes(&body), ["APP_NOT_INSTALLED"]);
    assert_eq!(app.entity_calls().len(), 0);

    // Scopes must come from the manifest, and include every required one.
    let body = stack
        .gql_as(
            &ada.access,
            INSTALL,
            json!({ "app": app_id, "scopes": ["licenses:read", "users:read"] }),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    let body = stack
        .gql_as(
            &ada.access,
            INSTALL,
            json!({ "app": app_id, "scopes": ["organizations:read"] }),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("requires users:read"),
        "{body}"
    );
    let data = stack
        .data_as(
            &ada.access,
            INSTALL,
            json!({ "app": app_id, "scopes": null }),
        )
        .await;
    assert_eq!(data["installApp"]["grantedScopes"], json!(["users:read"]));
    let installation = data["installApp"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Installed: ada's organization sees the app's field.
    let body = stack
        .eventually(&ada.access, PROFILE, WITHIN, |b| {
            b["data"]["me"]["analyticsProfile"]["visits"] == 42
        })
        .await;
    assert!(body.get("errors").is_none(), "{body}");

    // The app got a context token for itself, never ada's token.
    let calls = app.entity_calls();
    let token = calls
        .last()
        .and_then(|c| c.authorization.clone())
        .and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned))
        .expect("the app received a bearer token");
    assert_ne!(token, ada.access);
    assert!(
        stack.stack.keys.verify(&token, CORE_AUDIENCE).is_err(),
        "not usable against the core"
    );
    let claims = stack
        .stack
        .keys
        .verify(&token, "analytics")
        .expect("verifies for the app");
    assert_eq!(claims.typ, TokenType::Context);
    assert_eq!(claims.sub, ada.user_id);
    assert_eq!(claims.org, ada.organization);
    assert_eq!(claims.inst.as_deref(), Some(installation.as_str()));
    assert_eq!(claims.scopes, ["users:read"]);
    assert!(claims.exp - claims.iat <= 300);

    // Bob's organization did not install it: refused, and the app receives nothing of his.
    let before = app.entity_calls().len();
    let (_, body) = stack.post_as(&bob.access, PROFILE, json!({})).await;
    assert_eq!(error_codes(&body), ["APP_NOT_INSTALLED"], "{body}");
    assert_eq!(body["data"]["me"]["email"], "bob@bobco.test");
    assert_eq!(
        app.entity_calls().len(),
        before,
        "the app was called for bob"
    );
    // Anonymous callers cannot reach it either, and bob cannot uninstall ada's installation.
    let body = stack
        .gql_as(
            &bob.access,
            "mutation($id: ID!) { uninstallApp(installationId: $id) { id } }",
            json!({ "id": installation }),
        )
        .await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");

    // Uninstalled: refused again within a second or so.
    let data = stack
        .data_as(
            &ada.access,
            "mutation($id: ID!) { uninstallApp(installationId: $id) { status } }",
            json!({ "id": installation }),
        )
        .await;
    assert_eq!(data["uninstallApp"]["status"], "UNINSTALLED");
    let uninstalled = Instant::now();
    stack
        .eventually(&ada.access, PROFILE, WITHIN, |b| {
            error_codes(b) == ["APP_NOT_INSTALLED"]
        })
        .await;
    println!("uninstall took effect after {:?}", uninstalled.elapsed());
    stack.stop().await;
}

/// POSTs to `/oauth/token` on the router's public port.
async fn token_request(stack: &TestStack, body: Value) -> (u16, Value) {
    let url = stack
        .stack
        .graphql_url()
        .replace("/graphql", "/oauth/token");
    let response = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("answers");
    (
        response.status().as_u16(),
        response.json().await.unwrap_or_default(),
    )
}

#[tokio::test]
async fn installation_tokens_act_for_one_organization_within_its_scopes() {
    let World {
        stack,
        app_id,
        developer,
        ada,
        bob,
        ..
    } = world().await;
    let rotate = "mutation($app: ID!) { rotateAppClientSecret(appId: $app) }";
    let body = stack
        .gql_as(&ada.access, rotate, json!({ "app": app_id }))
        .await;
    assert_eq!(
        error_codes(&body),
        ["FORBIDDEN"],
        "only the developer: {body}"
    );
    let data = stack
        .data_as(&developer.access, rotate, json!({ "app": app_id }))
        .await;
    let secret = data["rotateAppClientSecret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let data = stack
        .data_as(
            &ada.access,
            INSTALL,
            json!({ "app": app_id, "scopes": ["users:read", "organizations:read", "apps:read"] }),
        )
        .await;
    let installation = data["installApp"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let request = |secret: &str, installation: &str| json!({ "grant_type": "client_credentials", "client_id": app_id, "client_secret": secret, "installation_id": installation });
    let (status, body) = token_request(&stack, request(&secret, &installation)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "apps:read organizations:read users:read");
    let token = body["access_token"].as_str().unwrap_or_default().to_owned();

    // The app reads ada's organization, its members' emails, and nothing of bob's.
    let query = "query($org: ID!) { organization(id: $org) { name members { edges { node { user { email } } } } } \
                 other: organization(slug: \"bobco\") { name } }";
    let data = stack
        .data_as(&token, query, json!({ "org": ada.organization }))
        .await;
    assert_eq!(data["organization"]["name"], "Acme");
    assert_eq!(
        data["organization"]["members"]["edges"][0]["node"]["user"]["email"],
        "ada@acme.test"
    );
    assert_eq!(data["other"], Value::Null);
    assert!(!data.to_string().contains("bob"), "{data}");
    let own = "query($id: ID!) { installation(id: $id) { id grantedScopes } }";
    let data = stack
        .data_as(&token, own, json!({ "id": installation }))
        .await;
    assert_eq!(data["installation"]["id"], installation.as_str(), "{data}");
    // It is not a user.
    let body = stack.gql_as(&token, "{ me { email } }", json!({})).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");

    // Bad requests get OAuth errors (RFC 6749 §5.2).
    let mut wrong_grant = request(&secret, &installation);
    wrong_grant["grant_type"] = json!("password");
    for (what, sent, status, error) in [
        (
            "a wrong secret",
            request("nxs_wrong", &installation),
            401,
            "invalid_client",
        ),
        (
            "no such installation",
            request(&secret, &bob.user_id),
            400,
            "invalid_grant",
        ),
        (
            "a grant it does not offer",
            wrong_grant,
            400,
            "unsupported_grant_type",
        ),
    ] {
        let (got, body) = token_request(&stack, sent).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(error)),
            "{what}: {body}"
        );
    }

    // Fewer scopes, fewer reads: without `organizations:read` the organization is hidden.
    stack
        .data_as(
            &ada.access,
            "mutation($id: ID!) { updateInstallationScopes(installationId: $id, scopes: [\"users:read\"]) { grantedScopes } }",
            json!({ "id": installation }),
        )
        .await;
    let (_, body) = token_request(&stack, request(&secret, &installation)).await;
    let narrow = body["access_token"].as_str().unwrap_or_default().to_owned();
    let data = stack
        .data_as(&narrow, query, json!({ "org": ada.organization }))
        .await;
    assert_eq!(data["organization"], Value::Null, "{data}");
    // … and without `apps:read` its installations.
    let data = stack
        .data_as(&narrow, own, json!({ "id": installation }))
        .await;
    assert_eq!(data["installation"], Value::Null, "{data}");

    // The standard way (RFC 6749): form-encoded, the client by HTTP Basic or in the body.
    let url = stack
        .stack
        .graphql_url()
        .replace("/graphql", "/oauth/token");
    let client = reqwest::Client::new();
    let grant = [
        ("grant_type", "client_credentials"),
        ("installation_id", installation.as_str()),
    ];
    let posted = [
        ("grant_type", "client_credentials"),
        ("installation_id", installation.as_str()),
        ("client_id", app_id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let no_installation = [("grant_type", "client_credentials")];
    for (what, basic, fields, status, error) in [
        ("HTTP Basic", Some(secret.as_str()), &grant[..], 200, None),
        ("client_secret_post", None, &posted[..], 200, None),
        (
            "Basic, wrong secret",
            Some("nxs_wrong"),
            &grant[..],
            401,
            Some("invalid_client"),
        ),
        (
            "no client at all",
            None,
            &grant[..],
            401,
            Some("invalid_client"),
        ),
        (
            "authenticated twice",
            Some(secret.as_str()),
            &posted[..],
            400,
            Some("invalid_request"),
        ),
        (
            "no installation_id",
            Some(secret.as_str()),
            &no_installation[..],
            400,
            Some("invalid_request"),
        ),
    ] {
        let mut sent = client.post(&url).form(fields);
        if let Some(secret) = basic {
            sent = sent.basic_auth(&app_id, Some(secret));
        }
        let response = sent.send().await.expect("answers");
        let got = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (cache, challenge) = (header("cache-control"), header("www-authenticate"));
        let body: Value = response.json().await.unwrap_or_default();
        assert_eq!(
            (got, body["error"].as_str()),
            (status, error),
            "{what}: {body}"
        );
        assert_eq!(cache, "no-store", "{what}");
        assert_eq!(
            challenge.starts_with("Basic"),
            got == 401 && basic.is_some(),
            "{what}: {challenge}"
        );
        if got == 200 {
            assert_eq!(body["token_type"], "Bearer", "{what}");
        }
    }
    // An off-the-shelf client (Python's authlib) finds the endpoint in the metadata and gets a
    // token both ways.
    if std::env::var("NEXUS_TEST_AUTHLIB").as_deref() == Ok("1") {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/oauth_client_credentials.py"
        );
        for method in ["client_secret_basic", "client_secret_post"] {
            let output = tokio::process::Command::new("python3")
                .arg(script)
                .arg(stack.stack.keys.issuer())
                .arg(&app_id)
                .arg(&secret)
                .arg(&installation)
                .arg(method)
                .output()
                .await
                .expect("python3 runs");
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "{method}: {stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let token: Value = serde_json::from_str(&stdout).expect("json");
            assert_eq!(token["scope"], "users:read", "{method}: {token}");
            let data = stack
                .data_as(
                    token["access_token"].as_str().unwrap_or_default(),
                    "{ __typename }",
                    json!({}),
                )
                .await;
            assert_eq!(data["__typename"], "Query", "{method}");
        }
    } else {
        println!("skipped: set NEXUS_TEST_AUTHLIB=1 with `pip install authlib requests`");
    }

    // A rotated secret retires the old one.
    stack
        .data_as(&developer.access, rotate, json!({ "app": app_id }))
        .await;
    let (status, _) = token_request(&stack, request(&secret, &installation)).await;
    assert_eq!(status, 401);
    stack.stop().await;
}

#[tokio::test]
async fn an_app_that_is_down_costs_only_its_own_fields() {
    let World {
        stack,
        mut app,
        app_id,
        ada,
        ..
    } = world().await;
    install_and_see(&stack, &ada, &app_id).await;

    app.stop().await;
    let query =
        "{ me { email analyticsProfile { visits } } organizations { edges { node { slug } } } }";
    let (status, body) = stack.post_as(&ada.access, query, json!({})).await;
    assert_eq!(status, 200, "{body}");
    // The core's fields are intact; the app's are null with an error naming the app.
    assert_eq!(body["data"]["me"]["email"], "ada@acme.test", "{body}");
    assert_eq!(
        body["data"]["organizations"]["edges"][0]["node"]["slug"],
        "acme"
    );
    assert_eq!(
        body["data"]["me"]["analyticsProfile"],
        Value::Null,
        "{body}"
    );
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 1, "{body}");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("analytics"),
        "{body}"
    );
    assert_eq!(
        errors[0]["extensions"]["code"], "SUBREQUEST_HTTP_ERROR",
        "{body}"
    );
    stack.stop().await;
}

/// Installs the app in `user`'s organization and waits until the router serves them its field.
async fn install_and_see(stack: &TestStack, user: &Session, app_id: &str) {
    stack.install(user, app_id).await;
    stack
        .eventually(&user.access, PROFILE, WITHIN, |b| {
            b["data"]["me"]["analyticsProfile"]["visits"] == 42
        })
        .await;
}

#[tokio::test]
async fn a_request_over_the_routers_timeout_is_answered_504_at_the_timeout() {
    let World {
        stack,
        app,
        app_id,
        ada,
        ..
    } = world_on(
        TestStack::start_with_router_yaml("traffic_shaping:\n  router:\n    timeout: 2s\n").await,
    )
    .await;
    install_and_see(&stack, &ada, &app_id).await;
    // Under the 10 s per-subgraph timeout, over the whole request's 2 s.
    app.slow_down(Duration::from_secs(6));
    let started = Instant::now();
    let (status, body) = stack.post_as(&ada.access, PROFILE, json!({})).await;
    let took = started.elapsed();
    assert_eq!(status, 504, "{body}");
    assert_eq!(error_codes(&body), ["GATEWAY_TIMEOUT"], "{body}");
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    stack.stop().await;
}

#[tokio::test]
async fn a_slow_app_times_out_without_holding_up_the_rest() {
    let World {
        stack,
        app,
        app_id,
        ada,
        ..
    } = world().await;
    install_and_see(&stack, &ada, &app_id).await;

    // Slower than the router's 10 s per-subgraph timeout (router.yaml's traffic shaping).
    app.slow_down(Duration::from_secs(30));
    let (status, body) = stack.post_as(&ada.access, PROFILE, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["email"], "ada@acme.test", "{body}");
    assert_eq!(
        body["data"]["me"]["analyticsProfile"],
        Value::Null,
        "{body}"
    );
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["extensions"]["code"], "GATEWAY_TIMEOUT", "{body}");
    assert_eq!(errors[0]["extensions"]["service"], "analytics", "{body}");
    stack.stop().await;
}
