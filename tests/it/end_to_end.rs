//! The whole stack through the router: one query across all three core subgraphs, and the ways a
//! request goes wrong.

use crate::common::{Session, TestStack, error_codes, first_error_message};
use serde_json::{Value, json};

const CROSS_SUBGRAPH_QUERY: &str = r#"
query Org($slug: String!) {
  organization(slug: $slug) {
    name
    members(first: 10) { edges { node { role user { email name } } } }
    installations(first: 10) {
      edges { node { status app { name namespace } license { status kind expiresAt } } }
    }
  }
}"#;

struct Acme {
    /// Ada, owner, acting in acme.
    ada: Session,
    /// A platform admin.
    admin: Session,
    org_id: String,
    app_id: String,
}

/// acme: ada (owner) and grace (admin); the analytics app installed with a free license.
async fn seed_acme(stack: &TestStack) -> Acme {
    let ada = stack.sign_up("Ada@Acme.TEST", "Ada").await;
    stack.sign_up("grace@acme.test", "Grace").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let org_id = stack.create_organization(&ada, "Acme Corp", "acme").await;
    let ada = stack.switch(&ada, &org_id).await;
    let membership = stack
        .add_member(&ada, &org_id, "grace@acme.test", "ADMIN")
        .await;
    let member = stack
        .data_as(
            &ada.access,
            "query($o: ID!) { organization(id: $o) { members { edges { node { id role user { email } } } } } }",
            json!({ "o": org_id }),
        )
        .await;
    let grace = member["organization"]["members"]["edges"]
        .as_array()
        .and_then(|all| all.iter().find(|m| m["node"]["id"] == membership.as_str()))
        .map(|m| m["node"].clone())
        .unwrap_or_default();
    assert_eq!(grace["role"], "ADMIN", "{member}");
    assert_eq!(grace["user"]["email"], "grace@acme.test", "{member}");
    let (_analytics, app_id) = stack.publish_analytics(&admin, &admin).await;
    stack
        .data_as(
            &ada.access,
            "mutation($input: CreateInstallationInput!) { createInstallation(input: $input) { id } }",
            json!({ "input": { "appId": app_id, "organizationId": org_id, "scopes": ["users:read"] } }),
        )
        .await;
    stack
        .data_as(
            &admin.access,
            "mutation($input: IssueLicenseInput!) { issueLicense(input: $input) { license { id } } }",
            json!({ "input": { "appId": app_id, "organizationId": org_id, "kind": "FREE" } }),
        )
        .await;
    Acme {
        ada,
        admin,
        org_id,
        app_id,
    }
}

#[tokio::test]
async fn one_query_crosses_all_three_subgraphs() {
    let stack = TestStack::start().await;
    let acme = seed_acme(&stack).await;
    let data = stack
        .data_as(
            &acme.ada.access,
            CROSS_SUBGRAPH_QUERY,
            json!({ "slug": "acme" }),
        )
        .await;
    assert_eq!(
        data,
        json!({ "organization": {
            "name": "Acme Corp",
            "members": { "edges": [
                { "node": { "role": "OWNER", "user": { "email": "ada@acme.test", "name": "Ada" } } },
                { "node": { "role": "ADMIN", "user": { "email": "grace@acme.test", "name": "Grace" } } },
            ] },
            "installations": { "edges": [
                { "node": { "status": "ACTIVE",
                            "app": { "name": "Analytics", "namespace": "analytics" },
                            "license": { "status": "ACTIVE", "kind": "FREE", "expiresAt": null } } },
            ] },
        } }),
        "backend {}",
        stack.db.backend()
    );
    stack.stop().await;
}

