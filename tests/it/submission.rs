//! Checking app submissions against real HTTP servers on loopback: a compliant app composes; a type
//! clash, a namespace violation, an `@override`, a restricted directive, an oversize SDL, a slow,
//! a down and a non-subgraph server are each rejected with a precise error.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use nexus::core_subgraphs::CORE_SUBGRAPHS;
use nexus_registry::SubgraphSdl;
use nexus_registry::policy::Limits;
use nexus_registry::sdl_fetch::FetchPolicy;
use nexus_registry::submission::{Rejected, SubmissionContext, check};
use serde_json::{Value, json};

const LINK: &str = r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@override", "@authenticated"])"#;

/// A loopback server answering every POST with `body` after `delay`.
async fn app_server(body: Value, delay: Duration) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new().route(
        "/graphql",
        post(move || {
            let body = body.clone();
            async move {
                tokio::time::sleep(delay).await;
                axum::Json(body)
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn serving_sdl(sdl: &str) -> SocketAddr {
    app_server(
        json!({ "data": { "_service": { "sdl": format!("{LINK}\n{sdl}") } } }),
        Duration::ZERO,
    )
    .await
}

fn manifest(url: &str) -> Value {
    json!({
        "namespace": "analytics",
        "name": "Analytics",
        "version": "1.0.0",
        "category": "insights",
        "author": { "name": "Ada", "email": "ada@example.com" },
        "pricing": { "model": "free" },
        "graphql": { "subgraph_url": url },
        "scopes": { "required": ["users:read"] }
    })
}

fn core() -> Vec<SubgraphSdl> {
    CORE_SUBGRAPHS
        .iter()
        .map(|c| SubgraphSdl {
            name: c.name.to_owned(),
            routing_url: format!("http://127.0.0.1:{}/graphql", c.default_port),
            sdl: (c.sdl)(),
        })
        .collect()
}

async fn submit(url: &str) -> Result<String, Rejected> {
    let core = core();
    let policy = FetchPolicy {
        timeout: Duration::from_secs(1),
        max_bytes: 64 * 1024,
        allow_private: true,
    };
    let context = SubmissionContext {
        core: &core,
        published: &[],
        scope_catalog: &["users:read", "organizations:read"],
        fetch: &policy,
        limits: &Limits::default(),
        composer: &Default::default(),
    };
    check(&manifest(url), &context)
        .await
        .map(|accepted| accepted.supergraph)
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/graphql")
}

/// The errors as (code, type, field).
fn errors(rejected: &Rejected) -> Vec<(String, Option<String>, Option<String>)> {
    rejected
        .errors
        .iter()
        .map(|e| (e.code.clone(), e.type_name.clone(), e.field.clone()))
        .collect()
}

#[tokio::test]
async fn a_compliant_app_composes_with_the_core() {
    let addr = serving_sdl(
        "type Query { analyticsTopUsers: [User!]! }\n\
         type User @key(fields: \"id\") { id: ID! analyticsProfile: AnalyticsProfile }\n\
         type AnalyticsProfile { visits: Int! }",
    )
    .await;
    let supergraph = submit(&url(addr)).await.expect("accepted");
    assert!(
        supergraph.contains("analyticsProfile: AnalyticsProfile"),
        "{supergraph}"
    );
    // Served from the app plane, and routed there to the app by name.
    assert!(
        supergraph.contains("NEXUS_APPS @join__graph(name: \"nexus_apps\""),
        "{supergraph}"
    );
    assert!(
        supergraph.contains("@routing__app(name: \"analytics\""),
        "the app is in the plane's routing table: {supergraph}"
    );
}

#[tokio::test]
async fn a_type_clash_with_a_core_field_names_type_and_field() {
    let addr =
        serving_sdl("type User @key(fields: \"id\") { id: String! analyticsScore: Int }").await;
    let rejected = submit(&url(addr)).await.expect_err("rejected");
    let first = &rejected.errors[0];
    assert_eq!(first.type_name.as_deref(), Some("User"), "{rejected:?}");
    assert_eq!(first.field.as_deref(), Some("id"), "{rejected:?}");
    assert_eq!(first.subgraph.as_deref(), Some("analytics"));
    assert!(first.message.contains("incompatible"), "{}", first.message);
}

#[tokio::test]
async fn policy_violations_are_all_listed() {
    let addr = serving_sdl(
        "type Query { topUsers: [User!]! }\n\
         type User @key(fields: \"id\") { id: ID! email: String @override(from: \"identity\") }\n\
         type Profile { visits: Int! @authenticated }",
    )
    .await;
    let rejected = submit(&url(addr)).await.expect_err("rejected");
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        errors(&rejected),
        [
            ("FIELD_NOT_NAMESPACED".to_owned(), s("Query"), s("topUsers")),
            ("RESTRICTED_DIRECTIVE".to_owned(), s("User"), s("email")),
            ("CORE_FIELD_REDEFINED".to_owned(), s("User"), s("email")),
            ("TYPE_NOT_NAMESPACED".to_owned(), s("Profile"), None),
            ("RESTRICTED_DIRECTIVE".to_owned(), s("Profile"), s("visits")),
        ]
    );
}

#[tokio::test]
async fn an_app_that_would_cost_everyone_is_refused_at_submission() {
    let arguments: String = (0..21).map(|i| format!("a{i}: Int ")).collect();
    let wide = serving_sdl(&format!(
        "type Query {{ analyticsWide({arguments}): Int analyticsGrid: [[[[Int]]]] }}"
    ))
    .await;
    let rejected = submit(&url(wide)).await.expect_err("rejected");
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        errors(&rejected),
        [
            (
                "TOO_MANY_ARGUMENTS".to_owned(),
                s("Query"),
                s("analyticsWide")
            ),
            ("TYPE_TOO_DEEP".to_owned(), s("Query"), s("analyticsGrid")),
        ]
    );
    assert_eq!(rejected.errors[0].subgraph.as_deref(), Some("analytics"));
    // Every type within its own limit, too many fields in all.
    let types: String = (0..25)
        .map(|t| {
            let fields: String = (0..90).map(|f| format!("f{f}: Int ")).collect();
            format!("type AnalyticsT{t} {{ {fields} }}\n")
        })
        .collect();
    let many = serving_sdl(&format!(
        "type Query {{ analyticsT: AnalyticsT0 }}\n{types}"
    ))
    .await;
    let rejected = submit(&url(many)).await.expect_err("rejected");
    assert_eq!(
        errors(&rejected),
        [("TOO_MANY_FIELDS_IN_ALL".to_owned(), None, None)]
    );
    assert_eq!(
        rejected.errors[0].message,
        "the app defines 2251 fields, input fields and enum values in all; the limit is 2000"
    );
}

#[tokio::test]
async fn unreachable_slow_oversize_and_non_subgraph_servers_are_rejected() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let slow = app_server(
        json!({ "data": { "_service": { "sdl": "type Query { a: Int }" } } }),
        Duration::from_secs(5),
    )
    .await;
    let huge = app_server(
        json!({ "data": { "_service": { "sdl": "#".repeat(100 * 1024) } } }),
        Duration::ZERO,
    )
    .await;
    let other = app_server(json!({ "data": null }), Duration::ZERO).await;
    for (addr, code) in [
        (closed, "SUBGRAPH_UNREACHABLE"),
        (slow, "SUBGRAPH_UNREACHABLE"),
        (huge, "SDL_TOO_LARGE"),
        (other, "NOT_A_SUBGRAPH"),
    ] {
        let rejected = submit(&url(addr)).await.expect_err("rejected");
        assert_eq!(rejected.errors.len(), 1, "{rejected:?}");
        assert_eq!(rejected.errors[0].code, code, "{rejected:?}");
        assert_eq!(
            rejected.errors[0].path.as_deref(),
            Some("/graphql/subgraph_url")
        );
    }
}

#[tokio::test]
async fn a_bad_manifest_lists_every_problem_with_its_path() {
    let mut document = manifest("not a url");
    document["version"] = json!("1.0");
    document["scopes"]["required"] = json!(["root"]);
    let core = core();
    let context = SubmissionContext {
        core: &core,
        published: &[],
        scope_catalog: &["users:read"],
        fetch: &FetchPolicy::allow_loopback(),
        limits: &Limits::default(),
        composer: &Default::default(),
    };
    let rejected = check(&document, &context).await.expect_err("rejected");
    let paths: Vec<(&str, Option<&str>)> = rejected
        .errors
        .iter()
        .map(|e| (e.code.as_str(), e.path.as_deref()))
        .collect();
    assert_eq!(
        paths,
        [
            ("MANIFEST_VERSION", Some("/version")),
            ("MANIFEST_URL", Some("/graphql/subgraph_url")),
            ("MANIFEST_SCOPE", Some("/scopes/required/0")),
        ]
    );
}

/// Fails today's main: outside development a plain-http webhook endpoint was accepted, and a
/// refusal named the private address the app's host resolved to.
#[tokio::test]
async fn outside_development_webhooks_need_https_and_refusals_never_name_the_address() {
    let core = core();
    let policy = FetchPolicy {
        timeout: Duration::from_secs(1),
        max_bytes: 64 * 1024,
        allow_private: false,
    };
    let context = SubmissionContext {
        core: &core,
        published: &[],
        scope_catalog: &["users:read", "organizations:read"],
        fetch: &policy,
        limits: &Limits::default(),
        composer: &Default::default(),
    };
    let app = serving_sdl("type Query { analyticsTop: Int }").await;
    let mut document = manifest(&format!("http://localhost:{}/graphql", app.port()));
    document["webhooks"] =
        json!({ "endpoint": "http://hooks.example.com/nexus", "events": ["app.installed"] });
    let Err(rejected) = check(&document, &context).await else {
        panic!("accepted a plain-http webhook endpoint");
    };
    let endpoint = rejected
        .errors
        .iter()
        .find(|e| e.path.as_deref() == Some("/webhooks/endpoint"))
        .unwrap_or_else(|| panic!("{:?}", rejected.errors));
    assert_eq!(endpoint.code, "MANIFEST_URL");
    assert!(endpoint.message.contains("https"), "{}", endpoint.message);

    document["webhooks"]["endpoint"] = json!("https://hooks.example.com/nexus");
    let Err(rejected) = check(&document, &context).await else {
        panic!("accepted a subgraph on loopback");
    };
    let refused = &rejected.errors[0];
    assert_eq!(
        refused.path.as_deref(),
        Some("/graphql/subgraph_url"),
        "{refused:?}"
    );
    assert!(refused.message.contains("localhost"), "{}", refused.message);
    for address in ["127.0.0.1", "::1"] {
        assert!(!refused.message.contains(address), "{}", refused.message);
    }
}
