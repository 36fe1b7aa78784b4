//! The app plane in apollo-router's own test harness, over the supergraph the registry serves
//! (core and one plane) with two apps on loopback that record what they are asked and answer
//! canned data — including data they were never asked for, which must not reach the caller.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apollo_router::services::{router, supergraph};
use nexus_protocol::internal::installation::{InstallationView, LookupAnswer, PATH as LOOKUP_PATH};
use nexus_protocol::token::{KeyStore, TokenType, new_claims};
use nexus_registry::{Composer, SubgraphSdl};

use crate::test_harness::{self, core_subgraphs, serve};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

const ORG: Uuid = Uuid::from_u128(1);

const ALPHA: &str = r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
type Query { alphaItems(tag: String): [AlphaItem!]! }
type AlphaItem { title: String! owner: User }
type User @key(fields: "id") { id: ID! alphaScore: Int }"#;

const BETA: &str = r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
type Query { betaHello(name: String): String }
type User @key(fields: "id") { id: ID! betaBadge: String }"#;

/// What an app was sent: the operation and its variables.
type Calls = Arc<Mutex<Vec<(String, Value)>>>;

struct World {
    keys: Arc<KeyStore>,
    _dir: tempfile::TempDir,
    service: router::BoxCloneService,
    alpha: Calls,
    beta: Calls,
}

/// An app answering `root` to root fetches and `entities` to `_entities`, recording each call.
async fn app(root: Value, entities: Value) -> (SocketAddr, Calls) {
    let calls: Calls = Arc::default();
    let recorded = calls.clone();
    let router = axum::Router::new().route(
        "/graphql",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let recorded = recorded.clone();
            let (root, entities) = (root.clone(), entities.clone());
            async move {
                let query = body["query"].as_str().unwrap_or_default().to_owned();
                let answer = if query.contains("_entities") {
                    entities
                } else {
                    root
                };
                recorded
                    .lock()
                    .expect("lock")
                    .push((query, body["variables"].clone()));
                axum::Json(answer)
            }
        }),
    );
    (serve(router).await, calls)
}

/// `uninstalled` apps are not installed in `ORG`; the others are, live.
async fn world(uninstalled: &'static [&'static str]) -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys_file = dir.path().join("keys.json");
    let keys = KeyStore::open_or_create(&keys_file, "http://nexus.test").expect("keys");
    let lookup = axum::Router::new().route(
        LOOKUP_PATH,
        axum::routing::get(
            move |axum::extract::Query(query): axum::extract::Query<
                std::collections::HashMap<String, String>,
            >| async move {
                let namespace = query.get("namespace").cloned().unwrap_or_default();
                let installed = !uninstalled.contains(&namespace.as_str());
                axum::Json(LookupAnswer {
                    installation: installed.then(|| InstallationView {
                        id: Uuid::from_u128(3),
                        app_id: Uuid::from_u128(4),
                        namespace,
                        organization_id: ORG,
                        live: true,
                        scopes: vec![],
                    }),
                })
            },
        ),
    );
    let apps_service = serve(lookup).await;
    // Identity knows only `me`.
    let identity = serve(axum::Router::new().route(
        "/graphql",
        axum::routing::post(|| async {
            axum::Json(json!({ "data": { "me": { "__typename": "User", "id": "u1" } } }))
        }),
    ))
    .await;
    let (alpha_addr, alpha) = app(
        json!({ "data": {
            "alphaItems": [
                { "title": "one", "owner": {
                    "__nexus_plane_id": "u2", "__nexus_plane_type": "User",
                    "betaBadge": "forged by alpha" } },
                { "title": "two", "owner": null }
            ],
            "betaHello": "forged by alpha"
        } }),
        json!({ "data": { "_entities": [ { "alphaScore": 7, "betaBadge": "forged by alpha" } ] } }),
    )
    .await;
    let (beta_addr, beta) = app(
        json!({ "data": { "betaHello": "hi" } }),
        json!({ "data": { "_entities": [ { "betaBadge": "gold" } ] } }),
    )
    .await;
    let core = core_subgraphs(Some(format!("http://{identity}/graphql")));
    let apps =
        [("alpha", alpha_addr, ALPHA), ("beta", beta_addr, BETA)].map(|(name, addr, sdl)| {
            SubgraphSdl {
                name: name.into(),
                routing_url: format!("http://{addr}/graphql"),
                sdl: sdl.into(),
            }
        });
    let supergraph = Composer::new().compose(&core, &apps).expect("composes");
    let service = test_harness::router(supergraph, &keys_file, apps_service).await;
    World {
        keys,
        _dir: dir,
        service,
        alpha,
        beta,
    }
}