#[tokio::test]
async fn unknown_ids_are_null_not_errors() {
    let stack = TestStack::start().await;
    let acme = seed_acme(&stack).await;
    let missing = "01900000-0000-7000-8000-000000000000";
    let data = stack
        .data_as(
            &acme.ada.access,
            "query($id: ID!) { user(id: $id) { id } organization(id: $id) { id } \
             app(id: $id) { id } installation(id: $id) { id } license(id: $id) { id } }",
            json!({ "id": missing }),
        )
        .await;
    assert_eq!(
        data,
        json!({ "user": null, "organization": null, "app": null, "installation": null, "license": null })
    );
    let data = stack
        .data_as(
            &acme.ada.access,
            "{ organization(slug: \"nobody\") { id } app(namespace: \"nothing\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(data, json!({ "organization": null, "app": null }));
    stack.stop().await;
}

#[tokio::test]
async fn duplicates_are_conflicts_naming_the_value() {
    let stack = TestStack::start().await;
    let acme = seed_acme(&stack).await;
    let ada = &acme.ada.access;

    let body = stack
        .gql_as(
            ada,
            "mutation { createOrganization(input: {name: \"Other\", slug: \"acme\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"]);
    assert_eq!(
        first_error_message(&body),
        "an organization with slug `acme` already exists"
    );

    let body = stack
        .gql(
            "mutation { signUp(input: {email: \"ADA@acme.test\", password: \"another pass 12\", \
             name: \"Other Ada\"}) { accessToken } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"]);
    assert_eq!(
        first_error_message(&body),
        "a user with email `ada@acme.test` already exists"
    );

    let body = stack
        .gql_as(
            &acme.admin.access,
            "mutation { createApp(input: {namespace: \"analytics\", name: \"Copy\", category: \"insights\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"]);
    assert_eq!(
        first_error_message(&body),
        "an app with namespace `analytics` already exists"
    );

    let body = stack
        .gql_as(
            ada,
            "mutation($app: ID!, $org: ID!) { createInstallation(input: {appId: $app, organizationId: $org}) { id } }",
            json!({ "app": acme.app_id, "org": acme.org_id }),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"]);
    assert!(first_error_message(&body).starts_with("app `analytics` is already installed"));

    // Nothing was half-written: still exactly one organization, one app, one installation.
    let data = stack
        .data_as(
            &acme.admin.access,
            "{ organizations(first: 100) { edges { node { slug installations { edges { node { id } } } } } } \
               apps { edges { node { namespace } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["organizations"]["edges"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        data["organizations"]["edges"][0]["node"]["installations"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(data["apps"]["edges"].as_array().map(Vec::len), Some(1));
    stack.stop().await;
}

#[tokio::test]
async fn malformed_input_is_bad_user_input() {
    let stack = TestStack::start().await;
    let acme = seed_acme(&stack).await;
    let ada = &acme.ada.access;
    for query in [
        "{ user(id: \"not-a-uuid\") { id } }",
        "{ organization(id: \"42\") { id } }",
        "{ installation(id: \"x\") { id } }",
        "{ license(id: \"x\") { id } }",
        "{ organizations(first: 101) { edges { cursor } } }",
        "{ organizations(after: \"bogus\") { edges { cursor } } }",
        "{ organization { id } }",
        "mutation { createOrganization(input: {name: \"Bad\", slug: \"Not A Slug\"}) { id } }",
        "mutation { signUp(input: {email: \"no-at-sign\", password: \"long enough 1\", name: \"X\"}) { accessToken } }",
        "mutation { createApp(input: {namespace: \"user\", name: \"X\", category: \"x\"}) { id } }",
    ] {
        let body = stack.gql_as(ada, query, json!({})).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{query} -> {body}");
    }
    let body = stack
        .gql_as(ada, "{ user(id: \"not-a-uuid\") { id } }", json!({}))
        .await;
    assert_eq!(
        first_error_message(&body),
        "`not-a-uuid` is not a valid user id: ids are UUIDs"
    );
    stack.stop().await;
}

#[tokio::test]
async fn pagination_walks_every_row_once() {
    let stack = TestStack::start().await;
    let ada = stack.sign_up("ada@acme.test", "Ada").await;
    for i in 0..7 {
        stack
            .data_as(
                &ada.access,
                "mutation($slug: String!) { createOrganization(input: {name: \"Org\", slug: $slug}) { id } }",
                json!({ "slug": format!("org-{i}") }),
            )
            .await;
    }
    let mut after: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let data = stack
            .data_as(
                &ada.access,
                "query($after: String) { organizations(first: 3, after: $after) { \
                   edges { cursor node { slug } } pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after }),
            )
            .await;
        let page = &data["organizations"];
        for edge in page["edges"].as_array().into_iter().flatten() {
            seen.push(edge["node"]["slug"].as_str().unwrap_or_default().to_owned());
        }
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let expected: Vec<String> = (0..7).map(|i| format!("org-{i}")).collect();
    assert_eq!(seen, expected, "creation order, no gaps, no repeats");
    stack.stop().await;
}

#[tokio::test]
async fn a_subgraph_down_costs_only_its_fields() {
    let mut stack = TestStack::start().await;
    let acme = seed_acme(&stack).await;
    stack
        .stack
        .stop_subgraph("licensing")
        .await
        .expect("licensing stops");

    let (status, body) = stack
        .post_as(
            &acme.ada.access,
            CROSS_SUBGRAPH_QUERY,
            json!({ "slug": "acme" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let org = &body["data"]["organization"];
    assert_eq!(org["name"], "Acme Corp");
    assert_eq!(
        org["members"]["edges"][0]["node"]["user"]["email"],
        "ada@acme.test"
    );
    let installation = &org["installations"]["edges"][0]["node"];
    assert_eq!(installation["app"]["namespace"], "analytics");
    assert_eq!(installation["license"], Value::Null);
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    assert!(
        !errors.is_empty(),
        "an error reports the missing part: {body}"
    );
    assert!(
        errors
            .iter()
            .all(|e| e["extensions"]["service"] == "licensing"),
        "the error names the licensing subgraph: {body}"
    );
    stack.stop().await;
}
