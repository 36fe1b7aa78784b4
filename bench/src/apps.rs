//! The `apps` suite: what an app's field costs a caller through the app plane. The example
//! analytics app (examples/apps/analytics, verifying every context token) runs on loopback,
//! submitted, approved and installed through the graph as a developer, a reviewer and an
//! organization's owner would; then, side by side: the app asked directly (with a context token
//! minted as the router mints them), the router answering alone (`{ __typename }`), a core field,
//! one app field, and core plus two app fetches in one operation.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nexus::stack::Stack;
use nexus_kit::token::{TokenType, new_claims};
use serde_json::{Value, json};

use crate::Scenario;

const MANIFEST: &str = include_str!("../../examples/apps/analytics/manifest.json");

pub async fn scenarios(stack: &Stack, admin_token: &str) -> anyhow::Result<Vec<Scenario>> {
    let db = &stack.db;
    let failed = |e: async_graphql::Error| anyhow::anyhow!("{}", e.message);
    let graph = stack.graphql_url();
    let base = graph.trim_end_matches("/graphql").to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    let app = nexus_example_analytics::router(nexus_example_analytics::Config {
        jwks_url: format!("{base}/.well-known/jwks.json"),
        issuer: stack.keys.issuer().to_owned(),
        sign_in: None,
    });
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The seed's developer owns the `analytics` app: submit its example version.
    let developer = nexus_identity::users::find_user_by_email(db, "dev@apps.test")
        .await
        .map_err(failed)?
        .context("the seed's developer")?;
    let developer_token = token(stack, developer.id, None)?;
    let mut manifest: Value = serde_json::from_str(MANIFEST)?;
    manifest["graphql"]["subgraph_url"] = json!(format!("http://{addr}/graphql"));
    manifest["webhooks"]["endpoint"] = json!(format!("http://{addr}/webhooks"));
    let submitted = call(
        &graph,
        &developer_token,
        "mutation($m: JSON!) { submitAppVersion(manifest: $m) { appVersion { id status app { id } } errors { code message } } }",
        json!({ "m": manifest }),
    )
    .await?;
    let version = &submitted["submitAppVersion"]["appVersion"];
    if version["status"] != "IN_REVIEW" {
        bail!("the example app was refused: {submitted}");
    }
    let app_id = version["app"]["id"].as_str().unwrap_or_default().to_owned();
    call(
        &graph,
        admin_token,
        "mutation($id: ID!) { approveAppVersion(id: $id) { appVersion { status } } }",
        json!({ "id": version["id"] }),
    )
    .await?;

    // An organization of its own, whose owner installs it.
    let owner =
        nexus_identity::users::create_user(db, "owner@apps-bench.test", "Owner", None, None)
            .await
            .map_err(failed)?;
    let org = nexus_identity::organizations::create_organization(db, "Bench", "apps-bench")
        .await
        .map_err(failed)?;
    nexus_identity::memberships::add_membership(
        db,
        org.id,
        owner.id,
        nexus_identity::entity::membership::Role::Owner,
    )
    .await
    .map_err(failed)?;
    let owner_token = token(stack, owner.id, Some(org.id))?;
    let installed = call(
        &graph,
        &owner_token,
        "mutation($app: ID!) { installApp(appId: $app, scopes: [\"users:read\", \"organizations:read\"]) { id } }",
        json!({ "app": app_id }),
    )
    .await?;
    let installation = installed["installApp"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Served once the router has loaded the approved head.
    let one_app = "{ me { analyticsProfile { visits } } }";
    let deadline = Instant::now() + Duration::from_secs(60);
    while call(&graph, &owner_token, one_app, json!({}))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!("the router never served the example app");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The app asked directly, as the plane asks it for one user.
    let mut context = new_claims(
        stack.keys.issuer(),
        owner.id.to_string(),
        TokenType::Context,
        Duration::from_secs(3600),
    );
    context.aud = "analytics".into();
    context.org = Some(org.id.to_string());
    context.role = Some("owner".into());
    context.inst = Some(installation);
    context.scopes = vec!["users:read".into(), "organizations:read".into()];
    let context_token = stack.keys.sign(&context)?;
    let direct = format!(
        "{{ _entities(representations: [{{ __typename: \"User\", id: \"{}\" }}]) {{ ... on User {{ analyticsProfile {{ visits }} }} }} }}",
        owner.id
    );
    let scenario = |name: &'static str, url: &str, query: &str, token: &str| Scenario {
        name,
        url: url.to_owned(),
        query: query.to_owned(),
        token: token.to_owned(),
        clients: Vec::new(),
    };
    let app_url = format!("http://{addr}/graphql");
    Ok(vec![
        scenario("analytics app, direct", &app_url, &direct, &context_token),
        scenario(
            "`{ __typename }` via router",
            &graph,
            "{ __typename }",
            &owner_token,
        ),
        scenario(
            "`{ me { email } }` via router (core)",
            &graph,
            "{ me { email } }",
            &owner_token,
        ),
        scenario(
            "one app field via router (app plane)",
            &graph,
            one_app,
            &owner_token,
        ),
        scenario(
            "core + two app fetches via router",
            &graph,
            "{ me { email analyticsProfile { visits } } organization(slug: \"apps-bench\") { name analyticsDashboard { activeUsers } } }",
            &owner_token,
        ),
    ])
}

/// An access token of `user`, acting in `organization` as its owner when given.
fn token(
    stack: &Stack,
    user: uuid::Uuid,
    organization: Option<uuid::Uuid>,
) -> anyhow::Result<String> {
    let mut claims = new_claims(
        stack.keys.issuer(),
        user.to_string(),
        TokenType::Access,
        Duration::from_secs(3600),
    );
    if let Some(org) = organization {
        claims.org = Some(org.to_string());
        claims.role = Some("owner".into());
    }
    stack.keys.sign(&claims)
}

async fn call(graph: &str, token: &str, query: &str, variables: Value) -> anyhow::Result<Value> {
    let answer: Value = reqwest::Client::new()
        .post(graph)
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await?
        .json()
        .await?;
    if answer.get("errors").is_some() || answer["data"].is_null() {
        bail!("{answer}");
    }
    Ok(answer["data"].clone())
}
