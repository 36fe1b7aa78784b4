//! Hostile apps get nothing. Each hostile design goes through the real submission path (a
//! loopback subgraph serving the SDL) and is rejected with a named rule; each boundary — the gate
//! and token types, suspension, uninstall, scope reduction, `createInstallation`, DNS rebinding —
//! is tried through the router, with the app's own request counter proving what it received.

use std::time::Duration;

use crate::common::{FakeApp, Session, TestStack, error_codes, first_error_message, manifest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

const SUBMIT: &str = "mutation($m: JSON!) { submitAppVersion(manifest: $m) { \
    appVersion { status } errors { code message type field path } } }";

/// Installations and token revocations take effect within this.
const WITHIN: Duration = Duration::from_secs(5);

fn fed(imports: &str) -> String {
    format!(
        r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: [{imports}])"#
    )
}

/// Submits `sdl` (served by a new loopback app) as the app `namespace`; returns the payload.
async fn submit(stack: &TestStack, developer: &Session, namespace: &str, sdl: String) -> Value {
    let app = FakeApp::start(sdl).await;
    let data = stack
        .data_as(
            &developer.access,
            SUBMIT,
            json!({ "m": manifest(namespace, &app.url(), &["users:read"]) }),
        )
        .await;
    data["submitAppVersion"].clone()
}

/// (code, type, field) of each error.
fn rules(payload: &Value) -> Vec<(String, Option<String>, Option<String>)> {
    payload["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let text = |k: &str| e[k].as_str().map(str::to_owned);
            (
                text("code").unwrap_or_default(),
                text("type"),
                text("field"),
            )
        })
        .collect()
}

fn rule(
    code: &str,
    ty: Option<&str>,
    field: Option<&str>,
) -> (String, Option<String>, Option<String>) {
    (
        code.to_owned(),
        ty.map(str::to_owned),
        field.map(str::to_owned),
    )
}