impl World {
    async fn call(&self, query: &str, variables: Value) -> Value {
        let claims = {
            let mut c = new_claims(
                self.keys.issuer(),
                Uuid::from_u128(9).to_string(),
                TokenType::ApiKey,
                Duration::from_secs(60),
            );
            c.org = Some(ORG.to_string());
            c
        };
        let token = self.keys.sign(&claims).expect("signs");
        let mut request = supergraph::Request::fake_builder()
            .query(query)
            .header("authorization", format!("Bearer {token}"));
        if let Value::Object(variables) = variables {
            for (name, value) in variables {
                request = request.variable(name, value);
            }
        }
        let request =
            router::Request::try_from(request.build().expect("request")).expect("router request");
        let mut response = self
            .service
            .clone()
            .oneshot(request)
            .await
            .expect("response");
        let body = response
            .next_response()
            .await
            .and_then(Result::ok)
            .unwrap_or_default();
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    }
}

fn calls(calls: &Calls) -> Vec<(String, Value)> {
    calls.lock().expect("lock").clone()
}

#[tokio::test]
async fn each_app_is_asked_only_its_own_fields_and_variables_and_cannot_forge_anothers() {
    let world = world(&[]).await;
    let body = world
        .call(
            "query($t: String, $n: String) { alphaItems(tag: $t) { title owner { betaBadge } } betaHello(name: $n) }",
            json!({ "t": "red", "n": "a secret for beta" }),
        )
        .await;
    assert_eq!(
        body,
        json!({ "data": {
            "alphaItems": [
                { "title": "one", "owner": { "betaBadge": "gold" } },
                { "title": "two", "owner": null }
            ],
            "betaHello": "hi"
        } })
    );
    let alpha = calls(&world.alpha);
    assert_eq!(alpha.len(), 1, "{alpha:?}");
    assert!(
        !alpha[0].0.contains("beta"),
        "alpha saw beta's fields: {}",
        alpha[0].0
    );
    assert_eq!(
        alpha[0].1,
        json!({ "t": "red" }),
        "alpha is sent only its variables"
    );
    let beta = calls(&world.beta);
    assert_eq!(beta.len(), 2, "a root call and the owner by id: {beta:?}");
    let (root, entities): (Vec<_>, Vec<_>) =
        beta.iter().partition(|(q, _)| !q.contains("_entities"));
    assert!(!root[0].0.contains("alpha"), "{}", root[0].0);
    assert_eq!(root[0].1, json!({ "n": "a secret for beta" }));
    // Only the owner alpha named, and only with its key.
    assert_eq!(
        entities[0].1,
        json!({ "representations": [ { "__typename": "User", "id": "u2" } ] })
    );
}

#[tokio::test]
async fn entity_fields_of_two_apps_are_asked_of_each() {
    let world = world(&[]).await;
    let body = world
        .call("{ me { id alphaScore betaBadge } }", json!({}))
        .await;
    assert_eq!(
        body,
        json!({ "data": { "me": { "id": "u1", "alphaScore": 7, "betaBadge": "gold" } } })
    );
    for (app, calls) in [("alpha", calls(&world.alpha)), ("beta", calls(&world.beta))] {
        assert_eq!(calls.len(), 1, "{app}: {calls:?}");
        assert_eq!(
            calls[0].1,
            json!({ "representations": [ { "__typename": "User", "id": "u1" } ] }),
            "{app}"
        );
    }
}

#[tokio::test]
async fn an_app_not_installed_costs_only_its_own_fields() {
    let world = world(&["alpha"]).await;
    let body = world
        .call("{ me { alphaScore betaBadge } }", json!({}))
        .await;
    assert_eq!(
        body["data"],
        json!({ "me": { "alphaScore": null, "betaBadge": "gold" } }),
        "{body}"
    );
    let codes: Vec<&str> = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["extensions"]["code"].as_str())
        .collect();
    assert_eq!(codes, ["APP_NOT_INSTALLED"], "{body}");
    assert!(
        calls(&world.alpha).is_empty(),
        "the gate let a call through"
    );
}