#[tokio::test]
async fn every_hostile_design_is_rejected_at_submission_with_a_named_rule() {
    let stack = TestStack::start().await;
    let developer = stack.sign_up("mallory@apps.test", "Mallory").await;
    let cases = [
        (
            "connectors: the router would call internal URLs itself, with the caller's token",
            "conn",
            r#"extend schema
                 @link(url: "https://specs.apollo.dev/federation/v2.10", import: ["@key"])
                 @link(url: "https://specs.apollo.dev/connect/v0.1", import: ["@connect", "@source"])
                 @source(name: "internal", http: { baseURL: "http://127.0.0.1:4001",
                         headers: [{ name: "authorization", from: "authorization" }] })
               type Query { connSecrets: String @connect(source: "internal", http: { GET: "/graphql" }, selection: "$") }"#
                .to_owned(),
            vec![
                rule("LINK_REFUSED", None, None),
                rule("RESTRICTED_DIRECTIVE", None, None),
                rule("RESTRICTED_DIRECTIVE", Some("Query"), Some("connSecrets")),
            ],
        ),
        (
            "@override imported as @takeover",
            "takeover",
            format!(
                "{}\ntype User @key(fields: \"id\") {{ id: ID! email: String @takeover(from: \"identity\") }}",
                fed(r#""@key", { name: "@override", as: "@takeover" }"#)
            ),
            vec![
                rule("RESTRICTED_DIRECTIVE", Some("User"), Some("email")),
                rule("CORE_FIELD_REDEFINED", Some("User"), Some("email")),
            ],
        ),
        (
            "federation linked under another prefix",
            "prefixed",
            r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", as: "fed", import: ["@key"])
               type User @key(fields: "id") { id: ID! prefixedEmail: String @fed__override(from: "identity") }"#
                .to_owned(),
            vec![rule("RESTRICTED_DIRECTIVE", Some("User"), Some("prefixedEmail"))],
        ),
        (
            "a core field in the key: every user's email sent to the app",
            "harvest",
            format!(
                "{}\ntype User @key(fields: \"id email\") {{ id: ID! email: String @external harvestScore: Int }}",
                fed(r#""@key", "@external""#)
            ),
            vec![
                rule("KEY_SELECTS_CORE_FIELD", Some("User"), None),
                rule("CORE_FIELD_REDEFINED", Some("User"), Some("email")),
            ],
        ),
        (
            "a core field required",
            "harvestb",
            format!(
                "{}\ntype User @key(fields: \"id\") {{ id: ID! harvestbScore: Int @requires(fields: \"email\") }}",
                fed(r#""@key", "@requires""#)
            ),
            vec![rule(
                "REQUIRES_SELECTS_CORE_FIELD",
                Some("User"),
                Some("harvestbScore"),
            )],
        ),
        (
            "a core field provided",
            "harvestc",
            format!(
                "{}\ntype Query {{ harvestcTop: [User] @provides(fields: \"email\") }}\n\
                 type User @key(fields: \"id\") {{ id: ID! }}",
                fed(r#""@key", "@provides""#)
            ),
            vec![rule(
                "PROVIDES_SELECTS_CORE_FIELD",
                Some("Query"),
                Some("harvestcTop"),
            )],
        ),
        (
            "hiding a core field",
            "hider",
            format!(
                "{}\ntype User @key(fields: \"id\") {{ id: ID! @inaccessible hiderScore: Int }}",
                fed(r#""@key", "@inaccessible""#)
            ),
            vec![rule("RESTRICTED_DIRECTIVE", Some("User"), Some("id"))],
        ),
        (
            "another namespace's names, and names of GraphQL's own",
            "crm",
            format!(
                "{}\ntype Query {{ crm2Deals: Int crmDeal: CrmDeal }}\n\
                 type Crm2Deal {{ id: ID }}\ntype CrmDeal {{ _secret: Int amount: Int }}",
                fed(r#""@key""#)
            ),
            vec![
                rule("FIELD_NOT_NAMESPACED", Some("Query"), Some("crm2Deals")),
                rule("TYPE_NOT_NAMESPACED", Some("Crm2Deal"), None),
                rule("RESERVED_NAME", Some("CrmDeal"), Some("_secret")),
            ],
        ),
        (
            "a renamed root type",
            "rooted",
            format!(
                "{}\nschema {{ query: RootedQuery }}\ntype RootedQuery {{ users: Int }}",
                fed(r#""@key""#)
            ),
            vec![rule("ROOT_TYPE_RENAMED", Some("RootedQuery"), None)],
        ),
    ];
    for (design, namespace, sdl, expected) in cases {
        let payload = submit(&stack, &developer, namespace, sdl).await;
        assert_eq!(
            payload["appVersion"]["status"], "REJECTED",
            "{design}: {payload}"
        );
        assert_eq!(rules(&payload), expected, "{design}: {payload}");
    }
    // Platform words and core subgraph names are not namespaces an app may take.
    for reserved in ["identity", "licensing", "federation", "connect"] {
        let payload = submit(&stack, &developer, reserved, fed(r#""@key""#)).await;
        assert_eq!(
            rules(&payload),
            [rule("MANIFEST_NAMESPACE", None, None)],
            "{reserved}: {payload}"
        );
        assert_eq!(payload["errors"][0]["path"], "/namespace");
    }
    // Nothing was published: the supergraph is the core's alone.
    let data = stack
        .data("{ __type(name: \"User\") { fields { name } } }", json!({}))
        .await;
    let fields = data["__type"]["fields"].to_string();
    for namespace in ["conn", "takeover", "prefixed", "harvest", "hider", "crm"] {
        assert!(!fields.contains(namespace), "{fields}");
    }
    stack.stop().await;
}

/// The claims of the bearer token an app received.
fn claims(authorization: Option<&str>) -> Value {
    let token = authorization
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or_default();
    let payload = token.split('.').nth(1).unwrap_or_default();
    URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}

struct TwoApps {
    stack: TestStack,
    developer: Session,
    admin: Session,
    ada: Session,
    acme: String,
    analytics: FakeApp,
    analytics_id: String,
    analytics_installation: String,
    crm: FakeApp,
    crm_id: String,
    crm_installation: String,
}

const BOTH: &str = "{ me { email analyticsProfile { visits } crmProfile { visits } } }";

/// acme (ada, owner) with two apps installed: analytics (users:read) and crm (users:read, and
/// the optional organizations:read granted).
async fn two_apps() -> TwoApps {
    let stack = TestStack::start().await;
    let developer = stack.sign_up("dev@apps.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let analytics = FakeApp::extending_user("analytics").await;
    let (analytics_id, _) = stack
        .publish_app(
            &developer,
            &admin,
            &manifest("analytics", &analytics.url(), &["users:read"]),
        )
        .await;
    let crm = FakeApp::extending_user("crm").await;
    let mut crm_manifest = manifest("crm", &crm.url(), &["users:read"]);
    crm_manifest["scopes"]["optional"] = json!(["organizations:read"]);
    let (crm_id, _) = stack.publish_app(&developer, &admin, &crm_manifest).await;
    let (ada, acme) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    let analytics_installation = stack.install(&ada, &analytics_id).await;
    let data = stack
        .data_as(
            &ada.access,
            "mutation($app: ID!) { installApp(appId: $app, scopes: [\"users:read\", \"organizations:read\"]) { id } }",
            json!({ "app": crm_id }),
        )
        .await;
    let crm_installation = data["installApp"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    stack
        .eventually(&ada.access, BOTH, Duration::from_secs(10), |b| {
            b["data"]["me"]["analyticsProfile"]["visits"] == 42
                && b["data"]["me"]["crmProfile"]["visits"] == 42
        })
        .await;
    TwoApps {
        stack,
        developer,
        admin,
        ada,
        acme,
        analytics,
        analytics_id,
        analytics_installation,
        crm,
        crm_id,
        crm_installation,
    }
}

#[tokio::test]
async fn a_user_reaches_an_installed_app_with_a_context_token_carrying_role_and_granted_scopes() {
    let world = two_apps().await;
    let call = world.crm.entity_calls().pop().expect("crm was called");
    let context = claims(call.authorization.as_deref());
    assert_eq!(context["typ"], "context", "{context}");
    assert_eq!(context["aud"], "crm");
    assert_eq!(context["sub"], world.ada.user_id.as_str());
    assert_eq!(context["org"], world.acme.as_str());
    assert_eq!(context["role"], "owner");
    assert_eq!(context["inst"], world.crm_installation.as_str());
    assert_eq!(
        context["scopes"],
        json!(["organizations:read", "users:read"])
    );
    // The client's own token never reaches the app.
    assert!(
        !call
            .authorization
            .unwrap_or_default()
            .contains(&world.ada.access),
        "the client's token reached the app"
    );
    world.stack.stop().await;
}

#[tokio::test]
async fn another_apps_installation_token_is_refused_at_the_gate() {
    let world = two_apps().await;
    let (stack, ada) = (&world.stack, &world.ada);
    let token = stack
        .installation_token(
            &world.developer,
            &world.analytics_id,
            &world.analytics_installation,
        )
        .await;
    let crm_calls = world.crm.entity_calls().len();
    let analytics_calls = world.analytics.entity_calls().len();
    let body = stack
        .gql_as(
            &token,
            "query($id: ID!) { user(id: $id) { email analyticsProfile { visits } crmProfile { visits } } }",
            json!({ "id": ada.user_id }),
        )
        .await;
    // The token reads the core within its scopes, and its own app; never another app.
    assert_eq!(body["data"]["user"]["email"], "ada@acme.test", "{body}");
    assert_eq!(
        body["data"]["user"]["analyticsProfile"]["visits"], 42,
        "{body}"
    );
    assert_eq!(body["data"]["user"]["crmProfile"], Value::Null, "{body}");
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["app"], "crm", "{body}");
    assert_eq!(world.crm.entity_calls().len(), crm_calls, "crm was called");
    assert_eq!(
        world.analytics.entity_calls().len(),
        analytics_calls + 1,
        "analytics was not called for its own token"
    );
    world.stack.stop().await;
}

#[tokio::test]
async fn an_api_key_gives_an_app_no_scope_the_key_does_not_hold() {
    let world = two_apps().await;
    let stack = &world.stack;
    let created = stack
        .data_as(
            &world.ada.access,
            "mutation($o: ID!) { createApiKey(input: {organizationId: $o, name: \"ci\", scopes: [\"organizations:read\"]}) { secret } }",
            json!({ "o": world.acme }),
        )
        .await;
    let secret = created["createApiKey"]["secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let before = world.crm.entity_calls().len();
    let body: Value = stack
        .client
        .post(stack.stack.graphql_url())
        .header("x-api-key", secret)
        .json(&json!({ "query": "{ organizations { edges { node { members { edges { node { user { id crmProfile { visits } } } } } } } } }" }))
        .send()
        .await
        .expect("router answers")
        .json()
        .await
        .expect("JSON");
    let member = &body["data"]["organizations"]["edges"][0]["node"]["members"]["edges"][0]["node"];
    assert_eq!(member["user"]["crmProfile"]["visits"], 42, "{body}");
    let calls = world.crm.entity_calls();
    assert_eq!(calls.len(), before + 1, "{body}");
    let context = claims(calls[before].authorization.as_deref());
    // crm was granted users:read and organizations:read; the key holds only the latter.
    assert_eq!(
        context["scopes"],
        json!(["organizations:read"]),
        "{context}"
    );
    assert_eq!(context["org"], world.acme.as_str());
    world.stack.stop().await;
}

/// `user(id:)` as `token`, which must work now and stop working within `WITHIN` of `revoke`.
async fn token_stops_working(world: &TwoApps, token: &str) {
    let query = "query($id: ID!) { user(id: $id) { email } }";
    let deadline = std::time::Instant::now() + WITHIN;
    loop {
        let (status, body) = world
            .stack
            .post_as(token, query, json!({ "id": world.ada.user_id }))
            .await;
        if status == 401 {
            assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
            assert!(
                first_error_message(&body).contains("get a new token"),
                "{body}"
            );
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the token still works after {WITHIN:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn token_works(world: &TwoApps, token: &str) {
    let body = world
        .stack
        .data_as(
            token,
            "query($id: ID!) { user(id: $id) { email } }",
            json!({ "id": world.ada.user_id }),
        )
        .await;
    assert_eq!(body["user"]["email"], "ada@acme.test", "{body}");
}

/// A crm installation token that works, then stops working within `WITHIN` of `change` (a
/// mutation about the crm app or installation, as `by`).
async fn crm_token_ended_by(world: &TwoApps, by: &Session, change: &str) {
    let token = world
        .stack
        .installation_token(&world.developer, &world.crm_id, &world.crm_installation)
        .await;
    token_works(world, &token).await;
    world
        .stack
        .data_as(
            &by.access,
            change,
            json!({ "app": world.crm_id, "installation": world.crm_installation }),
        )
        .await;
    token_stops_working(world, &token).await;
}

#[tokio::test]
async fn uninstalling_ends_the_apps_installation_tokens_within_seconds() {
    let world = two_apps().await;
    crm_token_ended_by(
        &world,
        &world.ada,
        "mutation($installation: ID!) { uninstallApp(installationId: $installation) { status } }",
    )
    .await;
    // And the app is no longer called for acme's users.
    let stack = &world.stack;
    stack
        .eventually(&world.ada.access, BOTH, WITHIN, |b| {
            error_codes(b) == ["APP_NOT_INSTALLED"]
        })
        .await;
    let after = world.crm.entity_calls().len();
    stack.post_as(&world.ada.access, BOTH, json!({})).await;
    assert_eq!(
        world.crm.entity_calls().len(),
        after,
        "called after uninstall"
    );
    world.stack.stop().await;
}

#[tokio::test]
async fn taking_a_scope_away_ends_tokens_that_carry_it() {
    let world = two_apps().await;
    crm_token_ended_by(
        &world,
        &world.ada,
        "mutation($installation: ID!) { updateInstallationScopes(installationId: $installation, scopes: [\"users:read\"]) { grantedScopes } }",
    )
    .await;
    // A new token carries the new grant and works.
    let token = world
        .stack
        .installation_token(&world.developer, &world.crm_id, &world.crm_installation)
        .await;
    token_works(&world, &token).await;
    world.stack.stop().await;
}

#[tokio::test]
async fn a_suspended_app_gets_no_token_and_its_tokens_stop_working() {
    let world = two_apps().await;
    crm_token_ended_by(
        &world,
        &world.admin,
        "mutation($app: ID!) { suspendApp(appId: $app) { status } }",
    )
    .await;
    let stack = &world.stack;
    // Its fields leave the graph, and acme's users' requests never reach it.
    let calls = world.crm.entity_calls().len();
    stack
        .eventually(&world.ada.access, BOTH, WITHIN, |b| {
            error_codes(b) == ["GRAPHQL_VALIDATION_FAILED"]
        })
        .await;
    assert_eq!(
        world.crm.entity_calls().len(),
        calls,
        "crm called after its suspension"
    );
    let (status, body) = stack
        .request_installation_token(&world.developer, &world.crm_id, &world.crm_installation)
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "unauthorized_client", "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
    world.stack.stop().await;
}

#[tokio::test]
async fn create_installation_is_install_app_with_the_same_checks() {
    let stack = TestStack::start().await;
    let developer = stack.sign_up("dev@apps.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let app = FakeApp::extending_user("ledger").await;
    let mut paid = manifest("ledger", &app.url(), &["users:read"]);
    paid["pricing"] = json!({ "model": "paid", "price_cents": 900, "currency": "EUR" });
    let (app_id, _) = stack.publish_app(&developer, &admin, &paid).await;
    let (ada, acme) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    let create = "mutation($app: ID!, $org: ID!, $scopes: [String!]) { \
        createInstallation(input: {appId: $app, organizationId: $org, scopes: $scopes}) { id grantedScopes } }";

    // Scopes the manifest never declared.
    let body = stack
        .gql_as(
            &ada.access,
            create,
            json!({ "app": app_id, "org": acme, "scopes": ["users:read", "licenses:read"] }),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert!(
        first_error_message(&body).contains("does not ask for licenses:read"),
        "{body}"
    );
    // A paid app without a license.
    let body = stack
        .gql_as(&ada.access, create, json!({ "app": app_id, "org": acme }))
        .await;
    assert_eq!(error_codes(&body), ["LICENSE_REQUIRED"], "{body}");
    // Another organization than the one the token acts in.
    let (_, other) = stack.owner_of("bob@bobco.test", "Bobco", "bobco").await;
    let body = stack
        .gql_as(&ada.access, create, json!({ "app": app_id, "org": other }))
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");

    // Nothing was installed: the app is never called for acme.
    let query = "{ me { email ledgerProfile { visits } } }";
    let body = stack.gql_as(&ada.access, query, json!({})).await;
    assert_eq!(body["data"]["me"]["email"], "ada@acme.test", "{body}");
    assert_eq!(error_codes(&body), ["APP_NOT_INSTALLED"], "{body}");
    assert_eq!(app.entity_calls().len(), 0);

    // With a license it installs, with the required scopes by default.
    stack
        .data_as(
            &admin.access,
            "mutation($app: ID!, $org: ID!) { issueLicense(input: {appId: $app, organizationId: $org, kind: PURCHASE}) { license { id } } }",
            json!({ "app": app_id, "org": acme }),
        )
        .await;
    let data = stack
        .data_as(&ada.access, create, json!({ "app": app_id, "org": acme }))
        .await;
    assert_eq!(
        data["createInstallation"]["grantedScopes"],
        json!(["users:read"])
    );
    stack
        .eventually(&ada.access, query, WITHIN, |b| {
            b["data"]["me"]["ledgerProfile"]["visits"] == 42
        })
        .await;
    stack.stop().await;
}

#[tokio::test]
async fn an_app_name_that_now_resolves_to_loopback_is_never_called() {
    // The registry reviewed the app while its name answered publicly (played here by a registry
    // that accepts loopback); the router's calls apply the address policy on every connection.
    let stack = TestStack::start_with_strict_router().await;
    let developer = stack.sign_up("dev@apps.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let app = FakeApp::extending_user("rebind").await;
    let url = format!("http://localhost:{}/graphql", app.addr.port());
    let (app_id, _) = stack
        .publish_app(
            &developer,
            &admin,
            &manifest("rebind", &url, &["users:read"]),
        )
        .await;
    let (ada, _) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    stack.install(&ada, &app_id).await;
    let query = "{ me { email rebindProfile { visits } } }";
    let body = stack
        .eventually(&ada.access, query, Duration::from_secs(10), |b| {
            error_codes(b) == ["SUBREQUEST_HTTP_ERROR"]
        })
        .await;
    assert_eq!(body["data"]["me"]["email"], "ada@acme.test", "{body}");
    assert_eq!(body["data"]["me"]["rebindProfile"], Value::Null, "{body}");
    let message = first_error_message(&body);
    assert!(message.contains("address policy"), "{body}");
    // What the name resolved to is not told to the caller.
    assert!(!message.contains("127.0.0.1"), "{body}");
    assert_eq!(app.entity_calls().len(), 0, "the app was called");
    stack.stop().await;
}

#[tokio::test]
async fn the_router_refuses_a_supergraph_nexus_never_composes() {
    let stack = TestStack::start().await;
    let head = nexus_apps::registry::live_set::head(&stack.stack.db)
        .await
        .ok()
        .flatten()
        .expect("a head supergraph");
    // The head with one more root field, resolved by identity (`join` arguments appended).
    let with_field = |field: &str, join: &str| {
        let query = head.sdl.find("\ntype Query ").expect("a Query type");
        let body = query + head.sdl[query..].find('{').expect("its fields");
        format!(
            "{}\n  {field}: String @join__field(graph: IDENTITY{join}){}",
            &head.sdl[..=body],
            &head.sdl[body + 1..]
        )
    };
    // An override of the core (which apollo-router alone would load), a connector link, then a
    // harmless change.
    let connector = with_field("linkedSecrets", "").replacen(
        "@link(url: \"https://specs.apollo.dev/link/v1.0\")",
        "@link(url: \"https://specs.apollo.dev/link/v1.0\") @link(url: \"https://specs.apollo.dev/connect/v0.1\", for: EXECUTION)",
        1,
    );
    assert!(connector.contains("connect/v0.1"), "the link was added");
    let publisher = stack.stack.router.publisher();
    let query = "{ __type(name: \"Query\") { fields { name } } }";
    let fields = || async { stack.data(query, json!({})).await["__type"]["fields"].to_string() };
    for refused in [
        with_field("overriddenSecrets", ", override: \"apps\""),
        connector,
    ] {
        publisher
            .unbounded_send(refused)
            .expect("the router takes supergraphs");
        // A reload takes well under a second; watch for three.
        let until = std::time::Instant::now() + Duration::from_secs(3);
        while std::time::Instant::now() < until {
            let served = fields().await;
            assert!(
                !served.contains("Secrets"),
                "a refused supergraph serves: {served}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // The router still reloads what Nexus composes.
    publisher
        .unbounded_send(with_field("harmless", ""))
        .expect("the router takes supergraphs");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !fields().await.contains("harmless") {
        assert!(std::time::Instant::now() < deadline, "never reloaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stack.stop().await;
}

/// Fails today's main: the gate told apps the role the caller's token was issued with (until it
/// expired, 15 minutes) instead of the role the caller has now.
#[tokio::test]
async fn apps_are_told_a_demotion_or_a_removal_within_seconds() {
    let world = two_apps().await;
    let (stack, ada, acme) = (&world.stack, &world.ada, &world.acme);
    const CRM: &str = "{ me { crmProfile { visits } } }";
    let role_told = || {
        world
            .crm
            .entity_calls()
            .last()
            .map(|call| claims(call.authorization.as_deref())["role"].clone())
            .unwrap_or(Value::Null)
    };
    let within = Duration::from_secs(5);
    // bob signs in with a password (the router asked identity about his membership already);
    // cara with a second factor (the gate asks identity itself).
    let bob = stack.sign_up("bob@acme.test", "Bob").await;
    let bob_membership = stack.add_member(ada, acme, "bob@acme.test", "ADMIN").await;
    let bob = stack.switch(&bob, acme).await;
    stack.sign_up("cara@acme.test", "Cara").await;
    let cara_membership = stack.add_member(ada, acme, "cara@acme.test", "ADMIN").await;
    let cara = stack.log_in("cara@acme.test").await;
    let (authenticator, _) = crate::two_factor::turn_on_two_factor(stack, &cara).await;
    let challenge = crate::two_factor::challenge(stack, "cara@acme.test").await;
    let verified = crate::two_factor::verify(stack, &challenge, &authenticator.code(1)).await;
    let cara = Session {
        access: verified["data"]["verifySecondFactor"]["accessToken"]
            .as_str()
            .expect("signed in with a second factor")
            .to_owned(),
        refresh: String::new(),
        user_id: cara.user_id.clone(),
        organization: None,
    };
    let cara = stack.switch(&cara, acme).await;
    assert_eq!(
        crate::two_factor::claims(&cara.access)["amr"],
        json!(["pwd", "otp", "mfa"])
    );

    for (who, session, membership) in [
        ("bob", &bob, &bob_membership),
        ("cara", &cara, &cara_membership),
    ] {
        stack.data_as(&session.access, CRM, json!({})).await;
        assert_eq!(role_told(), "admin", "{who}");
        let demoted = stack
            .data_as(
                &ada.access,
                "mutation($m: ID!) { changeMemberRole(input: {membershipId: $m, role: MEMBER}) { role } }",
                json!({ "m": membership }),
            )
            .await;
        assert_eq!(demoted["changeMemberRole"]["role"], "MEMBER", "{demoted}");
        // The token still says admin; the app is told what is true now.
        assert_eq!(crate::two_factor::claims(&session.access)["role"], "admin");
        stack
            .eventually(&session.access, CRM, within, |_| role_told() == "member")
            .await;

        stack
            .data_as(
                &ada.access,
                "mutation($m: ID!) { removeMember(membershipId: $m) }",
                json!({ "m": membership }),
            )
            .await;
        let refused = stack
            .eventually(&session.access, CRM, within, |body| {
                error_codes(body).contains(&"FORBIDDEN".to_owned())
            })
            .await;
        assert!(
            refused["data"]["me"]["crmProfile"].is_null(),
            "{who}: {refused}"
        );
        let calls = world.crm.entity_calls().len();
        stack.post_as(&session.access, CRM, json!({})).await;
        assert_eq!(
            world.crm.entity_calls().len(),
            calls,
            "{who}: a removed member's call reached the app"
        );
    }
    world.stack.stop().await;
}
